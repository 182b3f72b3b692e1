"""Backfill runner against the simulator: real ccxt, real SQLite, exact equality with the truth."""

from __future__ import annotations

import asyncio
import time

import pytest

from scalp_radar.core.limiter import RateLimiter, TokenBucket
from scalp_radar.core.models import TimeFrame
from scalp_radar.core.store import Database
from scalp_radar.exchange.clock_sync import follow_server_clock
from scalp_radar.exchange.factory import create_exchange
from scalp_radar.history.backfill import Backfiller, HealError, disable_ccxt_throttle
from scalp_radar.history.heal import heal_range
from scalp_radar.history.holes import find_holes
from scalp_radar.history.plan import DAY_MS, HISTORY, RECENT, plan_backfill
from scalp_radar.history.types import BackfillProgress, BackfillRequest
from scalp_radar.sim import SimClock, SimExchange, SimLimits

SYM = "BTC/USDT:USDT"
MIN = 60_000


@pytest.fixture
async def exchange(sim):
    ex = create_exchange(None, sim_url=sim.url)
    disable_ccxt_throttle(ex)
    await ex.load_markets()
    yield ex
    await ex.close()


@pytest.fixture
async def db(tmp_path):
    async with Database(tmp_path / "candles.db") as database:
        yield database


def _limiter(rate: float = 500.0, burst: float = 50.0) -> RateLimiter:
    return RateLimiter({"market_data": TokenBucket(rate, burst, "market_data")})


def _backfiller(exchange, db, limiter=None, **kw) -> Backfiller:
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("backoff_max_s", 0.05)
    return Backfiller(exchange, db, limiter or _limiter(), **kw)


async def _stored_rows(db, symbol, tf, start, end) -> list[list]:
    return [
        [c.timestamp, c.open, c.high, c.low, c.close, c.volume]
        for c in await db.get_candles(symbol, tf, start, end)
    ]


async def _plan(db, now, start, end, tfs=("1m",), symbols=(SYM,), force=False):
    request = BackfillRequest(tuple(symbols), tuple(tfs), start, end, force)
    return await plan_backfill(request, db, 500.0, now)


async def test_range_across_recent_history_boundary_equals_truth(sim, exchange, db):
    now = sim.clock.now_ms()
    start, end = now - 31 * DAY_MS, now - 27 * DAY_MS
    plan = await _plan(db, now, start, end)
    endpoints = {w.endpoint for w in plan.windows}
    assert endpoints == {HISTORY, RECENT}  # the range really crosses the boundary
    events: list[BackfillProgress] = []
    result = await _backfiller(exchange, db).run(plan, on_progress=events.append)
    assert result.complete, result.summary()
    assert result.windows_done == plan.requests
    assert result.candles_stored == plan.expected_candles == 4 * 1440
    assert result.missing_candles == 0
    truth = sim.truth(SYM, "1m", start, end)
    assert await _stored_rows(db, SYM, "1m", start, end) == truth
    assert len(truth) == 4 * 1440
    # progress events: from 0 to total, monotonic, ETA reaching 0
    assert events[0].windows_done == 0 and events[-1].windows_done == plan.requests
    assert [e.windows_done for e in events] == sorted(e.windows_done for e in events)
    assert events[-1].candles_stored == result.candles_stored and events[-1].eta_s == 0
    # a rerun plans nothing: resume skips what is stored
    again = await _plan(db, sim.clock.now_ms(), start, end)
    assert again.requests == 0 and again.already_stored == 4 * 1440


async def test_several_timeframes_and_symbols_equal_truth(sim, exchange, db):
    now = sim.clock.now_ms()
    start, end = now - 70 * DAY_MS, now
    plan = await _plan(
        db, now, start, end, tfs=("15m", "1h", "4h", "1d"), symbols=(SYM, "ETH/USDT:USDT")
    )
    result = await _backfiller(exchange, db).run(plan)
    assert result.complete, result.summary()
    for symbol in (SYM, "ETH/USDT:USDT"):
        for tf in ("15m", "1h", "4h", "1d"):
            # Closed by the planned `now`: a candle closing while the test runs is not asked for.
            step = TimeFrame(tf).to_milliseconds()
            truth = [r for r in sim.truth(symbol, tf, start, end) if r[0] + step <= now]
            assert truth, (symbol, tf)
            assert await _stored_rows(db, symbol, tf, start, end) == truth, (symbol, tf)


