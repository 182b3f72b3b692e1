"""Backfill planner and hole finding: endpoint choice, 90-day span, counts, resume (real SQLite)."""

from __future__ import annotations

import pytest

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.store import Database
from scalp_radar.history.holes import find_holes, missing_ranges
from scalp_radar.history.plan import (
    DAY_MS,
    HISTORY,
    MAX_SPAN_MS,
    RECENT,
    coalesce,
    page_size,
    plan_backfill,
    plan_ranges,
    recent_boundary,
    recent_depth_days,
)
from scalp_radar.history.types import BackfillRequest

SYM = "BTC/USDT:USDT"
# A fixed "now" 25 s into a minute, so the forming 1m candle is visible in the arithmetic.
NOW = 1_790_000_000_000 - 1_790_000_000_000 % 86_400_000 + 12 * 3_600_000 + 25_000
MIN = 60_000


def _candles(tf: TimeFrame, start: int, end: int, symbol: str = SYM) -> list[Candle]:
    step = tf.to_milliseconds()
    return [
        Candle(
            symbol=symbol,
            timeframe=tf,
            timestamp=ts,
            open=100.0,
            high=101.0,
            low=99.0,
            close=100.5,
            volume=1.0,
        )
        for ts in range(start, end, step)
    ]


def _assert_tiling(windows, start: int, end: int) -> None:
    """Windows are contiguous, non-overlapping and cover exactly [start, end)."""
    assert windows[0].start_ms == start
    assert windows[-1].end_ms == end
    for a, b in zip(windows, windows[1:], strict=False):
        assert a.end_ms == b.start_ms


@pytest.fixture
async def db(tmp_path):
    async with Database(tmp_path / "candles.db") as database:
        yield database


def test_recent_depth_stays_inside_ccxt_and_bitget_rules():
    # ccxt switches to history at since <= now - (maxRecentDays - 1) days; Bitget documents the
    # recent endpoint's depth. The planner must stay strictly inside both.
    assert recent_depth_days("1m") == 28
    assert recent_depth_days("15m") == 28  # ccxt's 30 days is tighter than Bitget's 52
    assert recent_depth_days("1h") == 58  # ccxt's 60 is tighter than Bitget's 83
    assert recent_depth_days("4h") == 238
    for tf in TimeFrame:
        assert recent_depth_days(tf) >= 1


def test_endpoint_choice_splits_at_the_recent_boundary():
    start = NOW - 40 * DAY_MS
    windows = plan_ranges(SYM, "1m", [(start, NOW)], NOW)
    boundary = recent_boundary("1m", NOW)
    assert boundary == TimeFrame.M1.align(NOW - 28 * DAY_MS) + MIN
    history = [w for w in windows if w.endpoint == HISTORY]
    recent = [w for w in windows if w.endpoint == RECENT]
    assert history and recent
    assert all(w.end_ms <= boundary for w in history)
    assert all(w.start_ms >= boundary for w in recent)
    # recent windows are never older than ccxt's own switch (now - 29 days), so ccxt calls the
    # endpoint planned here
    assert min(w.start_ms for w in recent) > NOW - 29 * DAY_MS
    _assert_tiling(windows, TimeFrame.M1.align(start) + MIN, TimeFrame.M1.align(NOW))


def test_page_sizes_and_90_day_span_for_every_timeframe():
    for tf in TimeFrame:
        step = tf.to_milliseconds()
        for endpoint in (HISTORY, RECENT):
            n = page_size(tf, endpoint)
            # each request asks n + 1 rows; history spans n + 1 candles, recent n
            assert (n + 1) * step <= MAX_SPAN_MS or (endpoint == RECENT and n * step <= MAX_SPAN_MS)
            assert n + 1 <= (200 if endpoint == HISTORY else 1000)
        windows = plan_ranges(SYM, tf, [(NOW - 3000 * DAY_MS, NOW)], NOW)
        for w in windows:
            assert w.end_ms - w.start_ms <= MAX_SPAN_MS
            assert (w.end_ms - w.start_ms) % step == 0
            assert tf.align(w.start_ms) == w.start_ms
            assert (w.end_ms - w.start_ms) // step <= page_size(tf, w.endpoint)
    assert page_size("1m", HISTORY) == 199
    assert page_size("1m", RECENT) == 999
    assert page_size("1d", HISTORY) == 89
    assert page_size("1w", HISTORY) == 11
    assert page_size("1w", RECENT) == 12  # ccxt caps 1w at 13 rows, the 90-day span at 12
    assert page_size("4h", RECENT) == 539


