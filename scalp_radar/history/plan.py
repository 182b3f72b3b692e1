"""Backfill planner: which windows to fetch, on which Bitget endpoint, and how long it will take.

Pure computation plus one database read per (symbol, timeframe) for resume; no network.

Endpoint rules (see shared/bitget-v2-public.md section 1):
- `candles` (recent) gives up to 1000 rows but only a limited depth back from now; ccxt itself
  switches to `history-candles` when `since <= now - (maxRecentDays - 1) days`. A window goes to the
  recent endpoint only when it starts safely inside both ccxt's rule and Bitget's documented depth,
  one extra day of margin included, so the endpoint ccxt calls is the one planned here.
- `history-candles` gives at most 200 rows per request.
- A request never spans more than 90 days (Bitget rejects larger startTime..endTime spans).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from scalp_radar.core.bitget_depth import RECENT_CANDLES_DEPTH_DAYS
from scalp_radar.core.models import TimeFrame
from scalp_radar.core.numfmt import count
from scalp_radar.core.timefmt import duration
from scalp_radar.history.holes import align_up, as_timeframe, count_candles, find_holes
from scalp_radar.history.types import BackfillPlan, BackfillRequest, Window

if TYPE_CHECKING:
    from scalp_radar.core.store import Database

RECENT = "candles"
HISTORY = "history-candles"
DAY_MS = 86_400_000
MAX_SPAN_MS = 90 * DAY_MS
RECENT_PAGE = 1000  # row limit of /candles
HISTORY_PAGE = 200  # row limit of /history-candles

# ccxt's options.fetchOHLCV.maxRecentDaysPerTimeframe (4.5.x).
_CCXT_RECENT_DAYS = {
    "1m": 30,
    "3m": 30,
    "5m": 30,
    "15m": 30,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "12h": 720,
    "1d": 1440,
    "1w": 1440 * 7,
}
# ccxt caps a user-supplied limit per timeframe on swap markets (maxLimitPerTimeframe).
_CCXT_RECENT_CAP = {"4h": 540, "6h": 360, "12h": 180, "1d": 90, "1w": 13}
# One day of margin below the tighter of the two rules: ccxt decides with its own clock at
# request time, which may run behind or ahead of the planner's `now` by seconds or minutes.
_MARGIN_DAYS = 1


def recent_depth_days(timeframe: TimeFrame | str) -> int:
    """Days back from now within which a window may use the recent endpoint."""
    tf = as_timeframe(timeframe).value
    ccxt_days = _CCXT_RECENT_DAYS[tf] - 1
    bitget_days = RECENT_CANDLES_DEPTH_DAYS.get(tf, ccxt_days)
    return min(ccxt_days, bitget_days) - _MARGIN_DAYS


def recent_boundary(timeframe: TimeFrame | str, now_ms: int) -> int:
    """Earliest candle open time served from the recent endpoint; older goes to history."""
    tf = as_timeframe(timeframe)
    return align_up(tf, now_ms - recent_depth_days(tf) * DAY_MS)


def page_size(timeframe: TimeFrame | str, endpoint: str) -> int:
    """Candles per window on `endpoint`: one less than the request's row limit.

    Each request asks for n + 1 rows ending at the window's end (see Backfiller._request), so the
    page is complete whether Bitget's endTime is inclusive, exclusive or rounded down; the
    request's span, (n + 1) candles on history and n on recent, stays within 90 days.
    """
    tf = as_timeframe(timeframe)
    by_span = MAX_SPAN_MS // tf.to_milliseconds()
    if endpoint == HISTORY:
        return max(1, min(HISTORY_PAGE, by_span) - 1)
    cap = min(RECENT_PAGE, _CCXT_RECENT_CAP.get(tf.value, RECENT_PAGE))
    return max(1, min(cap - 1, by_span))


def closed_end(timeframe: TimeFrame | str, now_ms: int) -> int:
    """Exclusive end of the closed candles at now_ms (the forming candle is excluded)."""
    return as_timeframe(timeframe).align(now_ms)


def split_windows(
    symbol: str, tf: TimeFrame, start: int, end: int, endpoint: str
) -> Iterable[Window]:
    """Consecutive windows of one page each over aligned [start, end) on `endpoint`."""
    step = page_size(tf, endpoint) * tf.to_milliseconds()
    while start < end:
        stop = min(end, start + step)
        yield Window(symbol, tf.value, start, stop, endpoint)
        start = stop


def coalesce(
    ranges: Sequence[tuple[int, int]], tf: TimeFrame, page: int = HISTORY_PAGE - 1
) -> list[tuple[int, int]]:
    """Merge nearby holes whose union still fits one history page (fewer requests).

    Re-fetching the few stored candles between them is harmless: writes are INSERT OR IGNORE.
    """
    span = page * tf.to_milliseconds()
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and end - out[-1][0] <= span:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def plan_ranges(
    symbol: str,
    timeframe: TimeFrame | str,
    ranges: Iterable[tuple[int, int]],
    now_ms: int,
) -> list[Window]:
    """Windows covering the closed candles of `ranges`, each on the endpoint that can serve it."""
    tf = as_timeframe(timeframe)
    last = closed_end(tf, now_ms)
    boundary = recent_boundary(tf, now_ms)
    windows: list[Window] = []
    for raw_start, raw_end in ranges:
        start, end = align_up(tf, raw_start), min(align_up(tf, raw_end), last)
        if start >= end:
            continue
        if start < boundary:
            windows.extend(split_windows(symbol, tf, start, min(end, boundary), HISTORY))
        if end > boundary:
            windows.extend(split_windows(symbol, tf, max(start, boundary), end, RECENT))
    return windows


def validate_request(request: BackfillRequest) -> None:
    """Raise ValueError (one line) for an empty, unknown or inverted request."""
    if not request.symbols:
        raise ValueError("backfill: expected at least one symbol")
    if not request.timeframes:
        raise ValueError("backfill: expected at least one timeframe")
    for tf in request.timeframes:
        TimeFrame.from_string(tf)
    if request.since_ms >= request.until_ms:
        raise ValueError(
            f"backfill: since ({request.since_ms}) must be before until ({request.until_ms})"
        )


async def plan_backfill(
    request: BackfillRequest,
    db: Database | None,
    limiter_rate_per_s: float,
    now_ms: int,
) -> BackfillPlan:
    """Plan the windows for `request`; unless `force`, only the candles missing from `db`.

    The range is clipped to closed candles at `now_ms`. ETA = requests / limiter rate. `db` may be
    None only with `force`.
    """
    validate_request(request)
    if db is None and not request.force:
        raise ValueError("backfill: a database is needed to plan a resume (or use force)")
    windows: list[Window] = []
    expected = 0
    stored = 0
    for symbol in request.symbols:
        for tf_text in request.timeframes:
            tf = TimeFrame.from_string(tf_text)
            start = align_up(tf, request.since_ms)
            end = min(align_up(tf, request.until_ms), closed_end(tf, now_ms))
            if start >= end:
                continue
            if request.force:
                holes = [(start, end)]
            else:
                assert db is not None
                holes = await find_holes(db, symbol, tf, start, end)
            missing = count_candles(tf, holes)
            expected += missing
            stored += count_candles(tf, [(start, end)]) - missing
            windows.extend(plan_ranges(symbol, tf, coalesce(holes, tf), now_ms))
    rate = limiter_rate_per_s if limiter_rate_per_s > 0 else 1.0
    return BackfillPlan(
        windows=tuple(windows),
        expected_candles=expected,
        eta_s=len(windows) / rate,
        already_stored=stored,
        now_ms=now_ms,
        force=request.force,
    )


def describe_plan(plan: BackfillPlan) -> list[str]:
    """Human lines for a plan: per endpoint request counts, candles, ETA."""
    recent = sum(1 for w in plan.windows if w.endpoint == RECENT)
    history = plan.requests - recent
    split = (
        f" ({history:,} for older history, {recent:,} for the latest candles)"
        if recent and history
        else ""
    )
    lines = [
        f"plan: {count(plan.requests, 'request')}{split}, "
        f"{count(plan.expected_candles, 'candle')} to fetch, {plan.already_stored:,} already stored, "
        f"ETA {duration(plan.eta_s)}"
    ]
    return lines
