"""What reaches the buffer and the store: gaps healed over REST, bad pushes dropped, callbacks."""

from __future__ import annotations

import asyncio

import pytest

from scalp_radar.core.limiter import RateLimiter
from scalp_radar.core.models import Candle, MultiTimeframeData, TimeFrame
from scalp_radar.core.snapshot import StreamState
from scalp_radar.engine.data_engine import DataEngine
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


def _clean(candles: list[Candle]) -> bool:
    stamps = [c.timestamp for c in candles]
    return stamps == sorted(set(stamps)) and all(c.low <= c.high for c in candles)


@pytest.mark.slow
async def test_live_gap_is_detected_healed_over_rest_and_recorded(tmp_path):
    # Stale bound above the skip (3 candles = 1.5 s at 120x), so the hole reaches the engine.
    cfg = make_config([BTC, ETH], ["1m"], stale_min_s=5.0)
    async with rig(tmp_path, cfg) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), what="streams live")
        acquired = eng.limiter.stats()[0].total_acquired
        r.sim.faults.inject("gap", count=3)
        await wait_for(lambda: sum(s.gaps_detected for s in eng.streams) >= 1, what="a gap")
        await settle(eng)
        await closes_after(eng, 1)
        snap = eng.snapshot(fresh=True)
        assert sum(s.gaps_healed for s in snap.streams) >= 1
        assert sum(s.gaps_open for s in snap.streams) == 0
        kinds = [i.kind for i in snap.incidents]
        assert "gap" in kinds and "heal" in kinds
        heal = next(i for i in snap.incidents if i.kind == "heal")
        assert heal.duration_s is not None and heal.symbol in (BTC, ETH)
        # The REST fetch went through the limiter's market_data bucket.
        assert eng.limiter.stats()[0].category == "market_data"
        assert eng.limiter.stats()[0].total_acquired > acquired
        for s in eng.streams:
            assert _clean(s.buffer.candles())
    await assert_all_match_truth(r)
    # Incidents are in SQLite too.
    from scalp_radar.core.store import Database

    async with Database(r.db_path) as db:
        stored = await db.get_incidents(100)
    assert any(i.kind == "gap" for i in stored) and any(i.kind == "heal" for i in stored)


@pytest.mark.slow
async def test_invalid_duplicate_out_of_order_pushes_never_reach_buffer_or_store(tmp_path):
    # A roomier stale bound: on a loaded machine the 1 s default let the stream go stale
    # between pushes, so no close arrived live and the callback list stayed empty.
    cfg = make_config([BTC], ["1m", "5m"], stale_min_s=3.0)
    closed: list[Candle] = []
    async with rig(tmp_path, cfg) as r:
        eng = r.engine
        eng.on_candle(closed.append)
        await wait_for(lambda: all_live(eng), what="streams live")
        for _ in range(3):
            for kind in ("invalid", "duplicate", "outoforder", "malformed"):
                r.sim.faults.inject(kind)
            await closes_after(eng, 1)
        await settle(eng)
        snap = eng.snapshot(fresh=True)
        assert sum(s.invalid_dropped for s in snap.streams) >= 1
        for s in eng.streams:
            assert _clean(s.buffer.candles(include_forming=True))
        assert closed and all(c.low <= c.high for c in closed)
    await assert_all_match_truth(r)


async def test_raw_rows_duplicates_out_of_order_and_invalid_are_counted_and_dropped():
    """ccxt dedups by ts, so feed the raw shapes straight into a stream's ingestion."""
    cfg = make_config([BTC], ["1m"], heal_gaps=False)
    eng = DataEngine(cfg, None, RateLimiter.from_exchange_config(cfg.exchange), verify_closes=False)
    s = eng.streams[0]
    step = 60_000
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % step

    def row(i: int, c: float = 100.5, v: float = 10.0, h: float = 101.0, lo: float = 99.0) -> list:
        return [t0 + i * step, 100.0, h, lo, c, v]

    s.ingest([row(i) for i in range(5)], resync=True)  # snapshot: 4 closed + forming
    assert len(s.buffer.closed) == 4 and s.buffer.forming.timestamp == t0 + 4 * step
    s.ingest([row(4, v=11.0), row(4, v=11.0)])  # forming updated, then repeated
    s.ingest([row(2, c=100.1)])  # out of order: older than the last closed
    s.ingest([row(3)])  # duplicate of the last closed
    s.ingest([row(5), row(1)])  # a row older than its predecessor in one batch
    s.ingest([[t0 + 6 * step, 100.0, 99.0, 101.0, 100.0, 1.0]])  # high < low
    s.ingest([[t0 + 6 * step + 1, 100.0, 101.0, 99.0, 100.0, 1.0]])  # misaligned ts
    s.ingest([row(4, v=10.5)])  # stale state of a closed candle (volume shrank)
    assert s.invalid_dropped == 2
    assert s.duplicates_dropped == 1
    assert s.out_of_order_dropped == 3
    stamps = [c.timestamp for c in s.buffer.closed]
    assert stamps == [t0 + i * step for i in range(5)]
    assert s.buffer.closed[-1].volume == 11.0
    assert s.buffer.forming.timestamp == t0 + 5 * step
    # Queued for the database: exactly the closed candles, each once.
    keys = sorted(k[2] for k in eng.writer.pending_keys())
    assert keys == [t0 + i * step for i in range(5)]


