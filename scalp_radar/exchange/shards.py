"""Tickers for the whole market over many websockets, inside Bitget's limits.

ccxt.pro opens one socket per exchange instance and never shards, so a shard is one instance
holding at most `channels_per_shard` ticker channels, subscribed with ONE batched frame. A
`ConnectionGate` shared by every shard paces dials (spacing, new connections per 5 min, open
connections), so a drop of every connection at once (Bitget's daily recycle) comes back one
socket at a time instead of tripping 30006/30007. A shard that errors is closed and rebuilt
(ccxt cannot recover a socket after an error event), costing only its own channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from functools import cache
from typing import Any

from loguru import logger

from scalp_radar.core.snapshot import ShardSnapshot, ShardState
from scalp_radar.exchange.backoff import Backoff
from scalp_radar.exchange.bitget import (
    MAX_NEW_CONNECTIONS,
    MAX_OPEN_CONNECTIONS,
    NEW_CONNECTIONS_WINDOW_S,
    PRODUCT_TYPE,
    TickerUpdate,
    parse_ticker_row,
)

RawHook = Callable[[dict[str, Any]], None]
TickerSink = Callable[[str, TickerUpdate, int], None]  # (ccxt symbol, update, shard id)
MonoClock = Callable[[], float]

_INST_ID_RE = re.compile(r'"instId"\s*:\s*"([A-Za-z0-9_]+)"|instId:([A-Za-z0-9_]+)')
_CCXT_TOKENS_PER_S = 20.0  # ccxt's ws send throttle shares the REST bucket: 1000 / 50 ms
_CLOSE_TIMEOUT_S = 2.0
_WATCH_CHECK_S = 0.5  # how often a shard's watchdog looks at its socket
_STABLE_AFTER_S = 60.0  # a shard live this long starts its backoff from scratch
_BACKOFF_BASE_S = 0.5
_MAX_BACKOFF_S = 30.0


@cache
def ticker_exchange_class() -> type:
    """ccxt.pro.bitget whose ticker frames go straight to a hook (imported lazily: ccxt is slow).

    The hook sees every push (ccxt's watch_tickers returns one ticker per call however many
    arrived) and skips ccxt's per-push unified parsing, which the radar does not need: the
    raw row already has funding, mark, index and open interest as plain fields.
    """
    import ccxt.pro as ccxtpro

    class TickerBitget(ccxtpro.bitget):  # type: ignore[misc]
        ticker_hook: RawHook | None = None

        def handle_ticker(self, client: Any, message: dict[str, Any]) -> None:
            hook = self.ticker_hook
            if hook is None:
                super().handle_ticker(client, message)
            else:
                hook(message)

    return TickerBitget


class ConnectionGate:
    """Per-IP connection pacing shared by every shard: spacing between dials, at most
    `max_new` dials per `window_s`, at most `max_open` sockets open at once. FIFO."""

    def __init__(
        self,
        *,
        spacing_s: float,
        max_new: int = MAX_NEW_CONNECTIONS,
        window_s: float = NEW_CONNECTIONS_WINDOW_S,
        max_open: int = MAX_OPEN_CONNECTIONS,
        clock: MonoClock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.spacing_s = spacing_s
        self._sleep = sleep
        self.max_new = min(max_new, MAX_NEW_CONNECTIONS)
        self.window_s = window_s
        self.max_open = min(max_open, MAX_OPEN_CONNECTIONS)
        self._clock = clock
        self._dials: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._released = asyncio.Event()
        self.open = 0
        self.total_dials = 0

    def _wait_s(self) -> float:
        now = self._clock()
        while self._dials and now - self._dials[0] >= self.window_s:
            self._dials.popleft()
        wait = 0.0
        if self._dials:
            wait = max(wait, self._dials[-1] + self.spacing_s - now)
        if len(self._dials) >= self.max_new:
            wait = max(wait, self._dials[0] + self.window_s - now)
        return wait

    async def acquire(self) -> None:
        """Wait for the right to open one socket; `release()` when it is closed."""
        async with self._lock:
            while True:
                if self.open >= self.max_open:
                    self._released.clear()
                    await self._released.wait()
                    continue
                wait = self._wait_s()
                if wait <= 0:
                    break
                await self._sleep(wait)
            self._dials.append(self._clock())
            self.open += 1
            self.total_dials += 1

    def release(self) -> None:
        """One socket closed."""
        self.open = max(0, self.open - 1)
        self._released.set()

    def dials_in_window(self) -> int:
        """Dials in the last `window_s`."""
        self._wait_s()
        return len(self._dials)


class SubscribeBudget:
    """Subscribe frames sent on one connection in the last hour (Bitget: <= 240)."""

    def __init__(self, per_hour: int, clock: MonoClock = time.monotonic) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._sent: deque[float] = deque()

    def used(self) -> int:
        """Frames sent in the last hour on this connection."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= 3600.0:
            self._sent.popleft()
        return len(self._sent)

    def allows(self) -> bool:
        """True when one more frame stays inside the budget."""
        return self.used() < self.per_hour

    def record(self) -> None:
        """One subscribe frame sent."""
        self._sent.append(self._clock())

    def reset(self) -> None:
        """A new connection starts with a fresh budget."""
        self._sent.clear()


