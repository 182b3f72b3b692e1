"""Hole finding in stored candles, and healing a range from REST.

One mechanism for three callers: the backfill's resume (plan only what is missing), `data repair`
(fetch exactly the holes) and the engine's live gap healing (`history.heal`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from scalp_radar.core.models import TimeFrame

if TYPE_CHECKING:
    from scalp_radar.core.store import Database

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
