"""Regression tests for review findings on the data engine: atomic candle replacement, corrections
arriving during a flush, partly healed gaps, the dashboard's exit wait, liveness on rejected rows,
and REST heals merged at once. Fast: no simulator, engines driven directly."""

from __future__ import annotations

import asyncio
import threading

import pytest

from scalp_radar.core.limiter import RateLimiter
from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.snapshot import StreamState
from scalp_radar.core.store import Database
from scalp_radar.engine import healer as healer_module
from scalp_radar.engine.data_engine import DataEngine
from scalp_radar.engine.runner import EngineRunner
from tests.engine_support import BTC, make_config, wait_for

STEP = 60_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % STEP


def row(i: int, *, c: float = 100.5, v: float = 10.0, h: float = 101.0, lo: float = 99.0) -> list:
    return [T0 + i * STEP, 100.0, h, lo, c, v]


def candle(i: int, **kw: float) -> Candle:
    ts, o, h, lo, c, v = row(i, **kw)
    return Candle(
        symbol=BTC, timeframe=TimeFrame.M1, timestamp=ts, open=o, high=h, low=lo, close=c, volume=v
    )


class FakeExchange:
    """Just enough of a ccxt.pro exchange for one stream: scripted batches, then silence."""

    def __init__(self, batches: list[list[list]] | None = None) -> None:
        self.markets = {BTC: {"id": "BTCUSDT"}}
        self.batches = list(batches or [])

    async def watch_ohlcv(self, symbol: str, timeframe: str) -> list[list]:
        if self.batches:
            return self.batches.pop(0)
        await asyncio.Event().wait()
        return []

    async def close(self) -> None:
        pass


def engine(db: Database | None = None, ex: FakeExchange | None = None, **kw) -> DataEngine:
    cfg = make_config([BTC], ["1m"])
    fake = ex or FakeExchange()
    return DataEngine(
        cfg,
        db,
        RateLimiter.from_exchange_config(cfg.exchange),
        exchange_factory=lambda: fake,
        **{"verify_closes": False, **kw},
    )


@pytest.fixture
async def db(tmp_path):
    database = Database(tmp_path / "review.db")
    await database.init()
    yield database
    await database.close()


# ----- 1. replacing a stored candle is one transaction


@pytest.mark.parametrize("crash_after", [0, 1, 2, 3])
async def test_correction_of_stored_candle_survives_a_kill_at_any_write(tmp_path, crash_after):
    """Kill the process after `crash_after` committed writes of the flush that stores a correction:
    the stored candle is then either its old or its new state, never gone."""
    async with Database(tmp_path / "kill.db") as db:
        eng = engine(db)
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


# ----- 2. a correction arriving while its candle is being written


@pytest.mark.parametrize("source", ["stream", "rest"])
async def test_correction_during_flush_replaces_the_written_candle(db, source):
    eng = engine(db)
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
    eng = engine(db)
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


# ----- 3. a gap clipped to max_heal_candles stays open


