"""`scalp-radar --headless` as a real process: status lines, DEMO everywhere, SIGTERM/SIGINT
flush and exit 0. The fast market comes from a simulator in a thread, reached with --sim-url."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scalp_radar.core.store import Database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sim_options() -> dict:
    # Every configured symbol (the engine streams them all), 120x: a 1m candle closes each 0.5 s.
    return {"symbols": None, "speed": 120}


def _spawn(
    tmp_path: Path, *args: str, env: dict | None = None, session: bool = False
) -> subprocess.Popen:
    """`scalp-radar --headless ARGS` with its database and logs in tmp_path; `session`: in a
    process group of its own, as a shell runs it in a terminal (signal the group for Ctrl-C)."""
    cmd = [
        sys.executable,
        "-m",
        "scalp_radar",
        "--headless",
        "--db",
        str(tmp_path / "h.db"),
        "--log-dir",
        str(tmp_path / "logs"),
        *args,
    ]
    full_env = {k: v for k, v in os.environ.items() if k != "SCALP_RADAR_CONFIG"}
    full_env["HOME"] = str(tmp_path)
    full_env.update(env or {})
    # Run from an empty directory (no stray .env), importing this checkout.
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), full_env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=tmp_path,
        start_new_session=session,
    )


def _read_json_until(proc: subprocess.Popen, cond, limit_s: float = 40.0) -> list[dict]:
    lines: list[dict] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(json.loads(line))
        if cond(lines[-1]):
            return lines
    proc.kill()
    raise AssertionError(
        f"condition not met; last status {lines[-1:]}; stderr {proc.stderr.read()[-2000:]}"
    )


@pytest.mark.slow
def test_sigterm_flushes_and_exits_zero_with_last_candles_in_db(tmp_path, sim_thread):
    proc = _spawn(tmp_path, "--sim-url", sim_thread.url, "--status-interval", "0.25", "--json")
    try:
        lines = _read_json_until(
            proc,
            lambda d: (
                d["states"].get("live") == len(d["streams"])
                and all(s["last_closed_ts"] for s in d["streams"])
            ),
        )
        # Let more candles close (every 1m stream's next one), then stop it like a service
        # manager would.
        held = {s["key"]: s["last_closed_ts"] for s in lines[-1]["streams"]}
        lines += _read_json_until(
            proc,
            lambda d: all(
                s["last_closed_ts"] > held[s["key"]]
                for s in d["streams"]
                if s["key"].endswith(" 1m")
            ),
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    statuses = lines + [json.loads(x) for x in out.splitlines() if x.strip()]
    assert all(d["mode"] == "DEMO" and d["demo"] is True for d in statuses)
    final = statuses[-1]
    assert set(final["states"]) == {"stopped"}

    async def stored_latest() -> dict[str, int | None]:
        async with Database(tmp_path / "h.db") as db:
            out: dict[str, int | None] = {}
            for s in final["streams"]:
                symbol, tf = s["key"].rsplit(" ", 1)
                out[s["key"]] = await db.get_latest_candle_timestamp(symbol, tf)
            return out

    latest = asyncio.run(stored_latest())
    for s in final["streams"]:
        # The last closed candle the engine held at stop is in the database.
        assert latest[s["key"]] is not None and latest[s["key"]] >= s["last_closed_ts"], s


@pytest.mark.slow
def test_text_status_lines_say_demo_and_sigint_exits_zero(tmp_path, sim_thread):
    proc = _spawn(tmp_path, "--sim-url", sim_thread.url, "--status-interval", "0.2")
    try:
        deadline = time.monotonic() + 30
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "streams 12" in line and "live=12" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    status = [x for x in seen + err.splitlines() if "streams 12" in x]
    assert status and all("DEMO" in x for x in status)


@pytest.mark.slow
def test_ctrl_c_of_the_demo_stops_the_engine_before_its_simulator(tmp_path):
    # A Ctrl-C in a terminal signals the whole foreground process group: the demo's child
    # simulator used to die with it, before the engine, whose last status then said it could
    # not reach the exchange and whose shutdown stored "cannot reach" incidents as history.
    proc = _spawn(tmp_path, "--demo", "--status-interval", "0.25", "--json", session=True)
    try:
        lines = _read_json_until(
            proc, lambda d: d["states"].get("live", 0) == len(d["streams"]) > 0
        )
        assert lines[-1]["incidents"] == 0 and lines[-1]["problem"] is None, lines[-1]
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 0, err[-2000:]
    final = json.loads(out.splitlines()[-1])
    assert set(final["states"]) == {"stopped"}
    assert final["problem"] is None and final["reconnects"] == 0, final
    assert final["incidents"] == 0, final["last_incident"]

    async def stored_incidents() -> list:
        async with Database(tmp_path / "h.db") as db:
            return await db.get_incidents()

    assert asyncio.run(stored_incidents()) == []


def test_websocket_disabled_still_serves_status(tmp_path):
    proc = _spawn(
        tmp_path,
        "--demo",
        "--status-interval",
        "0.2",
        "--json",
        env={"ENABLE_WEBSOCKET": "false"},
    )
    try:
        lines = _read_json_until(proc, lambda d: d["uptime_s"] >= 0, limit_s=20)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert lines[0]["websocket"] is False and set(lines[0]["states"]) == {"stopped"}
    assert "ENABLE_WEBSOCKET is false" in err


def test_config_error_exits_nonzero_with_one_line(tmp_path):
    bad = tmp_path / "cfg"
    bad.mkdir()
    (bad / "assets.yaml").write_text("assets: [oops\n")
    proc = _spawn(tmp_path, "--status-interval", "0.2", env={"SCALP_RADAR_CONFIG": str(bad)})
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("scalp-radar: error: "), err
    assert "assets.yaml" in lines[0]


def test_the_old_second_entry_point_is_gone(tmp_path):
    # Regression: `python -m scalp_radar.app.headless --demo` ran a second CLI without the
    # `-demo.db` rule and wrote simulated candles into the real history.
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "scalp_radar.app.headless", "--demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and result.stdout == ""
    assert not list(tmp_path.rglob("*.db"))