def test_a_replayed_frame_is_one_duplicate_whether_or_not_the_engine_reads_it_twice():
    """Regression: on a loaded machine the engine read a replayed frame's rows on its own
    after the frame inspector had counted the replay, so one duplicate push showed as 2."""
    cfg = make_config([BTC], ["1m"], heal_gaps=False)
    eng = DataEngine(cfg, None, RateLimiter.from_exchange_config(cfg.exchange), verify_closes=False)
    s = eng.streams[0]
    step = 60_000
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % step

    def row(i: int, c: float = 100.5) -> list:
        return [t0 + i * step, 100.0, 101.0, 99.0, c, 10.0]

    s.ingest([row(i) for i in range(3)], resync=True)  # closed 0, 1; forming 2
    # A push carries the candle that just closed and the new forming one.
    frame = [row(2, c=100.7), row(3)]
    # Replay merged into the read of the original frame: the inspector alone counts it.
    s.ingest(frame)
    s.count_silent_frame("duplicate")
    assert s.duplicates_dropped == 1
    # Replay read on its own (the engine woke between the two frames): still one more.
    frame = [row(3, c=100.9), row(4)]
    s.ingest(frame)
    s.count_silent_frame("duplicate")
    s.ingest(frame)
    assert s.duplicates_dropped == 2
    # A later duplicate the inspector did not see is still counted.
    s.ingest(frame)
    assert s.duplicates_dropped == 3


@pytest.mark.slow
async def test_callbacks_sync_async_and_raising_and_get_data(tmp_path):
    cfg = make_config([BTC], ["1m", "5m"])
    sync_seen: list[Candle] = []
    async_seen: list[Candle] = []

    async def slow(c: Candle) -> None:
        await asyncio.sleep(0)
        async_seen.append(c)

    def boom(c: Candle) -> None:
        raise RuntimeError("strategy bug")

    async with rig(tmp_path, cfg) as r:
        eng = r.engine
        eng.on_candle(boom)
        eng.on_candle(sync_seen.append)
        eng.on_candle(slow)
        await wait_for(lambda: all_live(eng), what="streams live")
        await closes_after(eng, 3)
        assert all_live(eng)
        data = eng.get_data(BTC)
        assert isinstance(data, MultiTimeframeData)
        assert set(data.candles) == {TimeFrame.M1, TimeFrame.M5}
        m1 = data.candles[TimeFrame.M1]
        assert len(m1) > 100 and _clean(m1)
        assert data.latest(TimeFrame.M1).timestamp == eng.streams[0].buffer.forming.timestamp
        closed_only = eng.get_data(BTC, include_forming=False).candles[TimeFrame.M1]
        assert len(closed_only) == len(m1) - 1
    # Callbacks saw live closes only (not the 500-row history), in order, and survived `boom`.
    m1_seen = [c.timestamp for c in sync_seen if c.timeframe is TimeFrame.M1]
    assert len(m1_seen) >= 3 and m1_seen == sorted(m1_seen)
    assert len(sync_seen) < 50
    assert [c.timestamp for c in async_seen] == [c.timestamp for c in sync_seen]


async def test_stop_flushes_everything_received(tmp_path):
    cfg = make_config([BTC], ["1m"], flush_interval_s=60.0)  # only the stop flush writes
    async with rig(tmp_path, cfg) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), what="streams live")
        await closes_after(eng, 3)
        held = {c.timestamp for c in eng.streams[0].buffer.closed}
        assert await r.db.get_latest_candle_timestamp(BTC, "1m") is None  # nothing flushed yet
        await eng.stop()
        stored = {c.timestamp for c in await r.db.get_candles(BTC, "1m")}
        assert held <= stored
        assert eng.snapshot().streams[0].state is StreamState.STOPPED
    await assert_all_match_truth(r)


_STEP = 60_000
_T0 = 1_700_000_000_000 - 1_700_000_000_000 % _STEP


def _listening_engine() -> tuple[DataEngine, list[Candle]]:
    """An engine (no network) with one BTC 1m stream and a callback that records closes."""
    cfg = make_config([BTC], ["1m"], heal_gaps=False)
    eng = DataEngine(cfg, None, RateLimiter.from_exchange_config(cfg.exchange), verify_closes=False)
    got: list[Candle] = []
    eng.on_candle(got.append)
    return eng, got


def _minute(i: int) -> Candle:
    return Candle(
        symbol=BTC,
        timeframe=TimeFrame.M1,
        timestamp=_T0 + i * _STEP,
        open=100,
        high=101,
        low=99,
        close=100.5,
        volume=1,
    )


def test_callbacks_hear_of_closes_that_only_a_rest_heal_delivered():
    # Regression: closes filled in over REST (a skipped push, a gap) never reached on_candle,
    # so a subscriber silently missed candles the engine stored.
    eng, got = _listening_engine()
    stream = eng.streams[0]
    healed = [_minute(2), _minute(1)]
    eng.apply_rest(stream, healed)
    assert [c.timestamp for c in got] == [_T0 + _STEP, _T0 + 2 * _STEP]  # once each, in order
    eng.apply_rest(stream, healed)  # the same candles again: nothing new to tell
    assert len(got) == 2


def test_callbacks_hear_of_closes_a_reconnection_snapshot_brings():
    # Regression: closes that arrived in a resubscription snapshot (missed while disconnected)
    # never reached on_candle; the first snapshot's history must still not be replayed.
    eng, got = _listening_engine()
    stream = eng.streams[0]
    eng.stream_closed(stream, [_minute(1), _minute(2)], corrected=False, live=False)
    assert got == []  # the first snapshot is history
    eng.stream_closed(stream, [_minute(3)], corrected=False, live=True)
    eng.stream_closed(stream, [_minute(i) for i in (2, 3, 4, 5)], corrected=False, live=False)
    assert [(c.timestamp - _T0) // _STEP for c in got] == [3, 4, 5]