def test_one_year_of_1m_counts():
    start = TimeFrame.M1.align(NOW - 365 * DAY_MS)
    end = TimeFrame.M1.align(NOW)  # the forming candle is excluded
    windows = plan_ranges(SYM, "1m", [(start, NOW)], NOW)
    boundary = recent_boundary("1m", NOW)
    history_candles = (boundary - start) // MIN
    recent_candles = (end - boundary) // MIN
    assert sum(w.endpoint == HISTORY for w in windows) == -(-history_candles // 199)
    assert sum(w.endpoint == RECENT for w in windows) == -(-recent_candles // 999)
    assert len(windows) == 2480
    _assert_tiling(windows, start, end)


def test_forming_candle_and_future_are_excluded():
    windows = plan_ranges(SYM, "1m", [(NOW - 10 * MIN, NOW + DAY_MS)], NOW)
    assert windows[-1].end_ms == TimeFrame.M1.align(NOW)
    assert plan_ranges(SYM, "1m", [(NOW, NOW + DAY_MS)], NOW) == []


def test_missing_ranges_pure():
    tf = TimeFrame.M1
    stamps = [0, MIN, 3 * MIN, 4 * MIN, 7 * MIN]
    assert missing_ranges(stamps, tf, 0, 9 * MIN) == [
        (2 * MIN, 3 * MIN),
        (5 * MIN, 7 * MIN),
        (8 * MIN, 9 * MIN),
    ]
    assert missing_ranges([], tf, 30_000, 2 * MIN) == [(MIN, 2 * MIN)]  # start rounded up
    assert missing_ranges(range(0, 5 * MIN, MIN), tf, 0, 5 * MIN) == []


def test_coalesce_merges_only_within_one_page():
    tf = TimeFrame.M1
    holes = [(0, MIN), (10 * MIN, 11 * MIN), (500 * MIN, 501 * MIN)]
    assert coalesce(holes, tf) == [(0, 11 * MIN), (500 * MIN, 501 * MIN)]


async def test_find_holes_and_resume_plan(db):
    tf = TimeFrame.M1
    start = tf.align(NOW - 2 * DAY_MS)
    end = tf.align(NOW)
    await db.insert_candles_batch(_candles(tf, start, end))
    # holes made on purpose: 30 minutes, and 5 hours
    await db.delete_candles(SYM, tf, start + 100 * MIN, start + 130 * MIN)
    await db.delete_candles(SYM, tf, start + 1000 * MIN, start + 1300 * MIN)
    holes = await find_holes(db, SYM, tf, start, end)
    assert holes == [
        (start + 100 * MIN, start + 130 * MIN),
        (start + 1000 * MIN, start + 1300 * MIN),
    ]
    request = BackfillRequest((SYM,), ("1m",), start - 60 * MIN, NOW)
    plan = await plan_backfill(request, db, 10.0, NOW)
    # missing: the hour before the stored range plus both holes
    assert plan.expected_candles == 60 + 30 + 300
    assert plan.already_stored == (end - start) // MIN - 330
    covered = sorted((w.start_ms, w.end_ms) for w in plan.windows)
    # the hour before and the 30-minute hole are one page apart at most: one request
    assert covered == [
        (start - 60 * MIN, start + 130 * MIN),
        (start + 1000 * MIN, start + 1300 * MIN),
    ]
    assert all(w.endpoint == RECENT for w in plan.windows)  # 2 days back: recent endpoint
    assert plan.eta_s == pytest.approx(plan.requests / 10.0)
    # force: everything, regardless of what is stored
    forced = await plan_backfill(
        BackfillRequest((SYM,), ("1m",), start - 60 * MIN, NOW, force=True), db, 10.0, NOW
    )
    assert forced.expected_candles == (end - start) // MIN + 60
    assert forced.already_stored == 0
    # nothing missing: nothing planned
    await db.insert_candles_batch(_candles(tf, start - 60 * MIN, end))
    done = await plan_backfill(request, db, 10.0, NOW)
    assert done.requests == 0 and done.expected_candles == 0


async def test_resume_plan_for_history_range_covers_only_holes(db):
    tf = TimeFrame.M5
    start = tf.align(NOW - 100 * DAY_MS)
    end = start + 10 * DAY_MS
    await db.insert_candles_batch(_candles(tf, start, end))
    await db.delete_candles(SYM, tf, start + 3 * DAY_MS, start + 4 * DAY_MS)
    plan = await plan_backfill(BackfillRequest((SYM,), ("5m",), start, end), db, 20.0, NOW)
    assert plan.expected_candles == DAY_MS // tf.to_milliseconds()
    assert all(w.endpoint == HISTORY for w in plan.windows)
    assert plan.windows[0].start_ms == start + 3 * DAY_MS
    assert plan.windows[-1].end_ms == start + 4 * DAY_MS
    assert plan.requests == -(-288 // 199)


async def test_plan_rejects_bad_requests(db):
    with pytest.raises(ValueError, match="since"):
        await plan_backfill(BackfillRequest((SYM,), ("1m",), NOW, NOW - 1), db, 10.0, NOW)
    with pytest.raises(ValueError, match="unknown timeframe"):
        await plan_backfill(BackfillRequest((SYM,), ("7m",), 0, NOW), db, 10.0, NOW)
    with pytest.raises(ValueError, match="symbol"):
        await plan_backfill(BackfillRequest((), ("1m",), 0, NOW), db, 10.0, NOW)
