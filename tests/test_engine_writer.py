"""The engine's write queue: bounded while the database is down, never dropping silently."""

from __future__ import annotations

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.store import Database
from scalp_radar.engine.writer import CandleWriter

BTC = "BTC/USDT:USDT"
STEP = 60_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % STEP


def candle(i: int, close: float = 100.5) -> Candle:
    return Candle(
        symbol=BTC,
        timeframe=TimeFrame.M1,
        timestamp=T0 + i * STEP,
        open=100.0,
        high=101.0,
        low=99.0,
        close=close,
        volume=10.0,
    )


async def test_outage_keeps_a_bounded_backlog_and_reports_what_it_dropped(tmp_path):
    reports: list[tuple[str, str]] = []
    path = tmp_path / "down.db"
    db = Database(path)
    await db.init()
    writer = CandleWriter(db, report=lambda kind, msg: reports.append((kind, msg)), max_backlog=5)
    await db.close()  # the database goes away: every write fails from now on
    for i in range(8):
        writer.queue(candle(i))
    assert await writer.flush() == 0
    assert not writer.database_ok
    assert writer.backlog == 5 and writer.dropped == 3
    kinds = [k for k, _ in reports]
    assert kinds == ["error", "error"], reports
    assert "database write failed" in reports[0][1] or "database write failed" in reports[1][1]
    assert any("dropping the oldest" in m for _, m in reports)
    # A second failed flush drops nothing more and says nothing new.
    assert await writer.flush() == 0
    assert writer.dropped == 3 and len(reports) == 2

    writer.db = reopened = Database(path)
    await reopened.init()
    try:
        assert await writer.flush() == 5
        assert writer.database_ok and writer.backlog == 0
        stored = [c.timestamp for c in await reopened.get_candles(BTC, "1m")]
        assert stored == [candle(i).timestamp for i in range(3, 8)]  # the oldest were dropped
        assert reports[-1][0] == "database"
        assert "resumed" in reports[-1][1] and "3 candle(s) were dropped" in reports[-1][1]
    finally:
        await reopened.close()


async def test_outage_without_overflow_loses_nothing(tmp_path):
    reports: list[tuple[str, str]] = []
    path = tmp_path / "blip.db"
    db = Database(path)
    await db.init()
    writer = CandleWriter(db, report=lambda kind, msg: reports.append((kind, msg)), max_backlog=50)
    await db.close()
    for i in range(4):
        writer.queue(candle(i))
    writer.queue_fix(candle(2, close=100.9))  # a correction queued while down is kept too
    await writer.flush()
    assert writer.dropped == 0 and not writer.database_ok
    assert [k for k, _ in reports] == ["error"]
    writer.db = reopened = Database(path)
    await reopened.init()
    try:
        await writer.flush()
        stored = {c.timestamp: c.close for c in await reopened.get_candles(BTC, "1m")}
        assert sorted(stored) == [candle(i).timestamp for i in range(4)]
        assert stored[candle(2).timestamp] == 100.9
        assert "resumed" in reports[-1][1] and "dropped" not in reports[-1][1]
    finally:
        await reopened.close()
