"""`scalp-radar backfill` and `data list|repair` against a simulator in a thread (real ccxt, SQLite).

The in-process tests parse with the real `scalp-radar` parser and run the command it selects with
a RunContext, as the CLI does; the kill tests run the real command.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scalp_radar.app.cli import build_parser
from scalp_radar.app.context import RunContext
from scalp_radar.core.config import load_config, write_default_config
from scalp_radar.core.store import Database
from scalp_radar.history.holes import find_holes
from scalp_radar.sim import SimExchange, SimLimits

REPO = Path(__file__).resolve().parent.parent
SYM = "BTC/USDT:USDT"
DAY = 86_400_000
MIN = 60_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M")


def _cli(db_path: Path, sim_url: str | None, *argv: str) -> int:
    """The command argv parses to, run as the CLI runs it (minus the process-wide logging)."""
    args = build_parser().parse_args(list(argv))
    ctx = RunContext(load_config(), db_path, db_path.parent / "logs", sim_url, demo=True)
    return args.command.function()(args, ctx)


def _rows(db_path: Path, symbol: str, tf: str, start: int, end: int) -> list[list]:
    async def read():
        async with Database(db_path) as db:
            return [
                [c.timestamp, c.open, c.high, c.low, c.close, c.volume]
                for c in await db.get_candles(symbol, tf, start, end)
            ]

    return asyncio.run(read())


def _holes(db_path: Path, symbol: str, tf: str, start: int, end: int):
    async def read():
        async with Database(db_path) as db:
            return await find_holes(db, symbol, tf, start, end)

    return asyncio.run(read())


@pytest.mark.slow
def test_data_list_shows_holes_and_repair_closes_them(sim_thread, tmp_path, capsys):
    db_path = tmp_path / "c.db"
    now = sim_thread.clock.now_ms()
    start = (now - 35 * DAY) // (5 * MIN) * (5 * MIN)
    end = start + 2 * DAY
    since, until = _iso(start), _iso(end)
    code = _cli(
        db_path, sim_thread.url, "backfill", "--symbol", SYM, "--symbol", "ETH/USDT:USDT",
        "--timeframe", "1m", "--timeframe", "5m", "--since", since, "--until", until,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "plan: 36 requests, 6,912 candles to fetch" in out
    assert "complete: 6,912 candles stored" in out
    # holes made on purpose: two in BTC 1m, one in ETH 5m
    con = sqlite3.connect(db_path)
    with con:
        for symbol, tf, a, b in (
            (SYM, "1m", start + 100 * MIN, start + 160 * MIN),
            (SYM, "1m", start + 1000 * MIN, start + 1003 * MIN),
            ("ETH/USDT:USDT", "5m", start + 600 * MIN, start + 1200 * MIN),
        ):
            con.execute(
                "DELETE FROM candles WHERE symbol=? AND timeframe=? AND timestamp>=? AND timestamp<?",
                (symbol, tf, a, b),
            )
    con.close()
    assert _cli(db_path, sim_thread.url, "data", "list", "--holes") == 0
    out = capsys.readouterr().out
    lines = {
        (cells[1], cells[2]): cells
        for cells in (
            [c.strip() for c in line.split("│")] for line in out.splitlines() if "│" in line
        )
        if len(cells) > 8
    }
    assert lines[(SYM, "1m")][6:9] == ["2", "63", "97.81%"]
    assert lines[("ETH/USDT:USDT", "5m")][6:9] == ["1", "120", "79.17%"]
    assert lines[(SYM, "5m")][6:9] == ["0", "0", "100.00%"]
    assert f"hole: {SYM} 1m {_iso(start + 100 * MIN).replace('T', ' ')}" in out
    assert "3 holes; `scalp-radar data repair` fetches exactly them" in out

    assert _cli(db_path, sim_thread.url, "data", "repair") == 0
    out = capsys.readouterr().out
    assert "repair: 3 holes, 183 candles missing" in out
    assert "plan: 3 requests, 183 candles to fetch" in out
    assert "complete: 183 candles stored" in out
    for symbol in (SYM, "ETH/USDT:USDT"):
        for tf in ("1m", "5m"):
            assert _rows(db_path, symbol, tf, start, end) == sim_thread.truth(
                symbol, tf, start, end
            )
    assert _cli(db_path, sim_thread.url, "data", "repair") == 0
    assert "no holes: nothing to repair" in capsys.readouterr().out


def test_failing_window_gives_nonzero_exit_and_names_it(sim_thread, tmp_path, capsys):
    db_path = tmp_path / "c.db"
    now = sim_thread.clock.now_ms()
    start = now - 40 * DAY
    sim_thread.faults.inject("rest5xx", count=1000, status=502, endpoint="history-candles")
    code = _cli(
        db_path, sim_thread.url, "backfill", "--symbol", SYM, "--timeframe", "1m",
        "--since", _iso(start), "--until", _iso(start + 398 * MIN), "--retries", "1",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "incomplete: 2 requests failed (candles missing): BTC/USDT:USDT 1m " in out
    assert "HTTP 502" in out  # the classified reason, not the class name
    sim_thread.faults.clear()
    # a rerun fetches exactly what is missing and succeeds
    assert _cli(db_path, sim_thread.url, "backfill", "--symbol", SYM, "--timeframe", "1m",
                "--since", _iso(start), "--until", _iso(start + 398 * MIN)) == 0  # fmt: skip
    assert "complete: 398 candles stored" in capsys.readouterr().out


def test_unknown_symbol_is_rejected_before_any_candle_request(sim_thread, tmp_path, capsys):
    code = _cli(
        tmp_path / "c.db", sim_thread.url, "backfill", "--symbol", "DOGE/USDT:USDT", "--days", "1"
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        "scalp-radar: error: --symbol: DOGE/USDT:USDT not listed on the exchange "
        "(e.g. BTC/USDT:USDT, ETH/USDT:USDT)"
    ]


def test_nothing_to_do_and_listing_clip(sim_thread, tmp_path, capsys):
    db_path = tmp_path / "c.db"
    # since before the simulated listing (2020-01-01): the range starts at the listing
    code = _cli(db_path, sim_thread.url, "backfill", "--symbol", SYM, "--timeframe", "1d",
                "--since", "2019-06-01", "--until", "2020-03-01")  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "plan: 1 request, 60 candles to fetch" in out
    code = _cli(db_path, sim_thread.url, "backfill", "--symbol", SYM, "--timeframe", "1d",
                "--since", "2019-06-01", "--until", "2020-03-01")  # fmt: skip
    assert code == 0
    assert "nothing to fetch" in capsys.readouterr().out


def test_simulator_clock_ahead_of_ours_still_fetches_everything(tmp_path, capsys):
    from scalp_radar.sim import SimClock

    clock = SimClock(start_ms=int(time.time() * 1000) + 3 * DAY)
    sim = SimExchange(symbols=[SYM], limits=SimLimits.off(), clock=clock).start_in_thread()
    try:
        db_path = tmp_path / "c.db"
        code = _cli(db_path, sim.url, "backfill", "--symbol", SYM, "--timeframe", "1m",
                    "--days", "0.5")  # fmt: skip
        out = capsys.readouterr().out
        assert code == 0, out
        assert "complete: 719 candles stored" in out or "complete: 720 candles stored" in out
        assert "note: the exchange had no data" not in out
    finally:
        sim.stop_thread()


# ------------------------------------------------------------------------------ killed runs


def _slow_config(tmp_path: Path) -> Path:
    """The default config with market_data at 20 req/s and no burst, so a run takes ~3 s."""
    config_dir = tmp_path / "config"
    write_default_config(config_dir)
    path = config_dir / "exchanges.yaml"
    text = path.read_text()
    old = "market_data:"
    head, tail = text.split(old, 1)
    tail = tail.replace("requests_per_second: 18", "requests_per_second: 20", 1)
    tail = tail.replace("burst: 2 ", "burst: 1 ", 1)
    path.write_text(head + old + tail)
    return config_dir


def _count(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    con = sqlite3.connect(db_path, timeout=5)
    try:
        return con.execute("SELECT COUNT(*) FROM candles").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # schema not created yet
    finally:
        con.close()


def _spawn(tmp_path: Path, config_dir: Path, db_path: Path, sim_url: str, start: int, end: int):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    env.pop("SCALP_RADAR_CONFIG", None)
    return subprocess.Popen(
        [
            sys.executable, "-m", "scalp_radar", "--config", str(config_dir), "--db", str(db_path),
            "--log-dir", str(tmp_path / "logs"), "backfill", "--sim-url", sim_url,
            "--symbol", SYM, "--timeframe", "1m", "--since", _iso(start), "--until", _iso(end),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _wait_count(proc: subprocess.Popen, db_path: Path, at_least: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = _count(db_path)
        if count >= at_least:
            return count
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"never reached {at_least} candles")


@pytest.mark.slow
def test_sigint_then_sigkill_then_rerun_leaves_no_hole_no_duplicate(sim_thread, tmp_path):
    config_dir = _slow_config(tmp_path)
    db_path = tmp_path / "c.db"
    now = sim_thread.clock.now_ms()
    start = (now - 100 * DAY) // MIN * MIN
    end = start + 40 * 200 * MIN  # 40 history pages, ~2 s at 20 req/s
    total = 40 * 200

    # Ctrl-C: clean stop, exit 130, the "rerun" line
    proc = _spawn(tmp_path, config_dir, db_path, sim_thread.url, start, end)
    _wait_count(proc, db_path, 2000)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "cancelled after " in out
    assert out.count("rerun to complete") == 1
    after_int = _count(db_path)
    assert after_int < total

    # SIGKILL mid-way: no cleanup at all
    proc = _spawn(tmp_path, config_dir, db_path, sim_thread.url, start, end)
    killed_at = _wait_count(proc, db_path, after_int + 2000)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert killed_at < total

    # rerun completes: plans only the missing part
    proc = _spawn(tmp_path, config_dir, db_path, sim_thread.url, start, end)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    assert "already stored" in out and "complete:" in out
    assert _holes(db_path, SYM, "1m", start, end) == []
    con = sqlite3.connect(db_path)
    count, distinct = con.execute(
        "SELECT COUNT(*), COUNT(DISTINCT timestamp) FROM candles WHERE symbol=? AND timeframe='1m'",
        (SYM,),
    ).fetchone()
    con.close()
    assert count == distinct == total
    assert _rows(db_path, SYM, "1m", start, end) == sim_thread.truth(SYM, "1m", start, end)


# ------------------------------------------------------------------------------ whose file


def _run_cli(home: Path, *argv: str, user: list[str] | None = None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(home)}
    env.pop("SCALP_RADAR_CONFIG", None)
    return subprocess.run(
        [*(user or []), sys.executable, "-m", "scalp_radar", "--log-dir", str(home / "logs"),
         *argv],
        env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip


def _fingerprint(path: Path) -> tuple[bytes, int, list[str]]:
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(p.name for p in path.parent.iterdir())


@pytest.mark.slow
def test_foreign_and_corrupt_files_are_refused_untouched_by_every_command(tmp_path):
    # Regression (issue 10 item 1): `data list --db other.db` added our tables, application_id,
    # user_version and WAL to another tool's file; a corrupt file was switched to WAL first.
    from tests.test_store_ownership import corrupt_db, foreign_candles_db

    cases = {
        "other.db": (foreign_candles_db, "table candles has columns (id, pair, price)"),
        "broken.db": (corrupt_db, "not a sound SQLite database"),
    }
    for name, (make, expected) in cases.items():
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        path = make(folder / name)
        before = _fingerprint(path)
        for argv in (
            ["data", "list"],
            ["data", "repair", "--sim-url", "http://127.0.0.1:1"],
            ["data", "verify", "--sim-url", "http://127.0.0.1:1"],
            ["backfill", "--sim-url", "http://127.0.0.1:1", "--symbol", SYM, "--days", "1"],
            ["--headless", "--demo"],
        ):
            result = _run_cli(tmp_path, "--db", str(path), *argv)
            lines = result.stderr.splitlines()
            assert result.returncode == 2, (argv, result.stdout, result.stderr)
            assert len(lines) == 1 and str(path) in lines[0] and expected in lines[0], argv
            assert _fingerprint(path) == before, argv


def test_data_list_and_repair_without_a_database_create_none(tmp_path):
    # Regression: `data repair` created an empty database; `data list` exited 0.
    missing = tmp_path / "none.db"
    for argv in (["data", "list"], ["data", "repair", "--sim-url", "http://127.0.0.1:1"]):
        result = _run_cli(tmp_path, "--db", str(missing), *argv)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            f"scalp-radar: error: {missing}: no database there; expected an existing "
            "scalp-radar database (`scalp-radar backfill` or a run creates one)"
        ]
        assert not missing.exists()


def test_data_list_reads_a_read_only_database_in_a_read_only_directory(sim_thread, tmp_path):
    # Regression: listing opened read-write (WAL switch, migrations) and failed on a read-only
    # file. Root ignores file modes, so the command then runs as `nobody`.
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        base.chmod(0o777)
        folder = base / "ro"
        folder.mkdir()
        db_path = folder / "c.db"
        now = sim_thread.clock.now_ms()
        assert _cli(db_path, sim_thread.url, "backfill", "--symbol", SYM, "--timeframe", "5m",
                    "--since", _iso(now - 2 * DAY), "--until", _iso(now - DAY)) == 0  # fmt: skip
        assert not (folder / "c.db-wal").exists()
        db_path.chmod(0o444)
        folder.chmod(0o555)
        before = _fingerprint(db_path)
        user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        result = _run_cli(base, "--db", str(db_path), "data", "list",
                          user=user if os.geteuid() == 0 else None)  # fmt: skip
        folder.chmod(0o755)
        assert result.returncode == 0, result.stderr
        assert "288" in result.stdout and "100.00%" in result.stdout
        assert _fingerprint(db_path) == before
