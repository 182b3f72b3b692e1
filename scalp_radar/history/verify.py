"""`data verify`: re-fetch stored history from the exchange and compare it candle by candle.

For each (symbol, timeframe) the span stored within the asked range (first to last stored candle,
like `data list`'s holes) is fetched again through the shared rate limiter, window by window on
the endpoint that can serve it, closed candles only (the forming one is never compared). Found:
mismatches (a field whose stored value differs from the exchange's), holes (candles the exchange
has and the store lacks), duplicates (stored rows off the timeframe's grid, a second candle for one
period) and stored candles the exchange did not return. `fix=True` replaces mismatches, fills
holes and deletes duplicates, each window in one transaction; stored candles the exchange did not
return are kept (a short answer must never delete history) and stay reported.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from scalp_radar.core.limiter import RateLimiter
from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.store import Database
from scalp_radar.history.backfill import Backfiller
from scalp_radar.history.holes import as_timeframe, merge_ranges
from scalp_radar.history.plan import plan_ranges
from scalp_radar.history.types import CandleSource, Window

COMPARED_FIELDS = ("open", "high", "low", "close", "volume")
# Both sides come from the same decimal strings through the same float parsing; the tolerance
# only absorbs a last-bit difference, never a real price or volume change.
_REL_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One field of one candle: the stored value and the exchange's."""

    name: str
    stored: float
    exchange: float


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A stored candle whose values differ from the exchange's."""

    timestamp: int
    fields: tuple[FieldDiff, ...]


@dataclass(slots=True)
class StreamCheck:
    """What verifying one (symbol, timeframe) found, and what `fix` did about it."""

    symbol: str
    timeframe: str
    start_ms: int
    end_ms: int
    compared: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    holes: list[tuple[int, int]] = field(default_factory=list)
    hole_candles: int = 0
    duplicates: list[int] = field(default_factory=list)
    not_on_exchange: list[int] = field(default_factory=list)
    failed_windows: list[str] = field(default_factory=list)
    replaced: int = 0
    filled: int = 0
    removed: int = 0

    @property
    def problems(self) -> int:
        """Problems found (before any fix)."""
        return (
            len(self.mismatches)
            + self.hole_candles
            + len(self.duplicates)
            + len(self.not_on_exchange)
            + len(self.failed_windows)
        )

    @property
    def remaining(self) -> int:
        """Problems still there after the fix (all of them without one)."""
        fixed = self.replaced + self.filled + self.removed
        return self.problems - fixed


def _differs(stored: float, exchange: float) -> bool:
    return not math.isclose(stored, exchange, rel_tol=_REL_TOL, abs_tol=0.0)


def compare_window(
    stored: Sequence[Candle], exchange: Sequence[Candle], tf: TimeFrame
) -> tuple[list[Mismatch], list[Candle], list[int], list[int]]:
    """(mismatches, exchange candles missing from the store, stored duplicates, stored candles
    the exchange did not return) for one window."""
    truth = {c.timestamp: c for c in exchange}
    mismatches: list[Mismatch] = []
    duplicates: list[int] = []
    extra: list[int] = []
    seen: set[int] = set()
    for candle in stored:
        ts = candle.timestamp
        if tf.align(ts) != ts:
            duplicates.append(ts)
            continue
        seen.add(ts)
        other = truth.get(ts)
        if other is None:
            extra.append(ts)
            continue
        diffs = tuple(
            FieldDiff(name, getattr(candle, name), getattr(other, name))
            for name in COMPARED_FIELDS
            if _differs(getattr(candle, name), getattr(other, name))
        )
        if diffs:
            mismatches.append(Mismatch(ts, diffs))
    missing = [c for ts, c in sorted(truth.items()) if ts not in seen]
    return mismatches, missing, duplicates, extra


async def stored_span(
    db: Database, symbol: str, tf: TimeFrame, start_ms: int, end_ms: int
) -> tuple[int, int] | None:
    """[first, last + one candle) of what is stored in [start_ms, end_ms), or None."""
    first = await db.get_candles(symbol, tf, start_ms, end_ms, limit=1)
    if not first:
        return None
    last = await db.get_candles(symbol, tf, start_ms, end_ms, limit=1, newest=True)
    return first[0].timestamp, last[0].timestamp + tf.to_milliseconds()


async def verify_stream(
    exchange: CandleSource,
    db: Database,
    limiter: RateLimiter,
    symbol: str,
    timeframe: TimeFrame | str,
    start_ms: int,
    end_ms: int,
    now_ms: int,
    *,
    fix: bool = False,
    concurrency: int = 4,
    retries: int = 5,
) -> StreamCheck:
    """Compare the stored span of one stream within [start_ms, end_ms) with the exchange."""
    tf = as_timeframe(timeframe)
    check = StreamCheck(symbol, tf.value, start_ms, end_ms)
    span = await stored_span(db, symbol, tf, start_ms, end_ms)
    if span is None:
        return check
    check.start_ms, check.end_ms = span
    windows = plan_ranges(symbol, tf, [span], now_ms)
    if windows:
        check.end_ms = min(check.end_ms, max(w.end_ms for w in windows))
    backfiller = Backfiller(exchange, None, limiter, max_concurrency=1, retries=retries)

    async def fetch(window: Window) -> list[Candle] | BaseException:
        try:
            return await backfiller.fetch_window(window)
        except Exception as exc:  # already retried; reported by window name
            return exc

    holes: list[tuple[int, int]] = []
    step = tf.to_milliseconds()
    # A few windows at a time: the limiter paces requests, memory holds one batch of pages.
    for first in range(0, len(windows), concurrency):
        batch = windows[first : first + concurrency]
        answers = await asyncio.gather(*(fetch(w) for w in batch))
        for window, answer in zip(batch, answers, strict=True):
            if isinstance(answer, BaseException):
                check.failed_windows.append(f"{window.name} ({type(answer).__name__}: {answer})")
                continue
            stored = await db.get_candles(symbol, tf, window.start_ms, window.end_ms)
            mismatches, missing, duplicates, extra = compare_window(stored, answer, tf)
            check.compared += len(stored) - len(duplicates)
            check.mismatches.extend(mismatches)
            check.duplicates.extend(duplicates)
            check.not_on_exchange.extend(extra)
            check.hole_candles += len(missing)
            holes.extend((c.timestamp, c.timestamp + step) for c in missing)
            if fix:
                await _fix(db, check, answer, mismatches, missing, duplicates)
    check.holes = merge_ranges(holes)
    return check


async def _fix(
    db: Database,
    check: StreamCheck,
    answer: Sequence[Candle],
    mismatches: Sequence[Mismatch],
    missing: Sequence[Candle],
    duplicates: Sequence[int],
) -> None:
    """Write the exchange's values over mismatches and into holes; delete duplicates."""
    wrong = {m.timestamp for m in mismatches}
    writes = [c for c in answer if c.timestamp in wrong] + list(missing)
    if writes:
        await db.replace_candles(writes)
        check.replaced += len(wrong)
        check.filled += len(missing)
    if duplicates:
        check.removed += await db.delete_candles(
            check.symbol, check.timeframe, timestamps=duplicates
        )
