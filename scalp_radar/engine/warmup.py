"""Fill the radar's change windows at start, so Movers ranks from the first seconds.

Without this, 5m/15m/1h changes, the volume surge and the OI change stay blank until their
window has passed since the start. Stored `market_stats` rows (a restart: one row per symbol
per minute) seed a symbol without any REST call when they cover the last hour; for what they
lack, Bitget's 1m candles (60 closed + the forming one) fill the prices, at low priority on the
limiter's market_data bucket, most liquid symbols first. A window is never filled with less
than its length: missing minutes stay NaN, and the metrics leave such a change blank.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from loguru import logger

from scalp_radar.core.clock import Clock
from scalp_radar.core.limiter import RateLimiter
from scalp_radar.core.market_stats import MarketStatRow
from scalp_radar.engine.metrics import DAY_MS, NAN, HistoryPoint, MetricsBook

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
CANDLES = 62  # 61 closed 1m candles (the oldest ends a full hour before now) + the forming one
# The table covers a symbol when its rows reach back the hour and up to this close to now
# (a daemon restart); the minutes in between stay blank rather than come from REST.
FRESH_MS = 3 * MINUTE_MS
WORKERS = 2  # requests in flight at once (each still takes one token of the bucket)
_NO_TICKER_RETRIES = 40  # a symbol without a ticker yet is retried this many times ...
_NO_TICKER_WAIT_S = 0.5  # ... this far apart (it has nothing to anchor the history to)

CandleFetch = Callable[[str, int], Awaitable[list[list[float]]]]


class StatsSource(Protocol):
    """Where stored per-minute stats come from (core.store.Database)."""

    async def get_market_stats(
        self, symbol: str | None = None, start: int | None = None, end: int | None = None
    ) -> list[MarketStatRow]: ...


def points_from_rows(rows: Sequence[MarketStatRow]) -> list[HistoryPoint]:
    """Stored rows as history points: a row holds the values at its minute's end."""
    return [
        HistoryPoint(
            r.minute_ms + MINUTE_MS,
            r.last,
            NAN if r.quote_volume_24h is None else r.quote_volume_24h,
            NAN if r.open_interest is None else r.open_interest,
        )
        for r in sorted(rows, key=lambda r: r.minute_ms)
    ]


def points_from_candles(
    candles: Sequence[Sequence[float]], volume_now: float, now_ms: int
) -> list[HistoryPoint]:
    """Closed 1m candles (ccxt rows, oldest first) as history points: each close at its end.

    The 24 h quote volume at each point is rebuilt backwards from `volume_now` (the ticker's,
    at `now_ms`): minus what traded since (base volume x close), plus what rolled off a day
    earlier at the day's average pace, the same model the surge metric reads it with.
    """
    after = 0.0  # quote volume traded from a point's time to now
    points: list[HistoryPoint] = []
    for c in reversed(candles):
        end = int(c[0]) + MINUTE_MS
        if end <= now_ms:  # the forming candle's close is the ticker's last: not history
            back = (now_ms - end) / DAY_MS
            volume = (volume_now - after) / (1.0 - back) if volume_now == volume_now else NAN
            points.append(HistoryPoint(end, float(c[4]), volume, NAN))
        quote = c[5] * c[4]
        if quote == quote:
            after += quote
    points.reverse()
    return points


def covers(rows: Sequence[MarketStatRow], now_ms: int) -> bool:
    """True when stored rows span the last hour up to a recent minute (no REST needed)."""
    if not rows:
        return False
    oldest = min(r.minute_ms for r in rows) + MINUTE_MS
    newest = max(r.minute_ms for r in rows) + MINUTE_MS
    return oldest <= now_ms - HOUR_MS + MINUTE_MS and newest >= now_ms - FRESH_MS


def merge(candle_points: list[HistoryPoint], stored: list[HistoryPoint]) -> list[HistoryPoint]:
    """Candle points with the stored ones laid over them (those also carry OI), oldest first."""
    by_ts = {p.ts_ms: p for p in candle_points}
    by_ts.update({p.ts_ms: p for p in stored})
    return [by_ts[ts] for ts in sorted(by_ts)]


