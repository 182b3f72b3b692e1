"""Rolling per-stream candle buffer: bounded closed history plus the forming candle."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.engine.validator import DataValidator


class Outcome(StrEnum):
    """What `CandleBuffer.apply` did with one candle."""

    FORMING = "forming"  # first forming candle, or an update of it
    CLOSED = "closed"  # a newer ts arrived: the previous forming candle closed
    CORRECTED = "corrected"  # a later state of the last closed candle replaced it
    DUPLICATE = "duplicate"  # identical to what we hold, or an already closed ts
    OUT_OF_ORDER = "out_of_order"  # older than the last closed candle, or a stale state


@dataclass(slots=True)
class ApplyResult:
    """Outcome of one `apply`, the candles that closed, and a gap found on the way."""

    outcome: Outcome
    closed: list[Candle] = field(default_factory=list)
    gap: tuple[int, int] | None = None  # [start, end) of missing candle open times


class CandleBuffer:
    """Closed candles (ascending, bounded by `maxlen`) and the forming one, keyed by ts."""

    def __init__(self, symbol: str, timeframe: TimeFrame, maxlen: int = 500) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.step = timeframe.to_milliseconds()
        self.closed: deque[Candle] = deque(maxlen=maxlen)
        self.forming: Candle | None = None
        # Newest closed ts ever seen, even if evicted or only known from the database.
        self.last_closed_ts: int | None = None

    @property
    def maxlen(self) -> int:
        """Capacity of the closed history."""
        return self.closed.maxlen or 0

    def __len__(self) -> int:
        return len(self.closed) + (1 if self.forming is not None else 0)

    def seed(self, candles: Iterable[Candle]) -> None:
        """Load closed history (e.g. from the database) before streaming starts."""
        self.merge(candles)

    def apply(self, candle: Candle, *, resync: bool = False) -> ApplyResult:
        """Feed one validated candle in stream order.

        `resync` marks rows from a (re)subscription snapshot: old rows there are expected history,
        not faults, so they are reported as duplicates rather than out-of-order.
        """
        ts = candle.timestamp
        last = self.last_closed_ts
        if last is not None and ts < last:
            return ApplyResult(Outcome.DUPLICATE if resync else Outcome.OUT_OF_ORDER)
        if last is not None and ts == last:
            return self._apply_to_last_closed(candle)
        forming = self.forming
        if forming is None:
            gap = self._gap_before(ts)
            self.forming = candle
            return ApplyResult(Outcome.FORMING, gap=gap)
        if ts == forming.timestamp:
            if candle == forming:
                return ApplyResult(Outcome.FORMING)  # Bitget repeats the forming candle
            if not DataValidator.is_progression(forming, candle):
                return ApplyResult(Outcome.OUT_OF_ORDER)
            self.forming = candle
            return ApplyResult(Outcome.FORMING)
        if ts < forming.timestamp:
            # A candle between the last closed one and the forming one: it was skipped
            # before and arrives late. Treat it as closed history if it fills a hole.
            if resync:
                self._close(candle)
                return ApplyResult(Outcome.CLOSED, closed=[candle])
            return ApplyResult(Outcome.OUT_OF_ORDER)
        # ts > forming: the forming candle has closed.
        closed = forming
        self._close(closed)
        gap = self._gap_before(ts)
        self.forming = candle
        return ApplyResult(Outcome.CLOSED, closed=[closed], gap=gap)

    def _apply_to_last_closed(self, candle: Candle) -> ApplyResult:
        current = self.closed[-1] if self.closed else None
        if current is None or current.timestamp != candle.timestamp:
            return ApplyResult(Outcome.DUPLICATE)
        if candle == current:
            return ApplyResult(Outcome.DUPLICATE)
        if DataValidator.is_progression(current, candle):
            self.closed[-1] = candle
            return ApplyResult(Outcome.CORRECTED, closed=[candle])
        return ApplyResult(Outcome.OUT_OF_ORDER)

    def _gap_before(self, ts: int) -> tuple[int, int] | None:
        last = self.last_closed_ts
        if last is None:
            return None
        if DataValidator.check_gap(last, ts, self.timeframe) > 0:
            return (last + self.step, ts)
        return None

    def _close(self, candle: Candle) -> None:
        if self.closed and candle.timestamp <= self.closed[-1].timestamp:
            self.merge([candle])
            return
        self.closed.append(candle)
        if self.last_closed_ts is None or candle.timestamp > self.last_closed_ts:
            self.last_closed_ts = candle.timestamp

    def merge(self, candles: Iterable[Candle]) -> list[Candle]:
        """Merge closed candles (healed or loaded) in ts order; returns the ones that were new."""
        incoming = [
            c for c in candles if self.forming is None or c.timestamp < self.forming.timestamp
        ]
        if not incoming:
            return []
        by_ts = {c.timestamp: c for c in self.closed}
        added = [c for c in incoming if c.timestamp not in by_ts]
        for c in incoming:
            by_ts.setdefault(c.timestamp, c)
        ordered = sorted(by_ts.values(), key=lambda c: c.timestamp)
        self.closed = deque(ordered[-self.maxlen :] if self.maxlen else ordered, maxlen=self.maxlen)
        newest = ordered[-1].timestamp
        if self.last_closed_ts is None or newest > self.last_closed_ts:
            self.last_closed_ts = newest
        return added

    def upsert(self, candle: Candle) -> str:
        """Put an authoritative closed candle (from REST): "added", "replaced" or "same"."""
        return self.upsert_many([candle])[0]

    def upsert_many(self, candles: Iterable[Candle]) -> list[str]:
        """`upsert` each candle, merging all the new ones at once; one outcome per candle.

        Held candles are replaced in place; the rest go through a single `merge` (one sort),
        so a heal of n candles costs O(n log n), not n rebuilds of the buffer.
        """
        forming_ts = self.forming.timestamp if self.forming is not None else None
        index = {c.timestamp: i for i, c in enumerate(self.closed)}
        new: dict[int, Candle] = {}
        outcomes: list[str] = []
        for c in candles:
            ts = c.timestamp
            if forming_ts is not None and ts >= forming_ts:
                outcomes.append("same")
                continue
            i = index.get(ts)
            if i is not None:
                if self.closed[i] == c:
                    outcomes.append("same")
                else:
                    self.closed[i] = c
                    outcomes.append("replaced")
                continue
            if ts in new:
                outcomes.append("same" if new[ts] == c else "replaced")
            else:
                outcomes.append("added")
            new[ts] = c
        if new:
            self.merge(new.values())
        return outcomes

    def candles(self, include_forming: bool = False) -> list[Candle]:
        """Closed candles ascending, plus the forming one when asked."""
        out = list(self.closed)
        if include_forming and self.forming is not None:
            out.append(self.forming)
        return out

    def recent_closes(self, n: int) -> tuple[float, ...]:
        """Closes of the last `n` candles (forming included) for sparklines."""
        closes = [c.close for c in list(self.closed)[-n:]]
        if self.forming is not None:
            closes.append(self.forming.close)
        return tuple(closes[-n:])
