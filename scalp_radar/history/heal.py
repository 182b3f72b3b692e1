"""Heal one range over REST: the engine's live gap repair, on the backfill's own machinery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.numfmt import count
from scalp_radar.history.backfill import Backfiller, HealError
from scalp_radar.history.holes import as_timeframe
from scalp_radar.history.plan import plan_ranges
from scalp_radar.history.types import CandleSource

if TYPE_CHECKING:
    from scalp_radar.core.limiter import RateLimiter
    from scalp_radar.core.store import Database


async def heal_range(
    exchange: CandleSource,
    db: Database | None,
    limiter: RateLimiter,
    symbol: str,
    timeframe: TimeFrame | str,
    start_ms: int,
    end_ms: int,
    *,
    now_ms: int | None = None,
    retries: int = 3,
    backoff_base_s: float = 0.5,
) -> list[Candle]:
    """Fetch the closed candles of [start_ms, end_ms) from REST, store them, return them sorted.

    Used by the engine for a live gap: every request waits on `limiter` ("market_data"), pages are
    written with INSERT OR IGNORE (when `db` is given), and a window that keeps failing raises
    `HealError` naming it instead of returning a silently short list. `now_ms` defaults to the
    exchange's clock; only candles closed by then are fetched. A failed request is retried
    `retries` times after `backoff_base_s`, doubling.
    """
    tf = as_timeframe(timeframe)
    now = int(now_ms) if now_ms is not None else int(exchange.milliseconds())
    windows = plan_ranges(symbol, tf, [(start_ms, end_ms)], now)
    if not windows:
        return []
    backfiller = Backfiller(
        exchange, db, limiter, max_concurrency=2, retries=retries, backoff_base_s=backoff_base_s
    )
    candles: list[Candle] = []
    failed: list[str] = []
    for window in windows:
        try:
            candles.extend(await backfiller.fetch_window(window))
        except Exception as exc:  # already retried inside; report by name
            failed.append(f"{window.name} ({type(exc).__name__}: {exc})")
    if failed:
        raise HealError(
            f"heal incomplete: {count(len(failed), 'request')} failed: " + "; ".join(failed)
        )
    candles.sort(key=lambda c: c.timestamp)
    return candles
