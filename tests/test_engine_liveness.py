"""A stream counts as live and fresh only on rows it accepted (rejected rows prove nothing)."""

from __future__ import annotations

import asyncio

import pytest

from scalp_radar.core.snapshot import StreamState
from tests.engine_support import STEP, T0, FakeExchange, row, scripted_engine, wait_for


async def test_stream_fed_only_rejected_rows_is_not_live():
    bad = [[T0 + i * STEP, 100.0, 99.0, 101.0, 100.0, 1.0] for i in range(3)]  # high < low
    eng = scripted_engine(ex=FakeExchange([bad]))
    s = eng.streams[0]
    task = asyncio.create_task(s.run())
    try:
        await wait_for(lambda: s.raw_rows == 3, 5.0, "the rejected batch")
        assert s.invalid_dropped == 3
        assert s.state is not StreamState.LIVE
        assert s.last_update_ms is None
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_live_stream_age_not_reset_by_rejected_rows():
    eng = scripted_engine()
    s = eng.streams[0]
    now = [T0 + 10 * STEP]
    eng.clock = type("Clock", (), {"now_ms": lambda self: now[0]})()
    s.ingest([row(i) for i in range(5)], resync=True)
    first = s.last_update_ms
    assert first == now[0]
    now[0] += 30_000
    s.ingest([row(2, c=100.1)])  # out of order
    s.ingest([row(3)])  # duplicate of the last closed candle
    s.ingest([[T0 + 6 * STEP, 100.0, 99.0, 101.0, 100.0, 1.0]])  # invalid
    assert (s.out_of_order_dropped, s.duplicates_dropped, s.invalid_dropped) == (1, 1, 1)
    assert s.last_update_ms == first
    s.ingest([row(4, v=11.0)])  # the forming candle updating is accepted
    assert s.last_update_ms == now[0]
