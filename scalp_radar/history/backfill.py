"""History backfill runner: fetch planned windows concurrently, store each page atomically.

Every request waits on the shared rate limiter ("market_data"); network errors, 429s and 5xx are
retried with exponential backoff; a window that still fails is reported by name in
`BackfillResult.failed_windows`, never skipped silently. Cancelling (an asyncio.Event or task
cancellation) stops cleanly: every page is written in one transaction with INSERT OR IGNORE, so
what was written is valid and a rerun (which plans only the holes) completes it. A forced plan
(`BackfillPlan.force`) instead rewrites every stored candle that differs from the exchange's
answer, and counts them (`BackfillResult.candles_changed`).

A window the exchange answers with fewer candles than expected (before the listing, or a gap on
the exchange's side) counts as done: its request succeeded, so it is not retried in this run and
cannot loop. The shortfall is reported in `BackfillResult.missing_candles` and stays visible as a
hole in `data list`; a later run asks for it once more (one request per such range).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

from loguru import logger
from pydantic import ValidationError

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.store import CandleWrites, Database
from scalp_radar.exchange.backoff import Backoff
from scalp_radar.exchange.errors import describe
from scalp_radar.history.holes import find_holes, missing_ranges
from scalp_radar.history.plan import (
    HISTORY,
    RECENT,
    coalesce,
    plan_backfill,
    split_windows,
)
from scalp_radar.history.types import (
    BackfillPlan,
    BackfillProgress,
    BackfillResult,
    CandleSource,
    Window,
)

if TYPE_CHECKING:
    from scalp_radar.core.limiter import RateLimiter

__all__ = [
    "Backfiller",
    "HealError",
    "disable_ccxt_throttle",
    "find_holes",
    "plan_backfill",
]

ProgressCallback = Callable[[BackfillProgress], None]


class HealError(Exception):
    """heal_range could not fetch every window of a gap (the message names them)."""


def disable_ccxt_throttle(exchange: Any) -> None:
    """Turn off ccxt's own request throttle on an exchange instance the caller owns.

    Our RateLimiter governs every REST call; ccxt's leaky bucket (rateLimit 50 ms, no burst) would
    only add queueing on top and cap us at exactly Bitget's 20 req/s, costing throughput. Do NOT
    call this on an instance that also runs websocket watchers: ccxt paces subscribe frames with the
    same throttle (options.ws.cost), and Bitget drops connections above 10 messages/s.
    """
    exchange.enableRateLimit = False


def _permanent_errors() -> tuple[type[BaseException], ...]:
    import ccxt

    return (
        ccxt.BadSymbol,
        ccxt.BadRequest,
        ccxt.AuthenticationError,
        ccxt.PermissionDenied,
        ccxt.NotSupported,
    )


@dataclass(eq=False)
class Backfiller:
    """Runs a BackfillPlan against a ccxt exchange into a Database (or only returns candles)."""

    exchange: CandleSource
    db: Database | None
    limiter: RateLimiter
    _: KW_ONLY
    max_concurrency: int = 6
    retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 15.0
    category: str = "market_data"
    clock: Callable[[], float] = time.monotonic
    requests_sent: int = field(default=0, init=False)
    retries_done: int = field(default=0, init=False)
    rate_limited: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency: expected >= 1, got {self.max_concurrency}")
        if self.retries < 0:
            raise ValueError(f"retries: expected >= 0, got {self.retries}")

    # -- one window -------------------------------------------------------------------------

    async def _request(self, window: Window) -> list[list[Any]]:
        """One fetch_ohlcv for exactly `window`, on its planned endpoint, with retries."""
        import ccxt

        permanent = _permanent_errors()
        tf_ms = TimeFrame.from_string(window.timeframe).to_milliseconds()
        # n + 1 rows ending at until = the window's end: whether Bitget's endTime is inclusive
        # (rows start..end), exclusive or rounded down (rows start-tf..end-tf), the page holds
        # the whole window, and _to_candles keeps [start, end) only (dropping the forming
        # candle, which opens at `end` for the newest window). ccxt sets startTime = since on
        # /candles and endTime - (n+1)*tf on /history-candles (span within 90 days by planning),
        # then keeps rows >= since. Never paginate=True: it silently drops older history.
        limit = (window.end_ms - window.start_ms) // tf_ms + 1
        params: dict[str, Any] = {"until": window.end_ms}
        if window.endpoint == HISTORY:
            params["useHistoryEndpoint"] = True
        last_exc: BaseException | None = None
        # Jittered: workers do not retry in lockstep.
        backoff = Backoff(self.backoff_base_s, self.backoff_max_s)
        for attempt in range(self.retries + 1):
            await self.limiter.acquire(self.category)
            self.requests_sent += 1
            try:
                rows: list[list[Any]] = await self.exchange.fetch_ohlcv(
                    window.symbol,
                    window.timeframe,
                    since=window.start_ms,
                    limit=limit,
                    params=params,
                )
                return rows
            except permanent:
                raise
            except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
                # Bitget's JSON 429 maps to DDoSProtection, a plain 429 to RateLimitExceeded.
                self.limiter.record_429(self.category)
                self.rate_limited += 1
                last_exc = exc
            except ccxt.BaseError as exc:  # NetworkError (timeouts, 5xx), transient ExchangeError
                last_exc = exc
            else:
                return rows
            if attempt < self.retries:
                self.retries_done += 1
                delay = backoff.next_delay()
                logger.debug(
                    "backfill {}: {}; retry {}/{} in {:.2f}s",
                    window.name,
                    describe(last_exc),
                    attempt + 1,
                    self.retries,
                    delay,
                )
                await asyncio.sleep(delay)
        assert last_exc is not None
        raise last_exc

    def _to_candles(self, window: Window, rows: Sequence[Sequence[Any]]) -> list[Candle]:
        """Validated candles of `window` only (drops the forming one and anything out of range)."""
        tf = TimeFrame.from_string(window.timeframe)
        candles: dict[int, Candle] = {}
        for row in rows:
            try:
                ts = int(row[0])
                if not window.start_ms <= ts < window.end_ms:
                    continue
                volume = row[5] if len(row) > 5 and row[5] is not None else 0.0
                candles[ts] = Candle(
                    symbol=window.symbol,
                    timeframe=tf,
                    timestamp=ts,
                    open=row[1],
                    high=row[2],
                    low=row[3],
                    close=row[4],
                    volume=volume,
                )
            except (ValidationError, TypeError, ValueError, IndexError) as exc:
                logger.warning("backfill {}: invalid row dropped: {}", window.name, describe(exc))
        return [candles[ts] for ts in sorted(candles)]

    async def _fetch(self, window: Window) -> list[Candle]:
        candles = self._to_candles(window, await self._request(window))
        if window.endpoint == RECENT:
            # The recent endpoint's depth is approximate: if it came back short, ask the history
            # endpoint once for the missing part (no further fallback, so no loop).
            tf = TimeFrame.from_string(window.timeframe)
            holes = missing_ranges(
                (c.timestamp for c in candles), tf, window.start_ms, window.end_ms
            )
            if holes:
                extra: list[Candle] = []
                for hole in coalesce(holes, tf):
                    for sub in split_windows(window.symbol, tf, *hole, HISTORY):
                        extra.extend(self._to_candles(sub, await self._request(sub)))
                merged = {c.timestamp: c for c in candles + extra}
                candles = [merged[ts] for ts in sorted(merged)]
        return candles

    async def _store(self, candles: list[Candle], *, replace: bool = False) -> CandleWrites:
        """Write one page in one transaction (stored candles kept, or replaced where they
        differ); the store lets a cancelled write finish first."""
        if self.db is None or not candles:
            return CandleWrites()
        if replace:
            return await self.db.update_candles(candles)
        return CandleWrites(inserted=await self.db.insert_candles_batch(candles))

    async def fetch_window(self, window: Window) -> list[Candle]:
        """Fetch one window (with retries), store it if there is a db, return its candles."""
        candles = await self._fetch(window)
        await self._store(candles)
        return candles

    # -- a whole plan -----------------------------------------------------------------------

    async def run(
        self,
        plan: BackfillPlan,
        on_progress: ProgressCallback | None = None,
        cancel: asyncio.Event | None = None,
    ) -> BackfillResult:
        """Fetch every window of `plan`; never raises for a failed window (see failed_windows)."""
        started = self.clock()
        total = len(plan.windows)
        queue: deque[Window] = deque(plan.windows)
        failed: list[str] = []
        counters = {"done": 0, "stored": 0, "missing": 0, "changed": 0}
        nominal_rate = self.limiter.bucket(self.category).rate_per_s if total else 1.0

        def publish(current: str | None) -> None:
            if on_progress is None:
                return
            elapsed = max(1e-9, self.clock() - started)
            done = counters["done"]
            rate = done / elapsed if done else nominal_rate
            try:
                on_progress(
                    BackfillProgress(
                        windows_done=done,
                        windows_total=total,
                        candles_stored=counters["stored"],
                        candles_per_s=counters["stored"] / elapsed,
                        eta_s=(total - done) / rate if rate > 0 else None,
                        current=current,
                    )
                )
            except Exception:  # a UI bug must not kill the download
                logger.exception("backfill progress callback failed")

        async def worker() -> None:
            while queue:
                window = queue.popleft()
                try:
                    candles = await self._fetch(window)
                    written = await self._store(candles, replace=plan.force)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.warning("backfill window failed: {} ({})", window.name, describe(exc))
                    failed.append(f"{window.name} ({describe(exc)})")
                else:
                    tf_ms = TimeFrame.from_string(window.timeframe).to_milliseconds()
                    counters["stored"] += written.inserted
                    counters["changed"] += written.changed
                    counters["missing"] += (window.end_ms - window.start_ms) // tf_ms - len(candles)
                counters["done"] += 1
                publish(window.name)

        publish(None)
        workers = [
            asyncio.create_task(worker(), name=f"backfill-worker-{i}")
            for i in range(min(self.max_concurrency, total))
        ]
        cancelled = False
        try:
            if workers:
                pending: set[asyncio.Future[Any]] = set(workers)
                watcher = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
                if watcher is not None:
                    pending.add(watcher)
                while any(not w.done() for w in workers):
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    if watcher is not None and watcher.done():
                        cancelled = True
                        break
                    pending = {t for t in pending if not t.done()}
                if watcher is not None and not watcher.done():
                    watcher.cancel()
            elif cancel is not None and cancel.is_set():
                cancelled = True
        finally:
            # Reached on cancel, on our own task's cancellation, or normally (no-op then).
            for w in workers:
                w.cancel()
            if workers:
                await asyncio.gather(*workers, return_exceptions=True)
        for w in workers:  # a worker bug (not a window failure) must surface
            if not w.cancelled() and w.exception() is not None:
                raise w.exception()  # type: ignore[misc]
        result = BackfillResult(
            candles_stored=counters["stored"],
            windows_done=counters["done"],
            windows_total=total,
            elapsed_s=self.clock() - started,
            cancelled=cancelled and counters["done"] < total,
            failed_windows=tuple(sorted(failed)),
            missing_candles=counters["missing"],
            forced=plan.force,
            candles_changed=counters["changed"],
        )
        logger.info("backfill: {}", result.summary())
        return result
