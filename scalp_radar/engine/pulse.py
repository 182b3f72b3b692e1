"""Pulses: what moved since the last published snapshot, for daemon viewers that ask (1.2).

A full snapshot rebuilds every stream's 23 fields, the limiter, the connection facts, the shards
and the incidents, and its delta re-sends each stream; a few times a second for viewers, that was
most of what viewers cost the daemon. Between two full snapshots (once a second while only pulse
viewers watch) a pulse carries only what a trader watches move: each stream's age, the candles
of the streams whose candles changed, and the radar rows that changed, all against that one full
snapshot (so a viewer that skipped a pulse loses nothing). Bookkeeping (states, counters, limiter,
incidents, shards) comes with the next full snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import msgspec

from scalp_radar.core.snapshot import CandleView, EngineSnapshot, TickerRow
from scalp_radar.engine.snapshot_build import ViewCache, forming_view
from scalp_radar.engine.wire_delta import (
    DeltaError,
    Splice,
    WireRow,
    place_rows,
    rebuilt_rows,
    splice_of,
    spliced,
    wire_row,
)

if TYPE_CHECKING:
    from scalp_radar.core.models import Candle


class StreamMove(msgspec.Struct, frozen=True, array_like=True):
    """Stream number `index` of the base snapshot, whose candles are now `candles` (spliced from
    the base's; closes and last candle follow from them)."""

    index: int
    candles: Splice[CandleView]


class PulseFrame(msgspec.Struct, frozen=True, tag="pulse"):
    """Snapshot `base` with what moved by `taken_at_ms`: every stream's age (in the base's
    order), the streams whose candles changed, and the radar rows that changed (`rows[i]` at
    position `rows_at[i]`, the base's rows in the base's order)."""

    base: int
    taken_at_ms: int
    ages: tuple[float | None, ...]
    moves: tuple[StreamMove, ...] = ()
    rows_at: tuple[int, ...] = ()
    rows: tuple[WireRow, ...] = ()


# What a stream's candles were when a snapshot was built: its forming candle (candles are
# immutable: the same object is the same candle) and its closed history's version.
Mark: TypeAlias = "tuple[Candle | None, int]"


def marks_of(workers: Sequence[Any]) -> tuple[Mark, ...]:
    """The marks of `workers` (the engine's `StreamWorker`s), as a snapshot of them is built."""
    return tuple((s.buffer.forming, s.buffer.closed.version) for s in workers)


class Pulse(NamedTuple):
    """A pulse as the engine publishes it: the full snapshot it moves, and the frame (whose
    `base` the daemon sets to that snapshot's number)."""

    snapshot: EngineSnapshot
    frame: PulseFrame


def build_pulse(
    base: EngineSnapshot,
    workers: Sequence[Any],
    marks: Sequence[Mark],
    views: ViewCache,
    *,
    points: int,
    now_ms: int,
    speed: float,
    rows: tuple[TickerRow, ...],
    wired: dict[int, tuple[TickerRow, WireRow]] | None = None,
) -> Pulse | None:
    """The pulse on `base` of `workers` (the engine's `StreamWorker`s `base` was built from, in
    its order, with their `marks` then) and of the radar's current `rows`; None when rows came,
    went or moved since `base` (the engine builds a full snapshot then). `wired` keeps, by
    position, the array forms made for `base`'s pulses: a row that changed once is re-sent by
    every pulse until the next snapshot, converted once."""
    streams = base.streams
    if not len(workers) == len(marks) == len(streams):
        return None
    ages: list[float | None] = []
    moves: list[StreamMove] = []
    for index, (s, b, (was_forming, was_version)) in enumerate(
        zip(workers, streams, marks, strict=True)
    ):
        buf = s.buffer
        forming = buf.forming
        if forming is not was_forming or buf.closed.version != was_version:
            kept = len(b.recent_candles) - 1
            if (
                buf.closed.version == was_version
                and forming is not None
                and was_forming is not None
                and kept >= 0
            ):
                # The usual step: the same closed candles, another forming candle (the base's
                # last view was the forming one).
                moves.append(StreamMove(index, Splice((), 0, kept, (forming_view(forming),))))
            else:
                candles, _ = views.views(buf, points)
                moves.append(StreamMove(index, Splice(*splice_of(b.recent_candles, candles))))
        last = s.last_update_ms
        ages.append(None if last is None else max(0.0, (now_ms - last) / 1000 / speed))
    at = rebuilt_rows(base.universe.rows, rows)
    if at is None:
        return None
    if wired is None:
        wired = {}
    sent: list[WireRow] = []
    for i in at:
        row = rows[i]
        done = wired.get(i)
        if done is None or done[0] is not row:
            done = wired[i] = (row, wire_row(row))
        sent.append(done[1])
    frame = PulseFrame(
        base=0,
        taken_at_ms=now_ms,
        ages=tuple(ages),
        moves=tuple(moves),
        rows_at=tuple(at),
        rows=tuple(sent),
    )
    return Pulse(base, frame)


def apply_pulse(base: EngineSnapshot, frame: PulseFrame) -> EngineSnapshot:
    """`base` as `frame` says it moved; DeltaError if the frame does not fit it."""
    streams = base.streams
    if len(frame.ages) != len(streams):
        raise DeltaError(f"{len(frame.ages)} ages for {len(streams)} streams")
    moved = {m.index: m.candles for m in frame.moves}
    if len(moved) != len(frame.moves) or not all(0 <= i < len(streams) for i in moved):
        raise DeltaError("moves outside the base's streams")
    replace = msgspec.structs.replace
    new = []
    for index, (s, age) in enumerate(zip(streams, frame.ages, strict=True)):
        splice = moved.get(index)
        if splice is None:
            new.append(replace(s, last_update_age_s=age))
            continue
        candles = spliced(s.recent_candles, splice)
        new.append(
            replace(
                s,
                last_candle=candles[-1] if candles else None,
                recent_candles=candles,
                recent_closes=tuple(c.close for c in candles),
                last_update_age_s=age,
            )
        )
    universe = base.universe
    if frame.rows_at or frame.rows:
        rows = list(universe.rows)
        place_rows(rows, frame.rows_at, frame.rows)
        universe = replace(universe, rows=tuple(rows))
    return replace(base, taken_at_ms=frame.taken_at_ms, streams=tuple(new), universe=universe)