async def test_429_storm_and_5xx_bursts_give_the_exact_result(sim, exchange, db):
    now = sim.clock.now_ms()
    start, end = now - 33 * DAY_MS, now - 32 * DAY_MS  # 8 history pages
    limiter = _limiter()
    sim.faults.inject("rest429", count=6)
    sim.faults.inject("rest5xx", count=3, status=502)
    sim.faults.inject("rest429text", count=3)
    sim.faults.inject("rest5xx", count=2, status=503)
    plan = await _plan(db, now, start, end)
    backfiller = _backfiller(exchange, db, limiter, retries=6, max_concurrency=4)
    result = await backfiller.run(plan)
    assert result.complete, result.summary()
    assert await _stored_rows(db, SYM, "1m", start, end) == sim.truth(SYM, "1m", start, end)
    assert backfiller.rate_limited == 9
    assert limiter.stats()[0].rejected_429 == 9  # every 429 reported to the shared limiter
    assert backfiller.requests_sent == plan.requests + 14


async def test_a_permanently_failing_window_is_reported_by_name(sim, exchange, db):
    now = sim.clock.now_ms()
    start, end = now - 40 * DAY_MS, now - 40 * DAY_MS + 597 * MIN  # 3 history windows
    plan = await _plan(db, now, start, end)
    assert plan.requests == 3
    # one worker, two retries: the first window gets 3 failures in a row and gives up
    sim.faults.inject("rest5xx", count=3, status=500)
    result = await _backfiller(exchange, db, retries=2, max_concurrency=1).run(plan)
    assert not result.complete
    assert len(result.failed_windows) == 1
    assert result.failed_windows[0].startswith(plan.windows[0].name)
    assert "HTTP 500" in result.failed_windows[0]  # the classified reason, not the class name
    assert result.summary().startswith(
        "incomplete: 1 request failed (candles missing): " + plan.windows[0].name
    )
    # the other windows are stored; the failed one is exactly the hole left
    holes = await find_holes(db, SYM, "1m", start, end)
    assert holes == [(plan.windows[0].start_ms, plan.windows[0].end_ms)]


async def test_cancel_keeps_whole_pages_and_a_rerun_completes(sim, exchange, db):
    now = sim.clock.now_ms()
    start, end = now - 50 * DAY_MS, now - 46 * DAY_MS  # 29 history pages
    plan = await _plan(db, now, start, end)
    cancel = asyncio.Event()

    def on_progress(event: BackfillProgress) -> None:
        if event.windows_done >= 5:
            cancel.set()

    slow = _limiter(rate=40.0, burst=1.0)  # slow enough that the cancel lands mid-way
    result = await _backfiller(exchange, db, slow, max_concurrency=2).run(
        plan, on_progress=on_progress, cancel=cancel
    )
    assert result.cancelled and not result.complete
    assert 5 <= result.windows_done < plan.requests
    assert "rerun to complete" in result.summary()
    # every stored candle belongs to a complete window: pages are written whole
    stamps = set(await db.get_candle_timestamps(SYM, "1m", start, end))
    for w in plan.windows:
        inside = {ts for ts in stamps if w.start_ms <= ts < w.end_ms}
        assert len(inside) in (0, (w.end_ms - w.start_ms) // MIN), w.name
    rerun = await _plan(db, sim.clock.now_ms(), start, end)
    assert rerun.already_stored == len(stamps) > 0
    assert (await _backfiller(exchange, db).run(rerun)).complete
    assert await _stored_rows(db, SYM, "1m", start, end) == sim.truth(SYM, "1m", start, end)


async def test_task_cancellation_stops_cleanly(sim, exchange, db):
    now = sim.clock.now_ms()
    start, end = now - 60 * DAY_MS, now - 58 * DAY_MS
    plan = await _plan(db, now, start, end)
    task = asyncio.create_task(_backfiller(exchange, db, _limiter(20.0, 1.0)).run(plan))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await _backfiller(exchange, db).run(await _plan(db, now, start, end))).complete
    assert await _stored_rows(db, SYM, "1m", start, end) == sim.truth(SYM, "1m", start, end)


