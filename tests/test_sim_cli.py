"""`scalp-radar sim`: arguments, one-line errors, a real run stopped by SIGTERM; the thread variant."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import urllib.request

import pytest

from scalp_radar.app.cli import build_parser, main
from scalp_radar.sim import SimExchange, SimLimits


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["sim", *argv])


def _main(*argv: str) -> int:
    """`scalp-radar ARGV` in process: its exit code, whether returned or argparse's SystemExit."""
    try:
        return main(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)


def test_defaults() -> None:
    args = parse()
    assert (args.port, args.host, args.seed, args.speed) == (8765, "127.0.0.1", 42, 1.0)
    assert args.symbols is None and args.faults is None and args.no_limits is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "0.0.0.0"], "--host: only a loopback address"),
        (["--speed", "0"], "--speed: expected simulated seconds per real second in [0.01, 3600]"),
        (["--speed", "1e300"], "--speed: expected simulated seconds per real second"),
        (["--speed", "inf"], "--speed: expected simulated seconds per real second"),
        (["--port", "70000"], "--port: expected a TCP port 0..65535"),
        (["--symbols", "BTC-PERP"], "--symbols: symbol 'BTC-PERP'"),
        (["--faults", "boom@3"], "--faults item 'boom@3': fault 'boom'"),
        (["--faults", "drop@soon"], "expected a number, got 'soon'"),
        (["--push-interval", "-1"], "--push-interval: expected seconds in [0, 60]"),
    ],
)
def test_bad_arguments_give_one_line_errors(argv, message, capsys) -> None:
    assert _main("sim", "--port", "0", *argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scalp-radar: error: ") and message in err and "\n" not in err


def test_sim_command_serves_until_sigterm() -> None:
    code = (
        "import sys; from scalp_radar.app.cli import main;"
        "sys.exit(main(['sim', '--port', '0', '--speed', '60', '--symbols', 'BTC/USDT:USDT,DOGEUSDT',"
        " '--faults', 'drop@100,gap:random/50', '--no-limits']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        banner = [proc.stdout.readline() for _ in range(4)]
        first = banner[0]
        assert first.startswith("simulated Bitget listening on http://127.0.0.1:"), banner
        url = first.rsplit(" ", 1)[1].strip()
        assert f"--sim-url {url}" in banner[3]
        assert "BTC/USDT:USDT, DOGE/USDT:USDT" in banner[2]
        with urllib.request.urlopen(
            url + "/api/v2/mix/market/contracts?productType=USDT-FUTURES"
        ) as r:
            body = json.load(r)
        assert [c["symbol"] for c in body["data"]] == ["BTCUSDT", "DOGEUSDT"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "simulator stopped" in out


def test_sim_at_its_top_speed_stops_on_sigterm_with_exit_0() -> None:
    # Regression (issue 10 item 10): --speed 1e300 was accepted, then overflowed the clock and
    # starved the loop, so SIGTERM was ignored. The top of the range still stops at once.
    proc = subprocess.Popen(
        [sys.executable, "-m", "scalp_radar", "sim", "--port", "0", "--speed", "3600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("simulated Bitget listening on"), proc.stderr.read()
        url = first.rsplit(" ", 1)[1].strip()
        with urllib.request.urlopen(url + "/api/v2/public/time") as r:
            assert json.load(r)["code"] == "00000"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)  # a bound, not a measurement: it must stop
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "simulator stopped" in out and "Traceback" not in err


def test_start_in_thread_for_sync_code() -> None:
    sim = SimExchange(["ETH/USDT:USDT"], limits=SimLimits.off()).start_in_thread()
    try:
        with urllib.request.urlopen(sim.url + "/api/v2/public/time") as r:
            body = json.load(r)
        assert (
            body["code"] == "00000"
            and abs(int(body["data"]["serverTime"]) - sim.clock.now_ms()) < 5000
        )
        now = sim.clock.now_ms()
        assert (
            len(sim.truth("ETH/USDT:USDT", "1h", now - 86_400_000, now)) >= 23
        )  # from this thread
    finally:
        sim.stop_thread()
    with pytest.raises(OSError):
        urllib.request.urlopen(sim.url + "/api/v2/public/time", timeout=2)


def test_only_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SimExchange(host="0.0.0.0")
