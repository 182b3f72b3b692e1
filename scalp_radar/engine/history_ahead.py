"""Stored candles newer than the exchange's clock: found at start, reported, never in the way.

Clock skew, a bad import or another simulator's history can leave candles in the database that
the exchange has not even formed yet. Seeded into a buffer they would make every live candle
look old (the stream would never go live), so the buffers are re-seeded without them and the
live candles replace them in the store as they close.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scalp_radar.engine.buffer import CandleBuffer

if TYPE_CHECKING:
    from scalp_radar.core.store import Database
    from scalp_radar.engine.stream import StreamWorker

# Clock disagreement tolerated before a stored candle counts as ahead of the exchange.
TOLERANCE_MS = 5_000


@dataclass(frozen=True, slots=True)
class Ahead:
    """One stream's stored candles from `from_ms` on, which the exchange has not closed yet."""

    stream: StreamWorker
    from_ms: int
    count: int


async def reseed_without_future(
    db: Database, streams: list[StreamWorker], now_ms: int
) -> list[Ahead]:
    """Re-seed each buffer holding stored candles the exchange has not closed by `now_ms`.

    The candle containing `now_ms + TOLERANCE_MS` has not closed yet, nor has any after it.
    """
    found: list[Ahead] = []
    for s in streams:
        cutoff = s.timeframe.align(now_ms + TOLERANCE_MS)
        last = s.buffer.last_closed_ts
        if last is None or last < cutoff:
            continue
        step = s.timeframe.to_milliseconds()
        count = len(await db.get_candle_timestamps(s.symbol, s.timeframe, cutoff, last + step))
        rows = await db.get_candles(
            s.symbol, s.timeframe, None, cutoff, limit=s.buffer.maxlen, newest=True
        )
        fresh = CandleBuffer(s.symbol, s.timeframe, s.buffer.maxlen)
        fresh.seed(rows)
        s.buffer = fresh
        s.flushed_upto = fresh.last_closed_ts
        found.append(Ahead(s, cutoff, count))
    return found
