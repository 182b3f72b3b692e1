"""Faults that need the engine's own judgement: stale streams, error events, refused handshakes,
an unknown symbol, several faults at once, and subscribe pacing under Bitget's limit.
"""

from __future__ import annotations

import pytest

from scalp_radar.core.snapshot import StreamState
from scalp_radar.sim import SimLimits
from tests.engine_support import (
    BTC,
    ETH,
    all_live,
    assert_all_match_truth,
    closes_after,
    make_config,
    rig,
    settle,
    wait_for,
)


@pytest.mark.slow
async def test_stale_stream_is_detected_marked_and_reconnected(tmp_path):
    cfg = make_config([BTC], ["1m", "5m"], stale_min_s=0.6)
    async with rig(tmp_path, cfg) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), what="all streams live")
        # The server keeps answering pings but stops pushing: only the watchdog can see it.
        r.sim.faults.inject("stale")
        # The first stream to notice is marked stale and re-creates the exchange for all.
        await wait_for(
            lambda: any(StreamState.STALE in s.state_log for s in eng.streams),
            what="a stream marked stale",
        )
        await wait_for(lambda: all_live(eng), what="streams live again")
        await closes_after(eng, 2)
        await settle(eng)
        snap = eng.snapshot(fresh=True)
        assert any(i.kind == "stale" for i in snap.incidents)
        assert eng.holder.recycles >= 1  # one re-created exchange for all streams
        assert sum(s.stale_events for s in eng.streams) >= 1
        assert all(
            {StreamState.STALE, StreamState.RECONNECTING} & set(s.state_log) for s in eng.streams
        )
        assert all(
            s.last_update_age_s is not None and s.last_update_age_s < 5 for s in snap.streams
        )
    await assert_all_match_truth(r)


@pytest.mark.slow
async def test_error_event_30001_rejects_healthy_watchers_and_they_recover(tmp_path):
    cfg = make_config([BTC, ETH], ["1m", "5m"])
    async with rig(tmp_path, cfg) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), what="all streams live")
        r.sim.faults.inject("e30001")
        await wait_for(lambda: eng.holder.recycles >= 1, what="the exchange to be re-created")
        await closes_after(eng, 2)
        await settle(eng)
        assert all_live(eng)
        assert eng.holder.recycles == 1  # one re-creation for every stream, not one each
    await assert_all_match_truth(r)


@pytest.mark.slow
async def test_refused_handshakes_back_off_then_recover(tmp_path):
    cfg = make_config([BTC], ["1m", "5m"])
    async with rig(tmp_path, cfg) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), what="all streams live")
        r.sim.faults.inject("refuse", count=3, retry_after=0.3)
        r.sim.faults.inject("drop")
        await wait_for(
            lambda: any(s.backoff.attempt >= 2 for s in eng.streams), what="growing backoff"
        )
        snap = eng.snapshot(fresh=True)
        assert any(s.state is StreamState.RECONNECTING and s.attempt >= 1 for s in snap.streams)
        await wait_for(lambda: all_live(eng), what="streams live again")
        await closes_after(eng, 2)
        await settle(eng)
    await assert_all_match_truth(r)


async def test_unknown_symbol_fails_alone_with_reason(tmp_path):
    doge = "DOGE/USDT:USDT"
    cfg = make_config([BTC, doge], ["1m"])
    async with rig(tmp_path, cfg, sim_symbols=[BTC]) as r:
        eng = r.engine
        key = f"{doge} 1m"
        await wait_for(lambda: r.states()[key] is StreamState.FAILED, what="DOGE stream failed")
        await wait_for(lambda: all_live(eng, exclude={key}), what="BTC live")
        # A server-side 30001 on the socket rejects the healthy watcher too: it must recover.
        r.sim.faults.inject("e30001")
        await wait_for(lambda: eng.holder.recycles >= 1, what="re-created exchange")
        await closes_after(eng, 2)
        snap = eng.snapshot(fresh=True)
        failed = snap.stream(doge, "1m")
        assert failed.state is StreamState.FAILED and "DOGE" in (failed.reason or "")
        assert snap.stream(BTC, "1m").state is StreamState.LIVE
        assert any(i.kind == "error" and i.symbol == doge for i in snap.incidents)
    await assert_all_match_truth(r, skip={key})


@pytest.mark.slow
async def test_several_faults_at_once(tmp_path):
    cfg = make_config([BTC, ETH], ["1m", "5m"])
    async with rig(tmp_path, cfg) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), what="all streams live")
        for kind in (
            "invalid",
            "duplicate",
            "outoforder",
            "e30001",
            "drop",
            "rest429",
            "malformed",
        ):
            r.sim.faults.inject(kind)
        await closes_after(eng, 2)
        r.sim.faults.inject("stale", duration=2)
        r.sim.faults.inject("nopong", duration=2)
        await closes_after(eng, 3, limit_s=25)
        await settle(eng, limit_s=20)
        assert all_live(eng)
    await assert_all_match_truth(r)


@pytest.mark.slow
async def test_subscribes_are_paced_under_the_message_limit(tmp_path):
    """12 streams subscribe on one socket with Bitget's 10 messages/s limit enforced."""
    # Stale only after 10 real seconds: the 1.5 s a 1m stream gets at SPEED is a stall a loaded
    # machine can cause, and its recycle is not what this test is about.
    cfg = make_config([BTC, ETH, "SOL/USDT:USDT"], ["1m", "5m", "15m", "1h"], stale_min_s=10.0)
    limits = SimLimits(push_interval_s=0.05)
    async with rig(tmp_path, cfg, limits=limits) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), what="12 streams live")
        await closes_after(eng, 1)
        assert eng.holder.recycles == 0
        assert eng.snapshot(fresh=True).connection.reconnects == 0