async def test_clipped_gap_stays_open_after_its_newest_part_heals(monkeypatch):
    async def fake_heal_range(ex, db, limiter, symbol, tf, start, end, **kw):
        return [candle((ts - T0) // STEP) for ts in range(start, end, STEP)]

    monkeypatch.setattr(healer_module, "heal_range", fake_heal_range)
    monkeypatch.setattr(healer_module, "HEAL_DELAY_S", 0.0)
    eng = engine(max_heal_candles=5)
    s = eng.streams[0]
    s.ingest([row(i) for i in range(3)], resync=True)  # closed 0, 1; forming 2
    s.ingest([row(20)])  # 2 closes; 3..19 (17 candles) missing: heal clipped to 15..19
    assert s.gaps_detected == 1
    await wait_for(lambda: eng.pending_repairs == 0, 5.0, "the heal")
    assert [c.timestamp for c in s.buffer.closed][-5:] == [T0 + i * STEP for i in range(15, 20)]
    assert (s.gaps_detected, s.gaps_healed, s.gaps_open) == (1, 0, 1)
    snap = eng.snapshot(fresh=True).stream(BTC, "1m")
    assert (snap.gaps_healed, snap.gaps_open) == (0, 1)
    heal = [i for i in eng.incidents if i.kind == "heal"]
    assert len(heal) == 1 and "12 older candle(s)" in heal[0].message
    assert "still missing" in heal[0].message


async def test_unclipped_gap_heals_and_closes(monkeypatch):
    async def fake_heal_range(ex, db, limiter, symbol, tf, start, end, **kw):
        return [candle((ts - T0) // STEP) for ts in range(start, end, STEP)]

    monkeypatch.setattr(healer_module, "heal_range", fake_heal_range)
    monkeypatch.setattr(healer_module, "HEAL_DELAY_S", 0.0)
    eng = engine(max_heal_candles=50)
    s = eng.streams[0]
    s.ingest([row(i) for i in range(3)], resync=True)
    s.ingest([row(20)])
    await wait_for(lambda: eng.pending_repairs == 0, 5.0, "the heal")
    assert (s.gaps_detected, s.gaps_healed, s.gaps_open) == (1, 1, 0)


# ----- 4. the dashboard waits for the engine thread before the process exits


class SlowStopRunner(EngineRunner):
    """A runner whose engine finishes its final flush only after `stop()` gave up joining."""

    def __init__(self) -> None:
        super().__init__(make_config([BTC], ["1m"]), db_path=None)
        self.stop_returned = threading.Event()
        self.flushed = threading.Event()

    def stop(self, timeout_s: float = 0.9) -> None:
        super().stop(timeout_s)
        self.stop_returned.set()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        self._started.set()
        await self._stop_event.wait()
        await asyncio.to_thread(self.stop_returned.wait, 10)
        await asyncio.sleep(0.2)  # the final flush, still running after stop() returned
        self.flushed.set()


class QuitAtOnceApp:
    """The app's quit path without a terminal: `q` starts the stop on a helper thread and exits."""

    return_code = 0

    def __init__(self, source) -> None:
        self.source = source
        self._stop_thread: threading.Thread | None = None

    def run(self) -> None:
        self.stop_source()  # the user pressed q: the screen closes at once

    def stop_source(self) -> None:
        if self._stop_thread is None:
            self._stop_thread = threading.Thread(target=self.source.stop, daemon=True)
            self._stop_thread.start()

    def wait_source_stopped(self, timeout_s: float = 2.0) -> bool:
        self.stop_source()
        self._stop_thread.join(timeout_s)
        return not self._stop_thread.is_alive()


def _patch_dashboard(monkeypatch, runner: EngineRunner) -> None:
    import scalp_radar.engine.runner as runner_module
    import scalp_radar.tui.app as app_module

    monkeypatch.setattr(runner_module, "EngineRunner", lambda *a, **kw: runner)
    monkeypatch.setattr(app_module, "make_app", lambda source, **kw: QuitAtOnceApp(source))


def test_quitting_the_dashboard_waits_for_the_engine_final_flush(monkeypatch):
    from scalp_radar.app.dashboard import run_dashboard

    runner = SlowStopRunner()
    _patch_dashboard(monkeypatch, runner)
    assert run_dashboard(make_config([BTC], ["1m"]), db_path=None) == 0
    # Returning means the process exits: the daemon engine thread must have finished first.
    assert runner.flushed.is_set()
    assert runner._thread is None


def test_quitting_with_a_stuck_engine_is_bounded_and_warns(monkeypatch):
    from loguru import logger

    import scalp_radar.app.dashboard as run_module

    runner = SlowStopRunner()
    runner.stop_returned = threading.Event()  # never set: the engine never finishes
    runner.stop = lambda timeout_s=0.9: EngineRunner.stop(runner, timeout_s)  # type: ignore
    _patch_dashboard(monkeypatch, runner)
    monkeypatch.setattr(run_module, "ENGINE_EXIT_WAIT_S", 0.3)
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING")
    try:
        assert run_module.run_dashboard(make_config([BTC], ["1m"]), db_path=None) == 0
    finally:
        logger.remove(sink)
        runner.stop_returned.set()
        runner.join(5)
    assert any("did not finish stopping" in m for m in messages)


# ----- 5. only accepted rows make a stream live and fresh


async def test_stream_fed_only_rejected_rows_is_not_live():
    bad = [[T0 + i * STEP, 100.0, 99.0, 101.0, 100.0, 1.0] for i in range(3)]  # high < low
    eng = engine(ex=FakeExchange([bad]))
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
    eng = engine()
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


# ----- 6. a REST heal merges into the buffer once


async def test_large_rest_heal_merges_once_and_buffer_is_exact():
    eng = engine()
    s = eng.streams[0]
    maxlen = s.buffer.maxlen
    n = min(maxlen, 500)
    s.ingest([row(i) for i in range(0, n, 10)] + [row(n)], resync=True)  # every 10th + forming
    merges = 0
    real_merge = s.buffer.merge

    def counting_merge(candles):
        nonlocal merges
        merges += 1
        return real_merge(candles)

    s.buffer.merge = counting_merge  # type: ignore[method-assign]
    healed = [candle(i, v=10.0 if i % 10 else 12.0) for i in range(n)]  # held ones get fixed
    fixed = eng.apply_rest(s, healed)
    assert merges == 1
    assert fixed == len(range(0, n, 10))
    assert list(s.buffer.closed) == healed
    assert s.buffer.forming.timestamp == T0 + n * STEP
    assert sorted(k[2] for k in eng.writer.pending_keys()) == [c.timestamp for c in healed]