class TickerShard:
    """One websocket holding up to `capacity` ticker channels, re-dialled through the gate."""

    def __init__(self, pool: ShardPool, shard_id: int) -> None:
        self.pool = pool
        self.shard_id = shard_id
        self.symbols: list[str] = []
        self._tracked: set[str] = set()  # the same symbols, for O(1) routing of pushes
        self._pending_add: list[str] = []
        # Symbols a subscribe frame was sent for on the current socket, and those of them that
        # left: one batched unsubscribe frame each round, paced like a subscribe.
        self._subscribed: set[str] = set()
        self._pending_remove: list[str] = []
        self.unsubscribes = 0  # unsubscribe frames sent (all sockets)
        self.state = ShardState.CONNECTING
        self.reason: str | None = None
        self.connects = 0
        self.errors = 0
        self.limit_errors = 0  # 30006/30007 (RateLimitExceeded) seen by this shard
        self.messages = 0
        self.last_message_at: float | None = None
        self.next_retry_at: float | None = None
        self.budget = SubscribeBudget(pool.subscribes_per_hour, pool.mono)
        # Jittered per shard, so shards that failed together come back apart.
        self.backoff = Backoff(
            _BACKOFF_BASE_S,
            _MAX_BACKOFF_S,
            _STABLE_AFTER_S,
            rng=random.Random(shard_id),
            monotonic=pool.mono,
        )
        self._exchange: Any = None
        self._wake = asyncio.Event()

    # -- membership --------------------------------------------------------------------------
    def add(self, symbols: Iterable[str]) -> None:
        """Track more symbols: one extra subscribe frame on the live socket (or at re-dial)."""
        new = [s for s in dict.fromkeys(symbols) if s not in self._tracked]
        self.symbols.extend(new)
        self._tracked.update(new)
        back = set(new) & set(self._pending_remove)  # left and came back before the frame went
        self._pending_remove = [s for s in self._pending_remove if s not in back]
        self._pending_add.extend(s for s in new if s not in back)
        self._wake.set()

    def remove(self, symbols: Iterable[str]) -> None:
        """Stop tracking symbols: their pushes are ignored at once, and the live socket gets
        one unsubscribe frame for those it subscribed (paced and counted like a subscribe)."""
        gone = set(symbols) & self._tracked
        if not gone:
            return
        self.symbols = [s for s in self.symbols if s not in gone]
        self._tracked -= gone
        self._pending_add = [s for s in self._pending_add if s not in gone]
        self._pending_remove.extend(s for s in gone if s in self._subscribed)
        self._wake.set()

    # -- the socket --------------------------------------------------------------------------
    def _on_frame(self, message: dict[str, Any]) -> None:
        """A ticker push (called by ccxt's receive loop, on the engine's event loop)."""
        self.last_message_at = self.pool.mono()
        self.messages += 1
        data = message.get("data")
        if not isinstance(data, list):
            return
        ids = self.pool.symbol_of_id
        tracked = self._tracked
        for row in data:
            if not isinstance(row, dict):
                continue
            update = parse_ticker_row(row)
            if update is None:
                continue
            symbol = ids.get(update.inst_id)
            if symbol is not None and symbol in tracked:
                self.pool.sink(symbol, update, self.shard_id)

    async def run(self) -> None:
        """Dial, subscribe, watch; on any failure close this shard's instance and dial again."""
        while True:
            if not self.symbols:
                self.state, self.reason = ShardState.STOPPED, "no symbols"
                self._wake.clear()
                await self._wake.wait()
                continue
            gate = self.pool.gate
            if gate.open >= gate.max_open:
                self.reason = f"waiting: {gate.open} of {gate.max_open} connections open"
            await gate.acquire()
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure costs only this shard
                self._failed(exc)
            finally:
                await self._close()
                self.pool.gate.release()
            delay = self.backoff.next_delay()
            self.next_retry_at = self.pool.mono() + delay
            await asyncio.sleep(delay)
            self.next_retry_at = None

    async def _session(self) -> None:
        pool = self.pool
        self.state = ShardState.CONNECTING if self.connects == 0 else ShardState.RECONNECTING
        ex = pool.new_exchange()
        ex.ticker_hook = self._on_frame
        self._exchange = ex
        self.connects += 1
        self.budget.reset()
        self._pending_add.clear()
        # A new socket subscribes to exactly `symbols`: nothing to unsubscribe on it.
        self._subscribed.clear()
        self._pending_remove.clear()
        dialled_at = pool.mono()
        self.last_message_at = None
        watches: set[asyncio.Future[Any]] = {self._subscribe(ex, list(self.symbols))}
        try:
            await self._watch(ex, watches, dialled_at)
        finally:
            for task in watches:
                task.cancel()
            # Retrieve what the closing socket rejects them with, so nothing logs "never retrieved".
            await asyncio.gather(*watches, return_exceptions=True)

    async def _watch(self, ex: Any, watches: set[asyncio.Future[Any]], dialled_at: float) -> None:
        pool = self.pool
        while True:
            done, _ = await asyncio.wait(watches, timeout=_WATCH_CHECK_S)
            for task in done:
                watches.discard(task)
                if not _unsubscribed(task):
                    task.result()  # raises the socket's error; a clean return means nothing
            now = pool.mono()
            last = self.last_message_at
            quiet = now - (last if last is not None and last > dialled_at else dialled_at)
            if quiet > pool.stale_after_s:
                self.state = ShardState.STALE
                raise _Stale(f"no ticker for {quiet:.0f} s")
            if last is not None and last > dialled_at:
                if self.state is not ShardState.LIVE:
                    self.state, self.reason = ShardState.LIVE, None
                    self.backoff.connected()
                self.backoff.reset_if_stable()
            if self._pending_remove and self.budget.allows():
                batch, self._pending_remove = self._pending_remove, []
                unsubscribe = self._unsubscribe(ex, batch)
                if unsubscribe is not None:
                    watches.add(unsubscribe)
            if self._pending_add and self.budget.allows():
                batch, self._pending_add = self._pending_add, []
                watches.add(self._subscribe(ex, batch))

    def _subscribe(self, ex: Any, symbols: list[str]) -> asyncio.Future[Any]:
        """ONE subscribe frame with every arg (ccxt's watch_tickers batches them)."""
        self.budget.record()
        self._subscribed.update(symbols)
        watch: Awaitable[Any] = ex.watch_tickers(symbols)
        return asyncio.ensure_future(watch)

    def _unsubscribe(self, ex: Any, symbols: list[str]) -> asyncio.Future[Any] | None:
        """ONE unsubscribe frame with every arg (ccxt's un_watch_ticker sends one per symbol).

        Sent through ccxt's own watch path (its send throttle and its handler, which resolves
        `unsubscribe:ticker:<symbol>` and forgets the subscription, so a later re-add sends a
        subscribe again); counted in the hourly budget like a subscribe.
        """
        self._subscribed.difference_update(symbols)
        # A delisted symbol (gone from the markets) is not unsubscribed: the exchange would
        # answer 30001 and fail the socket; its pushes are ignored, the next dial drops it.
        ids = self.pool.id_of_symbol
        listed = [s for s in symbols if s in ids]
        if not listed:
            return None
        self.budget.record()
        self.unsubscribes += 1
        args = [{"instType": PRODUCT_TYPE, "channel": "ticker", "instId": ids[s]} for s in listed]
        hashes = [f"unsubscribe:ticker:{s}" for s in listed]
        url = ex.urls["api"]["ws"]["public"]
        message = {"op": "unsubscribe", "args": args}
        unwatch: Awaitable[Any] = ex.watch_multiple(url, hashes, message, hashes)
        return asyncio.ensure_future(unwatch)

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        name = type(exc).__name__
        text = str(exc).splitlines()[0][:160] if str(exc) else name
        if name == "RateLimitExceeded":
            self.limit_errors += 1
            self.pool.limit_errors += 1
        rejected = self.pool.rejected_symbol(str(exc)) if name == "BadRequest" else None
        if rejected is not None:
            # 30001 "instId doesn't exist" (delisted since the last markets load): re-dialling
            # with it would fail the whole shard forever; drop it until markets say otherwise.
            self.remove([rejected])
            self.pool.rejected.add(rejected)
            if self.pool.on_rejected is not None:
                self.pool.on_rejected(rejected)
        self.reason = text if isinstance(exc, _Stale) else f"{name}: {text}"
        if self.state is not ShardState.STALE:
            self.state = ShardState.RECONNECTING
        logger.warning("ticker shard {}: {} (re-dialling)", self.shard_id, self.reason)
        if self.pool.on_failed is not None:
            self.pool.on_failed()

    async def _close(self) -> None:
        ex, self._exchange = self._exchange, None
        if ex is None:
            return
        ex.ticker_hook = None
        try:
            await asyncio.wait_for(ex.close(), _CLOSE_TIMEOUT_S)
        except (TimeoutError, Exception) as exc:  # noqa: BLE001
            logger.debug("ticker shard {} close: {!r}", self.shard_id, exc)
            session = getattr(ex, "session", None)
            if session is not None:
                with contextlib.suppress(Exception, asyncio.TimeoutError):
                    await asyncio.wait_for(session.close(), 1.0)

    def snapshot(self) -> ShardSnapshot:
        """The frozen view of this shard."""
        now = self.pool.mono()
        age = None if self.last_message_at is None else max(0.0, now - self.last_message_at)
        retry = None if self.next_retry_at is None else max(0.0, self.next_retry_at - now)
        return ShardSnapshot(
            shard_id=self.shard_id,
            state=self.state,
            channels=len(self.symbols),
            subscribe_messages_hour=self.budget.used(),
            connects=self.connects,
            last_message_age_s=age,
            reason=self.reason,
            next_retry_in_s=retry,
        )


