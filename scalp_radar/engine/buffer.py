"""Rolling per-stream candle buffer: bounded closed history plus the forming candle.

Closed history is held as numbers (one `array` per field: ~48 bytes per candle, against ~1.3 kB
for a pydantic `Candle`); `Candle` models are built only at the edges (`closed[i]`, `candles()`,
store writes, callbacks, the detail chart).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import overload

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.store.codec import trusted_candle_maker
from scalp_radar.engine.validator import DataValidator

_FIELDS = ("open", "high", "low", "close", "volume")


def _same(a: Candle, b: Candle) -> bool:
    """`a == b` by field values (pydantic's `__eq__` costs ~1 us more; this runs per update)."""
    return a.__dict__ == b.__dict__


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


class ClosedCandles:
    """Closed candles in ts order, bounded by `maxlen`, stored column-wise as numbers.

    Reads like a sequence of `Candle` (each item is built on access); the rare optional fields
    (vwap, mark price) live in a small side dict.
    """

    __slots__ = (
        "symbol",
        "timeframe",
        "maxlen",
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "extras",
        "version",
    )

    def __init__(self, symbol: str, timeframe: TimeFrame, maxlen: int) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.maxlen = maxlen
        self.ts = array("q")
        self.open = array("d")
        self.high = array("d")
        self.low = array("d")
        self.close = array("d")
        self.volume = array("d")
        self.extras: dict[int, tuple[float | None, float | None]] = {}  # ts -> (vwap, mark)
        self.version = 0  # bumped on every change (snapshot views are cached per version)

    def __len__(self) -> int:
        return len(self.ts)

    def _candle(self, i: int) -> Candle:
        ts = self.ts[i]
        vwap, mark = self.extras.get(ts, (None, None))
        # Values were validated on the way in: construct without re-validating.
        return trusted_candle_maker()(
            {
                "symbol": self.symbol,
                "timeframe": self.timeframe,
                "timestamp": ts,
                "open": self.open[i],
                "high": self.high[i],
                "low": self.low[i],
                "close": self.close[i],
                "volume": self.volume[i],
                "vwap": vwap,
                "mark_price": mark,
            }
        )

    @overload
    def __getitem__(self, i: int) -> Candle: ...
    @overload
    def __getitem__(self, i: slice) -> list[Candle]: ...
    def __getitem__(self, i: int | slice) -> Candle | list[Candle]:
        if isinstance(i, slice):
            return [self._candle(j) for j in range(*i.indices(len(self.ts)))]
        n = len(self.ts)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("closed candle index out of range")
        return self._candle(i)

    def __setitem__(self, i: int, candle: Candle) -> None:
        n = len(self.ts)
        if i < 0:
            i += n
        if self.ts[i] != candle.timestamp:
            raise ValueError("a closed candle is replaced only by one of the same timestamp")
        self._put(i, candle)

    def __iter__(self) -> Iterator[Candle]:
        for i in range(len(self.ts)):
            yield self._candle(i)

    def __reversed__(self) -> Iterator[Candle]:
        for i in range(len(self.ts) - 1, -1, -1):
            yield self._candle(i)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ClosedCandles | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def _put(self, i: int, c: Candle) -> None:
        self.version += 1
        self.open[i] = c.open
        self.high[i] = c.high
        self.low[i] = c.low
        self.close[i] = c.close
        self.volume[i] = c.volume
        self._extras(c)

    def _extras(self, c: Candle) -> None:
        if c.vwap is not None or c.mark_price is not None:
            self.extras[c.timestamp] = (c.vwap, c.mark_price)
        elif self.extras:
            self.extras.pop(c.timestamp, None)

    def append(self, c: Candle) -> None:
        """Add a candle newer than every held one, evicting the oldest beyond `maxlen`."""
        self.version += 1
        self.ts.append(c.timestamp)
        self.open.append(c.open)
        self.high.append(c.high)
        self.low.append(c.low)
        self.close.append(c.close)
        self.volume.append(c.volume)
        self._extras(c)
        over = len(self.ts) - self.maxlen
        if self.maxlen and over > 0:
            self._drop_head(over)

    def _drop_head(self, k: int) -> None:
        if self.extras:
            for ts in self.ts[:k]:
                self.extras.pop(ts, None)
        for col in (self.ts, self.open, self.high, self.low, self.close, self.volume):
            del col[:k]

    def replace_all(self, candles: list[Candle]) -> None:
        """Hold exactly `candles` (ascending, unique ts; the newest `maxlen` are kept)."""
        self.version += 1
        if self.maxlen:
            candles = candles[-self.maxlen :]
        self.extras.clear()
        self.ts = array("q", [c.timestamp for c in candles])
        for name in _FIELDS:
            setattr(self, name, array("d", [getattr(c, name) for c in candles]))
        for c in candles:
            self._extras(c)

    def index_of(self) -> dict[int, int]:
        """ts -> position."""
        return {ts: i for i, ts in enumerate(self.ts)}

    def last_ts(self) -> int | None:
        """Open time of the newest closed candle held, or None."""
        return self.ts[-1] if self.ts else None

    def nbytes(self) -> int:
        """Bytes of the numeric columns (what one stream's history costs)."""
        cols = (self.ts, self.open, self.high, self.low, self.close, self.volume)
        return sum(col.buffer_info()[1] * col.itemsize for col in cols)


class CandleBuffer:
    """Closed candles (ascending, bounded by `maxlen`) and the forming one, keyed by ts."""

    def __init__(self, symbol: str, timeframe: TimeFrame, maxlen: int = 500) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.step = timeframe.to_milliseconds()
        self.closed = ClosedCandles(symbol, timeframe, maxlen)
        self.forming: Candle | None = None
        # Newest closed ts ever seen, even if evicted or only known from the database.
        self.last_closed_ts: int | None = None
        # Bumped on every change, so snapshot builders can skip unchanged buffers.
        self.version = 0

    @property
    def maxlen(self) -> int:
        """Capacity of the closed history."""
        return self.closed.maxlen

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
            self.version += 1
            return ApplyResult(Outcome.FORMING, gap=gap)
        if ts == forming.timestamp:
            if _same(candle, forming):
                return ApplyResult(Outcome.FORMING)  # Bitget repeats the forming candle
            if not DataValidator.is_progression(forming, candle):
                return ApplyResult(Outcome.OUT_OF_ORDER)
            self.forming = candle
            self.version += 1
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

    def replace_forming(self, candle: Candle) -> None:
        """Take `candle` as the forming candle's new state (checked by `next_forming_state`)."""
        self.forming = candle
        self.version += 1

    def _apply_to_last_closed(self, candle: Candle) -> ApplyResult:
        held = self.closed
        if not held or held.ts[-1] != candle.timestamp:
            return ApplyResult(Outcome.DUPLICATE)
        current = held[-1]
        if _same(candle, current):
            return ApplyResult(Outcome.DUPLICATE)
        if DataValidator.is_progression(current, candle):
            held[-1] = candle
            self.version += 1
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
        newest = self.closed.last_ts()
        if newest is not None and candle.timestamp <= newest:
            self.merge([candle])
            return
        self.closed.append(candle)
        self.version += 1
        if self.last_closed_ts is None or candle.timestamp > self.last_closed_ts:
            self.last_closed_ts = candle.timestamp

    def merge(self, candles: Iterable[Candle]) -> list[Candle]:
        """Merge closed candles (healed or loaded) in ts order; returns the ones that were new."""
        forming_ts = self.forming.timestamp if self.forming is not None else None
        incoming = [c for c in candles if forming_ts is None or c.timestamp < forming_ts]
        if not incoming:
            return []
        held = set(self.closed.ts)
        by_ts: dict[int, Candle] = {}
        added: list[Candle] = []
        for c in incoming:
            if c.timestamp not in held and c.timestamp not in by_ts:
                by_ts[c.timestamp] = c
                added.append(c)
        if not by_ts:
            return []
        ordered = sorted([*self.closed, *by_ts.values()], key=lambda c: c.timestamp)
        self.closed.replace_all(ordered)
        self.version += 1
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
        index = self.closed.index_of()
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
                    self.version += 1
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
        if n <= 0:
            return ()
        closes = self.closed.close[-n:].tolist()
        if self.forming is not None:
            closes.append(self.forming.close)
        return tuple(closes[-n:])