@dataclass(eq=False)
class Warmup:
    """One pass at start: seed every universe symbol's history from the table, then REST."""

    book: MetricsBook
    limiter: RateLimiter
    fetch_candles: CandleFetch
    clock: Clock
    db: StatsSource | None = None
    from_table: int = field(default=0, init=False)  # symbols seeded from stored rows alone
    from_rest: int = field(default=0, init=False)  # symbols seeded from candles (requests made)
    failed: int = field(default=0, init=False)
    # The pass is over: rankings see every symbol's filled windows.
    done: bool = field(default=False, init=False)

    async def run(self, symbols: Sequence[str]) -> None:
        """Seed `symbols` (most liquid first); returns when every one is done or given up."""
        try:
            await self._run(symbols)
        finally:
            self.done = True

    async def _run(self, symbols: Sequence[str]) -> None:
        now = self.clock.now_ms()
        stored = await self._stored(now)
        volume = {s: x.quote_volume_24h for s, x in self.book.series.items()}
        order = sorted(symbols, key=lambda s: -v if (v := volume.get(s, NAN)) == v else 0.0)
        queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        for symbol in order:
            rows = stored.get(symbol, [])
            if covers(rows, now) and self.book.seed(symbol, points_from_rows(rows)):
                self.from_table += 1
            else:
                queue.put_nowait((symbol, 0))
        workers = [asyncio.ensure_future(self._worker(queue, stored)) for _ in range(WORKERS)]
        try:
            await queue.join()
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        logger.info(
            "radar history: {} symbols from stored stats, {} from 1m candles ({} failed)",
            self.from_table,
            self.from_rest,
            self.failed,
        )

    async def _stored(self, now: int) -> dict[str, list[MarketStatRow]]:
        if self.db is None:
            return {}
        try:
            rows = await self.db.get_market_stats(start=now - HOUR_MS - 2 * MINUTE_MS, end=now)
        except Exception as exc:  # noqa: BLE001 - REST fills in; the database says why elsewhere
            logger.warning("radar history: stored stats unreadable: {}", exc)
            return {}
        out: dict[str, list[MarketStatRow]] = {}
        for r in rows:
            out.setdefault(r.symbol, []).append(r)
        return out

    async def _worker(
        self, queue: asyncio.Queue[tuple[str, int]], stored: dict[str, list[MarketStatRow]]
    ) -> None:
        while True:
            symbol, tries = await queue.get()
            try:
                series = self.book.series.get(symbol)
                if series is None:  # no ticker yet: nothing to anchor history to
                    if tries < _NO_TICKER_RETRIES:
                        await asyncio.sleep(_NO_TICKER_WAIT_S)
                        queue.put_nowait((symbol, tries + 1))
                    continue
                await self._low_priority_token()
                try:
                    candles = await self.fetch_candles(symbol, CANDLES)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - its windows fill live instead
                    self.failed += 1
                    logger.debug("radar history: {} candles failed: {}", symbol, exc)
                    continue
                self.from_rest += 1
                series = self.book.series.get(symbol)
                if series is None:
                    continue
                points = points_from_candles(candles, series.quote_volume_24h, series.updated_ms)
                self.book.seed(symbol, merge(points, points_from_rows(stored.get(symbol, []))))
            finally:
                queue.task_done()

    async def _low_priority_token(self) -> None:
        """Take a market_data token only when nobody waits and one is left over for others,
        so live heals and the ticker cover never queue behind the warm-up."""
        bucket = self.limiter.bucket("market_data")
        spare = min(2.0, bucket.capacity)
        while bucket.queued or bucket.stats().tokens < spare:  # noqa: ASYNC110 - a refill, not an event
            await asyncio.sleep(1.0 / bucket.rate_per_s)
        await self.limiter.acquire("market_data")
