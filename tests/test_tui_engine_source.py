"""EngineSource over a real EngineRunner in demo mode (in-process simulator, real SQLite file)."""

from __future__ import annotations

import time

import pytest

from scalp_radar.app.demo import simulator_factory
from scalp_radar.core.config import load_config
from scalp_radar.engine.runner import EngineRunner, EngineTarget
from scalp_radar.history.types import BackfillRequest
from scalp_radar.tui.source import EngineSource, SnapshotSource

HOUR = 3_600_000


def _demo_runner(tmp_path) -> EngineRunner:
    target = EngineTarget(
        load_config(), tmp_path / "radar.db", demo=True, simulator=simulator_factory()
    )
    return EngineRunner(target)


def _wait_snapshot(source: EngineSource, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        snapshot = source.snapshot()
        if snapshot is not None and snapshot.streams:
            return snapshot
        time.sleep(0.05)
    raise AssertionError("no snapshot from the engine")


def test_engine_source_plans_runs_and_cancels_backfills(tmp_path):
    runner = _demo_runner(tmp_path)
    runner.start()
    source = EngineSource(runner)
    try:
        assert isinstance(source, SnapshotSource)
        snapshot = _wait_snapshot(source)
        assert snapshot.connection.demo and snapshot.symbols
        symbol = snapshot.symbols[0]
        now = snapshot.taken_at_ms
        req = BackfillRequest((symbol,), ("1h",), now - 72 * HOUR, now, force=True)

        plan = source.plan_backfill(req).result(timeout=10)
        assert plan.requests >= 1 and 60 <= plan.expected_candles <= 72

        seen = []
        result = source.start_backfill(plan, seen.append).result(timeout=20)
        assert result.complete, result.summary()
        assert result.candles_stored >= 60
        assert seen and seen[-1].windows_done == seen[-1].windows_total == plan.requests

        # A long 1m backfill, cancelled as soon as it reports progress.
        long_req = BackfillRequest(snapshot.symbols, ("1m",), now - 30 * 24 * HOUR, now, force=True)
        progress = []
        long_plan = source.plan_backfill(long_req).result(timeout=10)
        future = source.start_backfill(long_plan, progress.append)
        deadline = time.monotonic() + 10
        while not progress and not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        source.cancel_backfill()
        cancelled = future.result(timeout=10)
        assert cancelled.cancelled and cancelled.windows_done < cancelled.windows_total
    finally:
        source.stop()
        source.stop()  # idempotent


@pytest.mark.slow
async def test_dashboard_on_the_live_demo_engine_backfills_and_quits(tmp_path):
    from scalp_radar.core.snapshot import StreamState
    from scalp_radar.tui.app import make_app
    from scalp_radar.tui.widgets.market_radar import MarketRadar

    runner = _demo_runner(tmp_path)
    runner.start()
    app = make_app(EngineSource(runner), demo=True, refresh_hz=10)
    try:
        async with app.run_test(size=(80, 24)) as pilot:

            async def until(predicate, what: str) -> None:
                for _ in range(500):
                    if predicate():
                        return
                    await pilot.pause(0.02)
                raise AssertionError(f"timed out waiting for {what}")

            def radar_up() -> bool:
                # The demo runs a universe: the market radar lists it; the candle streams are live.
                snap = app.snapshot
                rows = app.screen.query_one(MarketRadar).order
                streams = snap.streams if snap is not None else ()
                return bool(rows) and all(s.state is StreamState.LIVE for s in streams)

            await until(radar_up, "the market radar listing the universe, every stream live")
            await pilot.press("b", "ctrl+s")  # 1 day, selected symbol, selected timeframe
            await until(
                lambda: app.backfill_job is not None and not app.backfill_job.running, "backfill"
            )
            assert app.backfill_job.error is None
            assert app.backfill_job.result.complete, app.backfill_job.result.summary()
            await pilot.pause()
            # The open modal shows the result (no toast over it).
            assert str(app.screen.query_one("#bf-status").render()).startswith("complete:")
            await pilot.press("escape", "q")
        assert app.wait_source_stopped(2.0)
    finally:
        runner.stop()


def test_a_dead_engine_never_looks_live(tmp_path):
    # Regression: if the engine thread died, the dashboard kept showing its last snapshot as live.
    from scalp_radar.core.snapshot import StreamState

    runner = _demo_runner(tmp_path)
    runner.start()
    source = EngineSource(runner)
    try:
        _wait_snapshot(source)
        runner.loop.call_soon_threadsafe(runner.loop.stop)  # the loop dies under the engine
        deadline = time.monotonic() + 10
        while runner.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        snapshot = source.snapshot()
        assert snapshot is not None and snapshot.streams
        assert {s.state for s in snapshot.streams} == {StreamState.FAILED}
        assert "engine stopped" in (snapshot.streams[0].reason or "")
        assert source.snapshot() is snapshot  # built once, so the screen can skip repeats
    finally:
        source.stop()
