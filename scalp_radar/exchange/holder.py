"""The one shared ccxt.pro exchange, and its coordinated re-creation after socket poisoning."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from loguru import logger


class ExchangeHolder:
    """Holds the current exchange and a generation number bumped by every re-creation.

    ccxt cannot recover a socket after an error event (the failed subscription stays and a
    retried watch hangs), so streams ask for `recycle(generation)`: the first request for a
    generation closes and re-creates the exchange, later requests for the same one are no-ops.
    """

    def __init__(self, factory: Callable[[], Any], close_timeout_s: float = 2.0) -> None:
        self._factory = factory
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self._close_timeout_s = close_timeout_s
        self.exchange: Any = None
        self.generation = 0
        self.recycles = 0

    def ensure(self) -> Any:
        """The current exchange, created on first use."""
        if self.exchange is None:
            self.exchange = self._factory()
        return self.exchange

    async def recycle(self, generation: int, reason: str) -> bool:
        """Replace the exchange if it is still `generation`; True when this call replaced it."""
        async with self._lock:
            if generation != self.generation or self.exchange is None:
                return False
            old = self.exchange
            new = self._factory()
            _copy_markets(old, new)
            self.exchange = new
            self.generation += 1
            self.recycles += 1
            logger.warning("re-creating the exchange (generation {}): {}", self.generation, reason)
            task = asyncio.get_running_loop().create_task(self._close(old))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            return True

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
        """Close the current exchange and any still closing; bounded by `timeout_s`."""
        ex, self.exchange = self.exchange, None
        tasks = list(self._closing)
        if ex is not None:
            with contextlib.suppress(Exception):
                # The exit sleep only matters for TLS teardown; keep stop fast.
                ex.timeout_on_exit = min(getattr(ex, "timeout_on_exit", 0) or 0, 50)
            tasks.append(asyncio.get_running_loop().create_task(self._close(ex)))
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for t in pending:
                t.cancel()


def _copy_markets(old: Any, new: Any) -> None:
    """Give the new instance the loaded markets so re-creation costs no REST calls."""
    markets = getattr(old, "markets", None)
    if not markets:
        return
    try:
        new.set_markets(markets, getattr(old, "currencies", None))
    except Exception as exc:  # noqa: BLE001 - a failed copy only costs a reload
        logger.debug("could not copy markets to the new exchange: {}", exc)
