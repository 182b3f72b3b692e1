"""Snapshot deltas for the daemon's viewers: what changed since the snapshot a viewer last got.

A `DeltaFrame` carries the small parts of an `EngineSnapshot` whole (connection, limiter, shards,
the universe's counters) and, for the big ones, only what differs from the viewer's base:
- universe rows: the engine rebuilds a `TickerRow` only when its symbol got a ticker and reuses
  the object otherwise, so finding the changed rows is one pointer check per row; changed rows
  travel as arrays (`WireRow`, half the bytes of a field-named map);
- streams: each whole but for its candles and closes, which are spliced from the base's (the
  closed candles stay, the forming one moves): a few hundred bytes instead of ~7 KB a stream;
- incidents: the new ones, newest first, on top of the base's.
`apply_delta(base, frame)` rebuilds a snapshot equal to the daemon's, field for field.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

import msgspec

from scalp_radar.core.snapshot import (
    BucketStats,
    CandleView,
    ConnectionFacts,
    EngineSnapshot,
    Incident,
    StreamSnapshot,
    TickerRow,
    UniverseSnapshot,
)

T = TypeVar("T")


class DeltaError(ValueError):
    """A delta that does not fit the base it names (a broken or mismatched stream of frames)."""


def _same(a: object, b: object) -> bool:
    # Identity first: the engine reuses unchanged objects, so this is usually a pointer check.
    return a is b or (type(a) is type(b) and a == b)


def _run(base: Sequence[T], i: int, new: Sequence[T], j: int) -> int:
    """How many items from base[i] on equal those from new[j] on."""
    m = min(len(base) - i, len(new) - j)
    n = 0
    while n < m:
        # Skip the items that are the very same objects (nearly all of a sliding window) in C:
        # this runs once per stream per snapshot, and an item-by-item loop was most of a delta.
        differ = map(operator.is_not, base[i + n : i + m], new[j + n : j + m])
        n += next(itertools.compress(itertools.count(), differ), m - n)
        if n < m and _same(base[i + n], new[j + n]):
            n += 1
        else:
            break
    return n


def splice_of(base: Sequence[T], new: Sequence[T]) -> tuple[tuple[T, ...], int, int, tuple[T, ...]]:
    """(head, start, stop, tail) with new == head + base[start:stop] + tail, small head and tail
    for the two shapes snapshots change in: a window sliding on (candles, closes) and items
    pushed on top (incidents, newest first)."""
    if not base or not new:
        return (), 0, 0, tuple(new)
    n = len(new)
    if len(base) == n and all(map(operator.is_, base[: n - 1], new[: n - 1])):
        # The usual step, checked in C: the same closed candles, the forming one moved.
        last = new[-1]
        return ((), 0, n, ()) if base[-1] is last else ((), 0, n - 1, (last,))
    # A sliding window: new starts somewhere inside base.
    start = _find(base, new[0])
    if start >= 0:
        n = _run(base, start, new, 0)
        return (), start, start + n, tuple(new[n:])
    # Pushed on top: base starts somewhere inside new.
    at = _find(new, base[0])
    if at >= 0:
        n = _run(base, 0, new, at)
        return tuple(new[:at]), 0, n, tuple(new[at + n :])
    return (), 0, 0, tuple(new)


def _find(items: Sequence[T], x: T) -> int:
    """The first position of `x` in `items` (the same object, else an equal one), or -1."""
    for i, y in enumerate(items):
        if y is x:
            return i
    for i, y in enumerate(items):
        if _same(y, x):
            return i
    return -1


class Splice(msgspec.Struct, Generic[T], frozen=True, array_like=True):
    """A sequence as `head + base[start:stop] + tail` (see `splice_of`); typed by its items, so
    `Splice[CandleView]` decodes as candle views."""

    head: tuple[T, ...] = ()
    start: int = 0
    stop: int = 0
    tail: tuple[T, ...] = ()


def spliced(base: tuple[T, ...], s: Splice[T]) -> tuple[T, ...]:
    """The sequence `s` describes on `base`; DeltaError if it does not fit."""
    if not 0 <= s.start <= s.stop <= len(base):
        raise DeltaError(f"splice {s.start}:{s.stop} outside a base of {len(base)}")
    return (*s.head, *base[s.start : s.stop], *s.tail)


class StreamPatch(msgspec.Struct, frozen=True, array_like=True):
    """One stream of the new snapshot: whole if `base` < 0, else its candles and closes are
    spliced from stream number `base` of the base snapshot (they travel empty in `stream`)."""

    stream: StreamSnapshot
    base: int = -1
    candles: Splice[CandleView] = Splice()
    closes: Splice[float] = Splice()


def _array_form(cls: type[msgspec.Struct], name: str) -> type[msgspec.Struct]:
    """A frozen array-like Struct with the Struct `cls`'s fields: names, types, defaults, order."""
    spec = [
        (f.name, f.type) if f.required else (f.name, f.type, f.default)
        for f in msgspec.structs.fields(cls)
    ]
    return msgspec.defstruct(name, spec, frozen=True, array_like=True, module=__name__)


# A `TickerRow` as an array (half the bytes of a field-named map), derived from it so the two
# cannot drift apart. mypy cannot see a class made at run time: it checks it as a Struct.
if TYPE_CHECKING:
    WireRow = msgspec.Struct
else:
    WireRow = _array_form(TickerRow, "WireRow")

_row_values = operator.attrgetter(*WireRow.__struct_fields__)


def wire_row(row: TickerRow) -> WireRow:
    """The array form of `row`."""
    return WireRow(*_row_values(row))


