"""The market-wide radar: universe selection, ticker shards, metrics, REST cover, stats rows.

`UniverseEngine` runs beside the candle engine on the same loop. Its cost per ticker is O(1)
(metrics.py); its snapshot rebuilds only changed rows. REST `tickers` (one request for the
whole market, through the limiter) seeds the radar at start and covers shards while they are
down; markets are re-read every `markets_refresh_s` for listings and delistings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from loguru import logger

from scalp_radar.core.clock import Clock, SystemClock, clock_speed
from scalp_radar.core.config_models import AppConfig
from scalp_radar.core.limiter import RateLimiter
from scalp_radar.core.market_stats import MarketStatRow
from scalp_radar.core.snapshot import ShardState, TickerRow, UniverseSnapshot
from scalp_radar.engine.metrics import MetricsBook
from scalp_radar.engine.universe import select_universe, tradable_markets
from scalp_radar.engine.warmup import StatsSource, Warmup
from scalp_radar.exchange.bitget import TickerUpdate
from scalp_radar.exchange.shards import ConnectionGate, ShardPool, ticker_exchange_class, ws_options

# ccxt's load_markets for swaps makes 6 parallel contracts calls (one per product type).
LOAD_MARKETS_COST = 6
_RETRY_MARKETS_S = 5.0


class MarketsUnavailable(Exception):
    """The exchange's markets could not be loaded (the reason is the radar's problem)."""


class StatsStore(StatsSource, Protocol):
    """Where per-minute market stats go, and come back from at start (core.store.Database)."""

    async def insert_market_stats(self, rows: list[MarketStatRow]) -> int: ...


class UniverseEngine:
    """Tickers for every symbol of the universe, their metrics and the radar snapshot."""

    def __init__(
        self,
        config: AppConfig,
        limiter: RateLimiter,
        *,
        sim_url: str | None = None,
        clock: Clock | None = None,
        db: StatsStore | None = None,
        exchange_options: dict[str, Any] | None = None,
        exchange_factory: Callable[..., Any] | None = None,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.cfg = config.universe
        self.limiter = limiter
        self.sim_url = sim_url if sim_url is not None else config.exchange.sim_url
        self.clock: Clock = clock or SystemClock()
        self.db = db if self.cfg.store_stats else None
        self.book = MetricsBook()
        # Fills the change windows at start: stored stats first, then 1m candles over REST.
        self.warmup = Warmup(self.book, limiter, self._fetch_candles, self.clock, db)
        self._exchange_options = exchange_options or {}
        cfg = self.cfg
        self.pool = ShardPool(
            exchange_factory or self._create_exchange,
            self._on_ticker,
            channels_per_shard=cfg.channels_per_shard,
            subscribes_per_hour=cfg.subscribes_per_hour,
            messages_per_s=cfg.messages_per_s,
            stale_after_s=cfg.stale_after_s,
            gate=ConnectionGate(
                spacing_s=cfg.dial_spacing_s,
                max_new=cfg.new_connections_per_5min,
                max_open=cfg.max_connections,
                clock=mono,
            ),
            mono=mono,
        )
        self.pool.on_rejected = self._on_rejected
        self._shard_failed = asyncio.Event()
        self.pool.on_failed = self._shard_failed.set
        self.cover_polls = 0  # REST polls made to cover shards that were down
        self.last_cover: frozenset[str] = frozenset()  # the symbols the latest one covered
        self.symbols: list[str] = []
        self.markets: dict[str, str] = {}
        self.markets_loaded_ms: int | None = None
        self._markets_ready = asyncio.Event()  # the REST instance has markets (candle sockets)
        self.problem: str | None = None
        self.rest_polls = 0
        self.stats_written = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        # Symbols the user watches from the dashboard (`w`): kept in the universe like `assets:`.
        self.user_watchlist: tuple[str, ...] = ()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Load markets, seed from REST, open the shards, start the background loops."""
        if self._running:
            return
        self._running = True
        loop = self._loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._markets_loop(), name="universe markets"))
        self._tasks.append(loop.create_task(self._fallback_loop(), name="universe rest cover"))
        if self.db is not None:
            self._tasks.append(loop.create_task(self._stats_loop(), name="universe stats"))

    async def stop(self) -> None:
        """Stop every loop and shard, close every instance."""
        if not self._running:
            return
        self._running = False
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        await self.pool.stop()

    async def markets_exchange(self) -> Any:
        """The REST instance once its markets are loaded: the candle sockets share them.

        Raises the markets' problem while loading them fails (the radar keeps retrying)."""
        while not self._markets_ready.is_set():
            if self.problem is not None:
                raise MarketsUnavailable(self.problem)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._markets_ready.wait(), 0.5)
        return self.pool.rest

    async def wait_ready(self, timeout_s: float) -> None:
        """Until the markets are loaded (tests)."""
        deadline = time.monotonic() + timeout_s
        while self.markets_loaded_ms is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"universe markets not loaded: {self.problem}")
            await asyncio.sleep(0.05)

    # -- tickers -----------------------------------------------------------------------------
    def _on_ticker(self, symbol: str, update: TickerUpdate, shard_id: int) -> None:
        self.book.update(symbol, update, "ws", shard_id)

    def _on_rejected(self, symbol: str) -> None:
        """The exchange refused a symbol's channel: out of the universe until markets change."""
        self.symbols = [s for s in self.symbols if s != symbol]
        self.book.drop([symbol])
        logger.warning("universe: {} refused by the exchange (30001), left out", symbol)

    async def poll_rest(self, symbols: set[str] | None = None) -> int:
        """One REST `tickers` call; applies rows of `symbols` (all when None). Rows applied."""
        await self.limiter.acquire("market_data")
        updates = await self.pool.fetch_tickers()
        self.rest_polls += 1
        ids = self.pool.symbol_of_id
        applied = 0
        for u in updates:
            symbol = ids.get(u.inst_id)
            if symbol is None or (symbols is not None and symbol not in symbols):
                continue
            self.book.update(symbol, u, "rest", None)
            applied += 1
        return applied

    async def _fetch_candles(self, symbol: str, limit: int) -> list[list[float]]:
        return await self.pool.fetch_candles(symbol, "1m", limit)

    # -- loops -------------------------------------------------------------------------------
    async def refresh_markets(self) -> None:
        """Re-read markets, re-select the universe (by the REST picture), re-assign shards."""
        for _ in range(LOAD_MARKETS_COST):  # one token per request (the burst may be < 6)
            await self.limiter.acquire("market_data")
        markets = await self.pool.load_markets()
        self._markets_ready.set()
        self.markets = tradable_markets(markets)
        self.pool.set_ids(self.markets)
        first = self.markets_loaded_ms is None
        if first or self.cfg.mode == "top" or self.cfg.min_quote_volume_24h > 0:
            # Selection by volume needs volumes: the one REST call also seeds every row.
            with contextlib.suppress(Exception):
                await self.poll_rest()
        volumes = {s: series.quote_volume_24h for s, series in self.book.series.items()}
        # A symbol the exchange refused (30001) stays out while the markets still list it.
        self.pool.rejected &= set(self.markets)
        chosen = [
            s
            for s in select_universe(
                self.cfg, self.markets, volumes, [*self.config.symbols, *self.user_watchlist]
            )
            if s not in self.pool.rejected
        ]
        added, removed = self.pool.assign(chosen)
        # Rows of symbols out of the universe go (left it, or only seen in the REST picture).
        kept = set(chosen)
        self.book.drop([s for s in self.book.series if s not in kept])
        self.symbols = chosen
        self.markets_loaded_ms = self.clock.now_ms()
        self.problem = None
        if first or added or removed:
            logger.info(
                "universe ({}): {} symbols in {} shards (+{} -{})",
                self.cfg.mode,
                len(chosen),
                len(self.pool.shards),
                len(added),
                len(removed),
            )

    async def _markets_loop(self) -> None:
        started = False
        while True:
            try:
                await self.refresh_markets()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - shown in the snapshot, retried
                self.problem = f"markets: {type(exc).__name__}: {str(exc)[:160]}"
                logger.warning("universe: {}", self.problem)
                await asyncio.sleep(_RETRY_MARKETS_S)
                continue
            if not started:
                self.pool.start()
                started = True
                # Low priority, after the shards are dialling: it never delays their ramp.
                self._tasks.append(
                    asyncio.get_running_loop().create_task(
                        self.warmup.run(list(self.symbols)), name="universe warm-up"
                    )
                )
            await asyncio.sleep(self.cfg.markets_refresh_s)

    async def _fallback_loop(self) -> None:
        """While a shard is down, its symbols come from REST (one call covers every shard):
        at once when a shard fails, then every `rest_fallback_s` until it is live again."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._shard_failed.wait(), self.cfg.rest_fallback_s)
            self._shard_failed.clear()
            down = self.pool.down_symbols()
            if not down or self.markets_loaded_ms is None:
                continue
            try:
                await self.poll_rest(set(down))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the shard's own state tells why
                logger.debug("universe REST cover failed: {}", exc)
                continue
            self.cover_polls += 1
            self.last_cover = frozenset(down)

    async def _stats_loop(self) -> None:
        """At each market-minute boundary: one row per symbol, one executemany."""
        while True:
            now = self.clock.now_ms()
            boundary = (now // 60_000 + 1) * 60_000
            await asyncio.sleep((boundary - now) / 1000 / clock_speed(self.clock))
            try:
                await self.write_stats(boundary - 60_000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next minute tries again
                logger.warning("universe: market stats not stored: {}", exc)

    def stats_rows(self, minute_ms: int) -> list[MarketStatRow]:
        """The minute's row of every universe symbol with a ticker (latest values)."""
        series = self.book.series
        rows = []
        for symbol in self.symbols:
            s = series.get(symbol)
            if s is None:
                continue
            rows.append(
                MarketStatRow(
                    symbol,
                    minute_ms,
                    s.last,
                    _num(s.mark),
                    _num(s.index),
                    _num(s.bid),
                    _num(s.ask),
                    _num(s.funding_rate),
                    _num(s.open_interest),
                    _num(s.quote_volume_24h),
                )
            )
        return rows

    async def write_stats(self, minute_ms: int) -> int:
        """Store the rows of `minute_ms` (once per symbol: the key is (symbol, minute))."""
        if self.db is None:
            return 0
        rows = self.stats_rows(minute_ms)
        if rows:
            await self.db.insert_market_stats(rows)
            self.stats_written += len(rows)
        return len(rows)

    # -- views -------------------------------------------------------------------------------
    def rows(self) -> tuple[TickerRow, ...]:
        """The radar's rows in universe order (changed rows rebuilt only, others reused)."""
        return self.book.rows(self.symbols)

    def snapshot(self) -> UniverseSnapshot:
        """The radar, frozen (changed rows rebuilt only)."""
        rows = self.rows()
        live_shards = {s.shard_id for s in self.pool.shards if s.state is ShardState.LIVE}
        live = sum(1 for r in rows if r.source == "ws" and r.shard_id in live_shards)
        return UniverseSnapshot(
            mode=self.cfg.mode,
            symbols=len(self.symbols),
            rows=rows,
            shards=self.pool.snapshot(),
            markets_loaded_ms=self.markets_loaded_ms,
            rest_polls=self.rest_polls,
            problem=self.problem,
            tickers_live=live,
            limit_errors=self.pool.limit_errors,
            rejected=tuple(sorted(self.pool.rejected)),
        )

    def set_user_watchlist(self, symbols: tuple[str, ...]) -> str:
        """The dashboard's watchlist changed (any thread); says what the engine does about it.

        Watched symbols are always in the universe: with `mode: all` they already are; otherwise
        a symbol outside it triggers one re-selection on the engine loop (same limits as hourly).
        """
        self.user_watchlist = tuple(symbols)
        missing = [s for s in symbols if s in self.markets and s not in self.symbols]
        if not missing:
            return "tracked: it is in the radar's universe"
        loop = self._loop
        if loop is None or loop.is_closed():
            return "kept; the universe re-reads it when it starts"
        loop.call_soon_threadsafe(self._reselect)
        return f"adding {len(missing)} symbol(s) to the universe"

    def _reselect(self) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._reselect_now()))

    async def _reselect_now(self) -> None:
        try:
            await self.refresh_markets()
        except Exception as exc:  # noqa: BLE001 - the hourly refresh retries; say why meanwhile
            self.problem = f"markets: {type(exc).__name__}: {str(exc)[:160]}"
            logger.warning("universe: watchlist re-selection failed: {}", self.problem)

    def sparkline(self, symbol: str, minutes: int = 60, points: int = 60) -> list[float]:
        """Recent prices of one symbol, on demand (for visible rows only)."""
        return self.book.sparkline(symbol, minutes, points)

    # -- exchange ----------------------------------------------------------------------------
    def _create_exchange(self, *, ticker_class: bool) -> Any:
        from scalp_radar.exchange.factory import create_exchange

        options = ws_options(self.cfg.messages_per_s)
        extra = self._exchange_options
        options["ws"].update(extra.get("ws", {}))
        options.update({k: v for k, v in extra.items() if k != "ws"})
        return create_exchange(
            self.config,
            self.sim_url,
            options=options,
            exchange_class=ticker_exchange_class() if ticker_class else None,
        )


def _num(value: float) -> float | None:
    return value if value == value else None