class _Stale(Exception):
    """A shard's socket sent nothing for too long."""


def _unsubscribed(task: asyncio.Future[Any]) -> bool:
    """True when a watch ended because its channel was unsubscribed (ccxt rejects the
    subscribe's future with UnsubscribeError): the socket is fine."""
    if task.cancelled():
        return False
    exc = task.exception()
    return exc is not None and type(exc).__name__ == "UnsubscribeError"


@dataclass(eq=False)
class ShardPool:
    """Every ticker shard, the connection gate they share, and one REST instance (markets and
    the all-tickers call)."""

    exchange_factory: Callable[..., Any]
    sink: TickerSink
    _: KW_ONLY
    channels_per_shard: int
    subscribes_per_hour: int
    messages_per_s: float
    stale_after_s: float
    gate: ConnectionGate
    mono: MonoClock = time.monotonic
    rest: Any = field(default=None, init=False)
    shards: list[TickerShard] = field(default_factory=list, init=False)
    _tasks: dict[int, asyncio.Task[None]] = field(default_factory=dict, init=False)
    symbol_of_id: dict[str, str] = field(default_factory=dict, init=False)
    id_of_symbol: dict[str, str] = field(default_factory=dict, init=False)
    limit_errors: int = field(default=0, init=False)
    rejected: set[str] = field(default_factory=set, init=False)  # refused by the exchange (30001)
    on_rejected: Callable[[str], None] | None = field(default=None, init=False)
    # Told when a shard loses its socket.
    on_failed: Callable[[], None] | None = field(default=None, init=False)

    # -- REST --------------------------------------------------------------------------------
    def _rest(self) -> Any:
        if self.rest is None:
            self.rest = self.exchange_factory(ticker_class=False)
        return self.rest

    async def load_markets(self) -> Mapping[str, Mapping[str, Any]]:
        """(Re)load the exchange's markets; every new shard instance gets a copy."""
        rest = self._rest()
        markets = await rest.load_markets(reload=True)
        return markets  # type: ignore[no-any-return]

    def set_ids(self, symbol_to_id: Mapping[str, str]) -> None:
        """Exchange id -> ccxt symbol for routing pushes (and back, for unsubscribe frames)."""
        self.id_of_symbol = dict(symbol_to_id)
        self.symbol_of_id = {inst: symbol for symbol, inst in symbol_to_id.items()}

    async def fetch_tickers(self) -> list[TickerUpdate]:
        """Every USDT-M ticker in one REST call (GET /api/v2/mix/market/tickers)."""
        rest = self._rest()
        answer = await rest.public_mix_get_v2_mix_market_tickers({"productType": PRODUCT_TYPE})
        rows = answer.get("data") if isinstance(answer, dict) else None
        now = int(rest.milliseconds())
        out = []
        for row in rows or []:
            if isinstance(row, dict):
                update = parse_ticker_row(row, fallback_ts=now)
                if update is not None:
                    out.append(update)
        return out

    async def fetch_candles(self, symbol: str, timeframe: str, limit: int) -> list[list[float]]:
        """The latest `limit` candles of one symbol, oldest first (GET /api/v2/mix/market/candles)."""
        rows = await self._rest().fetch_ohlcv(symbol, timeframe, limit=limit)
        return rows  # type: ignore[no-any-return]

    def rejected_symbol(self, error_text: str) -> str | None:
        """The symbol a 30001 "instId:XXX doesn't exist" error names, if it is ours."""
        # ccxt's message carries the event JSON: ..."arg":{...,"instId":"XUSDT"},"code":30001...
        if "30001" not in error_text:
            return None
        match = _INST_ID_RE.search(error_text)
        return self.symbol_of_id.get(match.group(1) or match.group(2)) if match else None

    def new_exchange(self) -> Any:
        """A fresh ticker instance carrying the REST instance's markets (no REST at dial)."""
        ex = self.exchange_factory(ticker_class=True)
        rest = self.rest
        if rest is not None and rest.markets:
            # Shared, not re-parsed: set_markets would rebuild every market dict per shard.
            ex.set_markets_from_exchange(rest)
        return ex

    # -- shards ------------------------------------------------------------------------------
    def assign(self, symbols: Iterable[str]) -> tuple[list[str], list[str]]:
        """Make the shards hold exactly `symbols`; returns (added, removed).

        Symbols stay on their shard; new ones fill shards with room first, then new shards.
        """
        wanted = list(dict.fromkeys(symbols))
        wanted_set = set(wanted)
        held = {s for shard in self.shards for s in shard.symbols}
        removed = [s for s in held if s not in wanted_set]
        if removed:
            for shard in self.shards:
                shard.remove(removed)
        added = [s for s in wanted if s not in held]
        queue = list(added)
        for shard in self.shards:
            room = self.channels_per_shard - len(shard.symbols)
            if room > 0 and queue:
                shard.add(queue[:room])
                queue = queue[room:]
        while queue:
            shard = TickerShard(self, len(self.shards))
            shard.add(queue[: self.channels_per_shard])
            queue = queue[self.channels_per_shard :]
            self.shards.append(shard)
        self._start_missing()
        return added, removed

    def _start_missing(self) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop yet: start() does it
            loop = asyncio.get_running_loop()
            if not self._running:
                return
            for shard in self.shards:
                if shard.shard_id not in self._tasks:
                    self._tasks[shard.shard_id] = loop.create_task(
                        shard.run(), name=f"ticker shard {shard.shard_id}"
                    )

    _running = False

    def start(self) -> None:
        """Start every shard's loop (on the running loop)."""
        self._running = True
        self._start_missing()

    async def stop(self) -> None:
        """Cancel every shard and close every instance."""
        self._running = False
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT_S + 1)
        for shard in self.shards:
            shard.state = ShardState.STOPPED
        rest, self.rest = self.rest, None
        if rest is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(rest.close(), _CLOSE_TIMEOUT_S)

    def down_symbols(self) -> list[str]:
        """Symbols whose shard is not live (the REST fallback covers them)."""
        return [
            s for shard in self.shards if shard.state is not ShardState.LIVE for s in shard.symbols
        ]

    def snapshot(self) -> tuple[ShardSnapshot, ...]:
        """Every shard, frozen."""
        return tuple(shard.snapshot() for shard in self.shards)


def ws_options(messages_per_s: float, keep_alive_ms: int | None = None) -> dict[str, Any]:
    """ccxt options that pace one instance's websocket sends to `messages_per_s`."""
    ws: dict[str, Any] = {"cost": _CCXT_TOKENS_PER_S / messages_per_s}
    if keep_alive_ms is not None:
        ws["keepAlive"] = keep_alive_ms
    return {"ws": ws}
