"""The engine's write queue: bounded while the database is down, never dropping silently;
a correction of a stored candle replaces it in one transaction, even mid-flush."""

from __future__ import annotations

import pytest

from scalp_radar.core.store import Database
from scalp_radar.engine.writer import CandleWriter
from tests.engine_support import (
    BTC,
    ETH,
    STEP,
    T0,
    all_live,
    candle,
    make_config,
    rig,
    row,
    scripted_engine,
    wait_for,
)


@pytest.fixture
async def db(tmp_path):
    async with Database(tmp_path / "writes.db") as database:
        yield database


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
    writer.queue_fix(candle(2, c=100.9))  # a correction queued while down is kept too
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


async def test_subscription_snapshots_over_the_bound_are_written_not_dropped(tmp_path):
    """Each subscription snapshot queues its ~500 closes at once: a healthy database used to drop
    all but `max_backlog` of them (reported as 'database down'), sorting the whole queue once
    per candle. With the database up a full queue is flushed at once and nothing is dropped."""
    cfg = make_config([BTC, ETH], ["1m", "5m"], flush_interval_s=30.0)
    async with rig(tmp_path, cfg) as r:
        r.engine.writer.max_backlog = r.engine.writer.flush_at = 300
        await wait_for(lambda: all_live(r.engine), 15, "streams live")
        await wait_for(lambda: r.engine.writer.backlog < 300, 10, "early flush")
        await r.engine.flush()  # waits for a flush still writing
        assert r.engine.writer.dropped == 0
        assert not [i for i in r.engine.incidents if "backlog full" in i.message]
        for symbol in (BTC, ETH):
            rows = await r.db.get_candles(symbol, "5m")
            assert len(rows) >= 450, f"{symbol}: only {len(rows)} of the snapshot's closes stored"


# ----- replacing a stored candle is one transaction


@pytest.mark.parametrize("crash_after", [0, 1, 2, 3])
async def test_correction_of_stored_candle_survives_a_kill_at_any_write(tmp_path, crash_after):
    """Kill the process after `crash_after` committed writes of the flush that stores a correction:
    the stored candle is then either its old or its new state, never gone."""
    async with Database(tmp_path / "kill.db") as db:
        eng = scripted_engine(db)
        s = eng.streams[0]
        s.ingest([row(i) for i in range(5)], resync=True)  # 4 closed + forming
        await eng.flush()
        s.ingest([row(3, v=12.0)])  # a later state of the stored last closed candle
        real_write = db._write
        calls = 0

        async def killed_after_some_commits(what, body):
            nonlocal calls
            calls += 1
            if calls > crash_after:
                raise RuntimeError("process killed")
            return await real_write(what, body)

        db._write = killed_after_some_commits  # type: ignore[method-assign]
        await eng.flush()
        db._write = real_write  # type: ignore[method-assign]
        stored = {c.timestamp: c.volume for c in await db.get_candles(BTC, "1m")}
        assert stored.get(T0 + 3 * STEP) in (10.0, 12.0)


# ----- a correction arriving while its candle is being written


@pytest.mark.parametrize("source", ["stream", "rest"])
async def test_correction_during_flush_replaces_the_written_candle(db, source):
    eng = scripted_engine(db)
    s = eng.streams[0]
    s.ingest([row(i) for i in range(5)], resync=True)
    real_insert = db.insert_candles_batch
    fired = False

    async def insert_then_correct(batch):
        nonlocal fired
        n = await real_insert(batch)
        if not fired:  # the correction lands while flush() still awaits this insert
            fired = True
            if source == "stream":
                s.ingest([row(3, v=12.0)])
            else:
                assert eng.apply_rest(s, [candle(3, v=12.0)]) == 1
        return n

    db.insert_candles_batch = insert_then_correct  # type: ignore[method-assign]
    await eng.flush()
    await eng.flush()
    assert fired
    stored = {c.timestamp: c.volume for c in await db.get_candles(BTC, "1m")}
    assert stored[T0 + 3 * STEP] == 12.0


async def test_repeated_corrections_during_and_after_flush_keep_the_latest(db):
    eng = scripted_engine(db)
    s = eng.streams[0]
    s.ingest([row(i) for i in range(5)], resync=True)
    real_insert = db.insert_candles_batch

    async def insert_then_correct_twice(batch):
        n = await real_insert(batch)
        db.insert_candles_batch = real_insert  # type: ignore[method-assign]
        s.ingest([row(3, v=11.0)])
        s.ingest([row(3, v=13.0)])
        return n

    db.insert_candles_batch = insert_then_correct_twice  # type: ignore[method-assign]
    await eng.flush()
    await eng.flush()
    stored = {c.timestamp: c.volume for c in await db.get_candles(BTC, "1m")}
    assert stored[T0 + 3 * STEP] == 13.0
    assert sorted(stored) == [T0 + i * STEP for i in range(4)]
