"""The one shared ccxt.pro exchange, and its coordinated re-creation after socket poisoning."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from loguru import logger

from scalp_radar.exchange.errors import describe
from scalp_radar.exchange.instrument import (
    FrameFault,
    RestTally,
    count_rest_failures,
    guard_receive_loop,
    inspect_candle_frames,
)

# Told (kind, message) of exchange-wide events worth an incident, e.g. a dead receive loop.
EventSink = Callable[[str, str], None]


class ExchangeHolder:
    """Holds the current exchange and a generation number bumped by every re-creation.

    ccxt cannot recover a socket after an error event (the failed subscription stays and a
    retried watch hangs), so streams ask for `recycle(generation)`: the first request for a
    generation closes and re-creates the exchange, later requests for the same one are no-ops.
    """

    def __init__(
        self,
        factory: Callable[[], Any],
        close_timeout_s: float = 2.0,
        *,
        on_event: EventSink | None = None,
        on_frame: FrameFault | None = None,
    ) -> None:
        self._factory = factory
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self._retired: list[Any] = []  # replaced exchanges whose graceful close may still run
        self._close_timeout_s = close_timeout_s
        self._on_event = on_event
        self._on_frame = on_frame
        self.exchange: Any = None
        self.generation = 0
        self.recycles = 0
        self.rest = RestTally()
        self.malformed_frames = 0  # frames that killed (would have killed) a receive loop

    def ensure(self) -> Any:
        """The current exchange, created on first use."""
        if self.exchange is None:
            self.exchange = self._create()
        return self.exchange

    async def recycle(self, generation: int, reason: str) -> bool:
        """Replace the exchange if it is still `generation`; True when this call replaced it."""
        async with self._lock:
            return self._replace(generation, reason)

    def _create(self) -> Any:
        ex = self._factory()
        count_rest_failures(ex, self.rest)
        guard_receive_loop(ex, self._receive_died)
        if self._on_frame is not None:
            inspect_candle_frames(ex, self._on_frame)
        return ex

    def _replace(self, generation: int, reason: str) -> bool:
        # Synchronous (no await): safe from a ccxt callback and atomic on the event loop.
        if generation != self.generation or self.exchange is None:
            return False
        old = self.exchange
        new = self._create()
        _copy_markets(old, new)
        self.exchange = new
        self.generation += 1
        self.recycles += 1
        logger.warning("re-creating the exchange (generation {}): {}", self.generation, reason)
        self._retired.append(old)
        task = asyncio.get_running_loop().create_task(self._close(old))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        task.add_done_callback(lambda _t: self._forget(old))
        return True

    def _receive_died(self, client: Any, exc: BaseException) -> None:
        """A frame broke `client`'s receive loop: fail its watches now and re-create."""
        import ccxt

        self.malformed_frames += 1
        what = "malformed frame" if isinstance(exc, json.JSONDecodeError) else "frame handler"
        reason = f"websocket receive loop died on a {what} ({describe(exc)})"
        logger.warning("{}: {}", client.url, reason)
        if self._on_event is not None:
            self._on_event("error", reason)
        ex = self.exchange
        if ex is not None and (ex.clients or {}).get(client.url) is client:
            self._replace(self.generation, reason)
        # Wake every watcher of the dead socket with the reason (they re-dial at once).
        client.reject(ccxt.NetworkError(reason))

    def _forget(self, exchange: Any) -> None:
        with contextlib.suppress(ValueError):
            self._retired.remove(exchange)

    async def _close(self, exchange: Any) -> None:
        try:
            await asyncio.wait_for(exchange.close(), self._close_timeout_s)
            return
        except (TimeoutError, Exception) as exc:  # noqa: BLE001
            logger.debug("exchange close did not finish cleanly: {!r}", exc)
        # A silent server (stale, no pong) never answers the websocket close handshake:
        # closing the HTTP session aborts every socket it owns.
        session = getattr(exchange, "session", None)
        if session is not None:
            with contextlib.suppress(Exception, asyncio.TimeoutError):
                await asyncio.wait_for(session.close(), 1.0)
            exchange.session = None

    async def close(self, timeout_s: float = 0.5) -> None:
        """Close the current exchange and any still closing, at once (stop and quit use this).

        The sockets are aborted: waiting for the exchange's websocket close handshake (or a TLS
        shutdown) would only delay quitting, and a silent server never answers it.
        """
        ex, self.exchange = self.exchange, None
        closing = list(self._closing)
        for task in closing:
            task.cancel()
        retired, self._retired = self._retired, []
        aborts = [abort_exchange(e) for e in [*retired, ex] if e is not None]
        if aborts:
            done = asyncio.gather(*aborts, return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done, timeout_s)


async def abort_exchange(exchange: Any) -> None:
    """Close every socket of a ccxt exchange now: no close handshake, no TLS shutdown, no sleep."""
    # Set first: a request still in flight must not lazily reopen a session (ccxt checks it).
    exchange.closed_by_user = True
    for client in list((exchange.clients or {}).values()):
        with contextlib.suppress(Exception):
            if client.ping_looper is not None:
                client.ping_looper.cancel()
            for future in list(client.futures.values()):
                future.cancel()
    if exchange.clients:
        exchange.clients.clear()
    # The websockets and REST connections all belong to the exchange's one aiohttp connector.
    connector = exchange.tcp_connector
    if connector is not None:
        exchange.tcp_connector = None
        with contextlib.suppress(Exception):
            await connector.close(abort_ssl=True)
    session = exchange.session
    if session is not None:
        exchange.session = None
        with contextlib.suppress(Exception):
            await session.close()


def _copy_markets(old: Any, new: Any) -> None:
    """Give the new instance the loaded markets so re-creation costs no REST calls."""
    markets = getattr(old, "markets", None)
    if not markets:
        return
    try:
        # Shared with the old instance, not deep-copied (ccxt never mutates loaded markets).
        new.set_markets_from_exchange(old)
    except Exception as exc:  # noqa: BLE001 - a failed copy only costs a reload
        logger.debug("could not copy markets to the new exchange: {}", exc)
