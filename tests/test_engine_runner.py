"""EngineRunner: the engine on its own thread and loop, demo simulator in-process, fast stop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from scalp_radar.app.demo import simulator_factory
from scalp_radar.core.snapshot import StreamState
from scalp_radar.core.store import DatabaseError
from scalp_radar.engine.runner import EngineRunner, EngineTarget
from tests.engine_support import BTC, ETH, KEEPALIVE_MS, make_config


def _wait(cond, limit_s: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _runner(tmp_path, **kw) -> EngineRunner:
    cfg = make_config([BTC, ETH], ["1m", "5m"])
    return EngineRunner(
        EngineTarget(cfg, tmp_path / "runner.db", demo=True, simulator=simulator_factory(120.0)),
        exchange_options={"ws": {"keepAlive": KEEPALIVE_MS}},
        **kw,
    )


def test_demo_runner_streams_snapshots_and_stops_from_another_thread(tmp_path):
    runner = _runner(tmp_path)
    assert runner.snapshot() is None
    runner.start()
    try:
        assert runner.sim is not None and runner.sim.url.startswith("http://127.0.0.1:")
        assert runner.loop is not None and runner.loop.is_running()
        _wait(
            lambda: {s.state for s in runner.snapshot().streams} == {StreamState.LIVE},
            what="every stream live",
        )
        snap = runner.snapshot()
        assert snap.connection.demo is True
        # The engine publishes a new snapshot object; the one this thread holds stays intact.
        _wait(lambda: runner.snapshot().taken_at_ms > snap.taken_at_ms, what="a newer snapshot")
        assert runner.snapshot() is not snap
        assert len(snap.streams) == 4 and snap.connection.demo is True
        _wait(lambda: runner.snapshot().stream(BTC, "1m").last_candle is not None, what="a candle")
    finally:
        stopper = threading.Thread(target=runner.stop)
        stopper.start()
        stopper.join(5)
    assert not stopper.is_alive()
    # stop() asks and waits briefly; join() waits for the engine thread's end (event, not time).
    assert runner.join(30)
    assert runner._thread is None
    assert runner.loop.is_closed()
    final = runner.snapshot()
    assert {s.state for s in final.streams} == {StreamState.STOPPED}


def test_run_coroutine_runs_on_the_engine_loop_with_shared_limiter(tmp_path):
    runner = _runner(tmp_path)
    runner.start()
    try:

        async def probe():
            await runner.limiter.acquire("market_data")
            rows = await runner.exchange.fetch_ohlcv(BTC, "1m", limit=5)
            return asyncio.get_running_loop(), threading.current_thread().name, len(rows)

        loop, thread_name, n = runner.run_coroutine(probe()).result(10)
        assert loop is runner.loop and thread_name == "scalp-radar-engine" and n == 5
        assert runner.limiter.stats()[0].total_acquired >= 1
        assert runner.db is not None and runner.db.is_open
    finally:
        runner.stop()
    assert runner.join(30) and runner._thread is None
    with pytest.raises(RuntimeError, match="not running"):
        runner.run_coroutine(asyncio.sleep(0))


def test_start_failure_is_raised_in_the_caller(tmp_path):
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("this is not sqlite " * 100)
    config = make_config([BTC], ["1m"])
    runner = EngineRunner(
        EngineTarget(config, not_a_db, demo=True, simulator=simulator_factory(120.0))
    )
    with pytest.raises(DatabaseError):
        runner.start()
    runner.stop()
    assert not_a_db.read_text().startswith("this is not sqlite")  # never modified


def test_stop_is_idempotent_and_safe_before_start(tmp_path):
    runner = _runner(tmp_path)
    runner.stop()  # before start: nothing to do
    runner.start()
    runner.stop()
    runner.stop()
    assert runner.join(30) and runner._thread is None
    assert not runner.alive
