"""Hole finding in stored candles, and healing a range from REST.

One mechanism for three callers: the backfill's resume (plan only what is missing), `data repair`
(fetch exactly the holes) and the engine's live gap healing (`heal_range`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from scalp_radar.core.models import Candle, TimeFrame

if TYPE_CHECKING:
    from scalp_radar.core.store import Database
    from scalp_radar.core.limiter import RateLimiter

# Timestamps are read from SQLite in slices of this many candles so a year of 1m candles
# never sits in memory as one Python list.
_SCAN_CANDLES = 100_000


def as_timeframe(timeframe: TimeFrame | str) -> TimeFrame:
    """TimeFrame from a TimeFrame or its string ("1m", "1h", ...)."""
    return timeframe if isinstance(timeframe, TimeFrame) else TimeFrame.from_string(timeframe)


def align_up(tf: TimeFrame, ts_ms: int) -> int:
    """First candle open time >= ts_ms."""
    down = tf.align(ts_ms)
    return down if down == ts_ms else down + tf.to_milliseconds()


def missing_ranges(
    timestamps: Iterable[int], tf: TimeFrame, start_ms: int, end_ms: int
) -> list[tuple[int, int]]:
    """[start, end) ranges of candle open times absent from `timestamps` (sorted, aligned)."""
    step = tf.to_milliseconds()
    start = align_up(tf, start_ms)
    end = align_up(tf, end_ms)
    holes: list[tuple[int, int]] = []
    expected = start
    for ts in timestamps:
        if ts < expected:
            continue  # before the range (or a duplicate): nothing missing here
        if ts >= end:
            break
        if ts > expected:
            holes.append((expected, ts))
        expected = ts + step
    if expected < end:
        holes.append((expected, end))
    return holes


def merge_ranges(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ranges with touching or overlapping neighbours merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


async def find_holes(
    db: Database,
    symbol: str,
    timeframe: TimeFrame | str,
    start_ms: int,
    end_ms: int,
) -> list[tuple[int, int]]:
    """Missing candle ranges [start, end) in the database over [start_ms, end_ms).

    Bounds are aligned to the timeframe (start rounded up, end rounded up: a candle whose open
    time is before end_ms is expected). Ranges come back sorted and merged.
    """
    tf = as_timeframe(timeframe)
    step = tf.to_milliseconds()
    start = align_up(tf, start_ms)
    end = align_up(tf, end_ms)
    holes: list[tuple[int, int]] = []
    slice_start = start
    while slice_start < end:
        slice_end = min(end, slice_start + _SCAN_CANDLES * step)
        stamps = await db.get_candle_timestamps(symbol, tf, slice_start, slice_end)
        holes.extend(missing_ranges(stamps, tf, slice_start, slice_end))
        slice_start = slice_end
    return merge_ranges(holes)


def count_candles(tf: TimeFrame, ranges: Iterable[tuple[int, int]]) -> int:
    """Number of candles the aligned ranges hold."""
    step = tf.to_milliseconds()
    return sum((end - start) // step for start, end in ranges)


async def heal_range(
    exchange: Any,
    db: Database | None,
    limiter: RateLimiter,
    symbol: str,
    timeframe: TimeFrame | str,
    start_ms: int,
    end_ms: int,
    *,
    now_ms: int | None = None,
    retries: int = 3,
) -> list[Candle]:
    """Fetch the closed candles of [start_ms, end_ms) from REST, store them, return them sorted.

    Used by the engine for a live gap: every request waits on `limiter` ("market_data"), pages are
    written with INSERT OR IGNORE (when `db` is given), and a window that keeps failing raises
    `HealError` naming it instead of returning a silently short list. `now_ms` defaults to the
    exchange's clock; only candles closed by then are fetched.
    """
    from scalp_radar.history.backfill import Backfiller, HealError
    from scalp_radar.history.plan import plan_ranges

    tf = as_timeframe(timeframe)
    now = int(now_ms) if now_ms is not None else int(exchange.milliseconds())
    windows = plan_ranges(symbol, tf, [(start_ms, end_ms)], now)
    if not windows:
        return []
    backfiller = Backfiller(exchange, db, limiter, max_concurrency=2, retries=retries)
    candles: list[Candle] = []
    failed: list[str] = []
    for window in windows:
        try:
            candles.extend(await backfiller.fetch_window(window))
        except Exception as exc:  # already retried inside; report by name
            failed.append(f"{window.name} ({type(exc).__name__}: {exc})")
    if failed:
        raise HealError(f"heal incomplete: {len(failed)} windows missing: " + "; ".join(failed))
    candles.sort(key=lambda c: c.timestamp)
    return candles
