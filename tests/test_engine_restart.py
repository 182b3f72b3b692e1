"""Restarts continue the stored history (healing the downtime over REST), and ENABLE_WEBSOCKET=false."""

from __future__ import annotations

import pytest

from scalp_radar.core.snapshot import StreamState
from scalp_radar.core.store import Database
from scalp_radar.sim import SimExchange, SimLimits
from tests.engine_support import (
    BTC,
    ETH,
    SPEED,
    all_live,
    assert_store_matches_truth,
    closes_after,
    make_config,
    new_engine,
    settle,
    wait_for,
)


@pytest.mark.slow
async def test_restart_heals_downtime_longer_than_the_snapshot(tmp_path):
    cfg = make_config([BTC], ["1m", "5m"])
    # A 30-row snapshot: one hour of downtime cannot be refilled from the stream alone.
    sim = SimExchange(
        symbols=[BTC],
        seed=3,
        speed=SPEED,
        limits=SimLimits.off(push_interval_s=0.05, snapshot_rows=30),
    )
    await sim.start()
    path = tmp_path / "restart.db"
    try:
        async with Database(path) as db:
            eng = new_engine(cfg, db, sim)
            await eng.start()
            await wait_for(lambda: all_live(eng), what="first run live")
            await closes_after(eng, 2)
            await eng.stop()
            first_last = await db.get_latest_candle_timestamp(BTC, "1m")
        assert first_last is not None

        sim.clock.advance(60 * 60_000)  # the process was down for an hour of market time

        async with Database(path) as db:
            eng = new_engine(cfg, db, sim)
            await eng.start()
            # Buffers are warm from the database before any network traffic.
            assert eng.streams[0].buffer.last_closed_ts == first_last
            await wait_for(lambda: all_live(eng), what="second run live")
            await wait_for(lambda: eng.streams[0].gaps_detected >= 1, what="the downtime gap")
            await settle(eng)
            await closes_after(eng, 1)
            await eng.stop()
            snap = eng.snapshot()
            m1 = snap.stream(BTC, "1m")
            assert m1.gaps_healed >= 1 and m1.gaps_open == 0
            assert any(i.kind == "heal" and i.timeframe == "1m" for i in snap.incidents)
            n = await assert_store_matches_truth(db, sim, BTC, "1m", min_rows=60)
            await assert_store_matches_truth(db, sim, BTC, "5m", min_rows=10)
            # History continues across the restart: the first run's candles are still there.
            first = (await db.get_candles(BTC, "1m", limit=1))[0].timestamp
            assert first < first_last and n > 60
    finally:
        await sim.stop()


async def test_websocket_disabled_serves_status_without_streaming(tmp_path):
    cfg = make_config([BTC, ETH], ["1m"], enable_websocket=False)
    sim = SimExchange(symbols=[BTC, ETH], speed=SPEED, limits=SimLimits.off())
    await sim.start()
    try:
        async with Database(tmp_path / "off.db") as db:
            eng = new_engine(cfg, db, sim)
            await eng.start()
            snap = eng.snapshot(fresh=True)
            assert not snap.connection.websocket_enabled
            assert {s.state for s in snap.streams} == {StreamState.STOPPED}
            assert all(s.reason == "ENABLE_WEBSOCKET=false" for s in snap.streams)
            await eng.stop()
        assert sim.hub.connections_total == 0
    finally:
        await sim.stop()


async def test_stale_min_and_snapshot_facts(tmp_path):
    """Snapshot facts: limiter stats, clock offset from fetch_time, uptime, sparkline points."""
    cfg = make_config([BTC], ["1m"], sparkline_points=20)
    sim = SimExchange(symbols=[BTC], speed=SPEED, limits=SimLimits.off(push_interval_s=0.05))
    await sim.start()
    try:
        eng = new_engine(cfg, None, sim)
        await eng.start()
        await wait_for(lambda: all_live(eng), what="live")
        await wait_for(
            lambda: eng.snapshot(fresh=True).connection.clock_offset_ms is not None,
            what="clock offset",
        )
        await closes_after(eng, 2)
        await wait_for(lambda: eng.snapshot(fresh=True).streams[0].updates_per_s > 0, what="a rate")
        snap = eng.snapshot(fresh=True)
        s = snap.stream(BTC, "1m")
        assert len(s.recent_closes) == 20 and len(s.recent_candles) == 20
        assert s.recent_closes[-1] == s.last_candle.close and not s.last_candle.closed
        assert s.buffer_capacity == cfg.engine.buffer_size and s.buffer_len > 100
        assert s.updates_per_s > 0 and s.last_update_age_s is not None
        assert [b.category for b in snap.limiter] == ["market_data", "trade", "account", "position"]
        # Same clock on both sides: the measured offset is network latency, not minutes. At
        # SPEED a millisecond of round trip is SPEED ms of exchange time, so the bound is a
        # minute of exchange time (0.5 s of round trip), not a latency a loaded machine exceeds.
        assert abs(snap.connection.clock_offset_ms) < 60_000
        assert snap.connection.uptime_s > 0 and snap.connection.exchange == "bitget"
        await eng.stop()
    finally:
        await sim.stop()