async def test_before_listing_is_empty_not_a_loop(sim, exchange, db):
    listing = exchange.markets[SYM]["created"]
    start, end = listing - 2 * DAY_MS, listing + 600 * MIN
    now = sim.clock.now_ms()
    plan = await _plan(db, now, start, end)
    backfiller = _backfiller(exchange, db)
    result = await backfiller.run(plan)
    assert result.complete
    assert result.missing_candles == 2 * 1440  # reported, not retried
    assert backfiller.requests_sent == plan.requests  # one request per window, no loop
    assert await _stored_rows(db, SYM, "1m", start, end) == sim.truth(SYM, "1m", start, end)


async def test_heal_range_returns_and_stores_the_gap(sim, exchange, db):
    now = sim.clock.now_ms()
    start, end = now - 2 * DAY_MS, now - 2 * DAY_MS + 1500 * MIN
    limiter = _limiter()
    candles = await heal_range(exchange, db, limiter, SYM, "1m", start, end, now_ms=now)
    truth = sim.truth(SYM, "1m", start, end)
    assert [[c.timestamp, c.open, c.high, c.low, c.close, c.volume] for c in candles] == truth
    assert await _stored_rows(db, SYM, "1m", start, end) == truth
    assert limiter.stats()[0].total_acquired == 2  # 1500 candles = two recent pages
    # without a database it only returns; a future range gives nothing
    assert len(await heal_range(exchange, None, limiter, SYM, "5m", start, end, now_ms=now)) == 300
    assert await heal_range(exchange, db, limiter, SYM, "1m", now + MIN, now + DAY_MS) == []


async def test_heal_range_failure_names_the_window(sim, exchange, db):
    now = sim.clock.now_ms()
    sim.faults.inject("rest5xx", count=10, status=502)
    with pytest.raises(HealError, match="heal incomplete: 1 request failed: BTC/USDT:USDT 1m"):
        await heal_range(
            exchange, db, _limiter(), SYM, "1m", now - 3600_000, now, now_ms=now, retries=1
        )


async def test_exchange_clock_ahead_of_local_clock(tmp_path):
    """A simulator ahead of the local clock (speed > 1): ccxt must follow the server's time."""
    clock = SimClock(start_ms=int(time.time() * 1000) + DAY_MS)
    async with SimExchange(symbols=[SYM], limits=SimLimits.off(), clock=clock) as sim:
        ex = create_exchange(None, sim_url=sim.url)
        disable_ccxt_throttle(ex)
        try:
            await ex.load_markets()
            async with Database(tmp_path / "c.db") as db:
                now = int(await ex.fetch_time())
                start, end = now - 120 * MIN, now
                plan = await _plan(db, now, start, end)
                assert plan.expected_candles >= 119
                # unsynchronised: ccxt clamps endTime to the local clock, a day behind
                short = await _backfiller(ex, None).run(plan)
                assert short.missing_candles == plan.expected_candles
                follow_server_clock(ex, now - int(time.time() * 1000))
                result = await _backfiller(ex, db).run(plan)
                assert result.complete and result.missing_candles == 0
                truth = sim.truth(SYM, "1m", start, end)
                assert len(truth) == plan.expected_candles
                assert await _stored_rows(db, SYM, "1m", start, end) == truth
        finally:
            await ex.close()


@pytest.mark.parametrize("semantics", ["inclusive", "rounded-down"])
async def test_pages_are_whole_whatever_the_endtime_semantics(sim, exchange, db, semantics):
    """Bitget documents endTime only as "rounded down to granularity": the simulator serves
    ts < endTime; here it is switched to ts <= endTime, or to rounding endTime down first, and
    every window must still come back whole."""
    from scalp_radar.sim.timeframes import align

    original = sim.rest._select

    def select(inst, tf, start, end, limit, now, history):
        if end is not None:
            end = end + 1 if semantics == "inclusive" else align(tf, end)
        return original(inst, tf, start, end, limit, now, history)

    sim.rest._select = select
    now = sim.clock.now_ms()
    start, end = now - 30 * DAY_MS, now - 27 * DAY_MS  # history and recent windows
    plan = await _plan(db, now, start, end)
    result = await _backfiller(exchange, db).run(plan)
    assert result.complete and result.missing_candles == 0, result
    assert await _stored_rows(db, SYM, "1m", start, end) == sim.truth(SYM, "1m", start, end)