def ticker_row(row: WireRow) -> TickerRow:
    """The `TickerRow` of an array form."""
    return TickerRow(*msgspec.structs.astuple(row))


class DeltaFrame(msgspec.Struct, frozen=True, tag="delta"):
    """Snapshot `seq` as a change to snapshot `base`, the last one this viewer received.

    `universe` travels without rows. The new rows are the base's (in `order` by symbol, or in the
    base's order when `order` is None) with `rows[i]` put at position `rows_at[i]`; symbols that
    left the universe are simply absent from `order`.
    """

    seq: int
    base: int
    taken_at_ms: int
    limiter: tuple[BucketStats, ...]
    connection: ConnectionFacts
    universe: UniverseSnapshot
    streams: tuple[StreamPatch, ...]
    incidents: Splice[Incident] = Splice()
    rows_at: tuple[int, ...] = ()
    rows: tuple[WireRow, ...] = ()
    order: tuple[str, ...] | None = None


def _stream_patches(
    base: tuple[StreamSnapshot, ...], new: tuple[StreamSnapshot, ...]
) -> tuple[StreamPatch, ...]:
    """Each stream of `new` against the same stream of `base` (at the same position, as the
    engine keeps them, else found by key), or whole when `base` has none."""
    index: dict[tuple[str, str], int] | None = None  # built only when the streams moved
    patches = []
    for at, s in enumerate(new):
        b = base[at] if at < len(base) else None
        if b is None or b.symbol != s.symbol or b.timeframe != s.timeframe:
            if index is None:
                index = {(x.symbol, x.timeframe): k for k, x in enumerate(base)}
            at = index.get((s.symbol, s.timeframe), -1)
            if at < 0:
                patches.append(StreamPatch(s))
                continue
            b = base[at]
        patches.append(
            StreamPatch(
                s.without_candles(),
                at,
                Splice(*splice_of(b.recent_candles, s.recent_candles)),
                Splice(*splice_of(b.recent_closes, s.recent_closes)),
            )
        )
    return tuple(patches)


def rebuilt_rows(base: tuple[TickerRow, ...], rows: tuple[TickerRow, ...]) -> list[int] | None:
    """Positions of the rows the engine rebuilt since `base` (new objects; found in C), or None
    when symbols came, went or moved (no longer the same symbols at the same positions)."""
    if len(base) != len(rows):
        return None
    at = list(itertools.compress(itertools.count(), map(operator.is_not, base, rows)))
    if any(base[i].symbol != rows[i].symbol for i in at):
        return None
    return at


def place_rows(rows: list[TickerRow], at: Sequence[int], sent: Sequence[WireRow]) -> None:
    """Put each of the `sent` rows at its position in `at`; DeltaError if they do not fit."""
    if len(at) != len(sent):
        raise DeltaError("rows_at and rows differ in length")
    for i, r in zip(at, sent, strict=True):
        if not 0 <= i < len(rows):
            raise DeltaError(f"row position {i} outside {len(rows)} rows")
        rows[i] = ticker_row(r)


def make_delta(base: EngineSnapshot, base_seq: int, new: EngineSnapshot, seq: int) -> DeltaFrame:
    """Snapshot `new` (number `seq`) as a change to `base` (number `base_seq`)."""
    streams = _stream_patches(base.streams, new.streams)
    brows, nrows = base.universe.rows, new.universe.rows
    order: tuple[str, ...] | None = None
    # Same symbols in the same order (the usual case): the changed rows are the rebuilt ones.
    at = rebuilt_rows(brows, nrows)
    if at is None:
        order = tuple(r.symbol for r in nrows)
        old = {r.symbol: r for r in brows}
        at = [i for i, r in enumerate(nrows) if old.get(r.symbol) is not r]
    inc = splice_of(base.incidents, new.incidents)
    return DeltaFrame(
        seq=seq,
        base=base_seq,
        taken_at_ms=new.taken_at_ms,
        limiter=new.limiter,
        connection=new.connection,
        universe=msgspec.structs.replace(new.universe, rows=()),
        streams=streams,
        incidents=Splice(*inc),
        rows_at=tuple(at),
        rows=tuple(wire_row(nrows[i]) for i in at),
        order=order,
    )


def apply_delta(base: EngineSnapshot, frame: DeltaFrame) -> EngineSnapshot:
    """The snapshot `frame` describes, rebuilt on `base`; DeltaError if it does not fit."""
    streams = []
    for p in frame.streams:
        if p.base < 0:
            streams.append(p.stream)
            continue
        if p.base >= len(base.streams):
            raise DeltaError(f"stream {p.base} of a base with {len(base.streams)}")
        b = base.streams[p.base]
        streams.append(
            msgspec.structs.replace(
                p.stream,
                recent_candles=spliced(b.recent_candles, p.candles),
                recent_closes=spliced(b.recent_closes, p.closes),
            )
        )
    changed = set(frame.rows_at)
    rows: list[TickerRow]
    if frame.order is None:
        rows = list(base.universe.rows)
    else:
        old = {r.symbol: r for r in base.universe.rows}
        rows = []
        for i, symbol in enumerate(frame.order):
            kept = old.get(symbol)
            if kept is None and i not in changed:
                raise DeltaError(f"no row for {symbol} in the base or the delta")
            rows.append(kept)  # type: ignore[arg-type]  # replaced below when None
    place_rows(rows, frame.rows_at, frame.rows)
    return EngineSnapshot(
        taken_at_ms=frame.taken_at_ms,
        streams=tuple(streams),
        limiter=frame.limiter,
        connection=frame.connection,
        incidents=spliced(base.incidents, frame.incidents),
        universe=msgspec.structs.replace(frame.universe, rows=tuple(rows)),
    )
