"""Fallback REST gap fetch with the same signature as `market.holes.heal_range`.

The engine prefers the backfill helper's `heal_range` (one mechanism for backfill, repair and live
healing); this small version keeps the engine working when that module is not importable.
"""

from __future__ import annotations

from typing import Any

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.market.validator import DataValidator

PAGE = 200  # Bitget's history endpoint serves at most 200 rows per request


class GapFetchError(Exception):
    """REST returned fewer candles than the range holds."""


async def heal_range(
    exchange: Any,
    db: Any,
    limiter: Any,
    symbol: str,
    timeframe: TimeFrame | str,
    start_ms: int,
    end_ms: int,
    *,
    now_ms: int | None = None,
    retries: int = 3,
) -> list[Candle]:
    """Closed candles of [start_ms, end_ms) from REST (through the market_data budget), stored."""
    tf = timeframe if isinstance(timeframe, TimeFrame) else TimeFrame.from_string(timeframe)
    step = tf.to_milliseconds()
    now = int(now_ms) if now_ms is not None else int(exchange.milliseconds())
    end = min(end_ms, tf.align(now))  # only closed candles
    since = start_ms
    out: dict[int, Candle] = {}
    while since < end:
        limit = min(PAGE, (end - since + step - 1) // step)
        if limiter is not None:
            await limiter.acquire("market_data")
        rows = await exchange.fetch_ohlcv(symbol, tf.value, since=since, limit=limit)
        newest = None
        for row in rows or []:
            candle = DataValidator.validate_candle(row, symbol, tf)
            if candle is None or not (start_ms <= candle.timestamp < end):
                continue
            out[candle.timestamp] = candle
            newest = candle.timestamp if newest is None else max(newest, candle.timestamp)
        if newest is None or newest + step <= since:
            break
        since = newest + step
    candles = sorted(out.values(), key=lambda c: c.timestamp)
    if db is not None and candles:
        await db.insert_candles_batch(candles)
    return candles
