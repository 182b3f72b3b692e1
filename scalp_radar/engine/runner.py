"""The engine on its own asyncio loop in its own thread, for UIs; plus the shared start-up stack."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loguru import logger

from scalp_radar.core.clock import Clock
from scalp_radar.core.config_models import AppConfig
from scalp_radar.core.engine_lock import EngineLock, EngineRole
from scalp_radar.core.models import TimeFrame
from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.engine.data_engine import DataEngine
from scalp_radar.engine.tickers import UniverseEngine

if TYPE_CHECKING:
    from scalp_radar.core.limiter import RateLimiter
    from scalp_radar.core.store import Database

START_TIMEOUT_S = 30.0


class Simulator(Protocol):
    """A running simulated exchange, as the engine sees it (the app layer starts one)."""

    @property
    def url(self) -> str | None: ...

    @property
    def clock(self) -> Clock: ...

    async def stop(self) -> None: ...


# Starts a simulator for these symbols on the engine's loop (demo mode); supplied by the app layer.
SimulatorFactory = Callable[[Sequence[str]], Awaitable[Simulator]]


@dataclass(frozen=True, slots=True)
class EngineTarget:
    """What an engine runs on: its config, its database (None: nothing stored) and its exchange,
    `sim_url` or the real one; in demo mode without a `sim_url`, the simulator `simulator` starts."""

    config: AppConfig
    db_path: Path | None
    demo: bool = False
    sim_url: str | None = None
    simulator: SimulatorFactory | None = None


@dataclass
class EngineStack:
    """Everything one engine process owns: optional simulator, database, limiter, engine."""

    engine: DataEngine
    db: Database | None
    limiter: RateLimiter
    sim: Simulator | None = None
    lock: EngineLock | None = None  # one engine per database, held until closed

    async def aclose(self) -> None:
        """Stop the engine (flushing), then close the database, release it, stop the simulator."""
        try:
            await self.engine.stop()
        finally:
            if self.db is not None:
                with contextlib.suppress(Exception):
                    await self.db.close()
            if self.lock is not None:
                self.lock.release()
            if self.sim is not None:
                with contextlib.suppress(Exception, asyncio.TimeoutError):
                    await asyncio.wait_for(self.sim.stop(), 1.0)


async def open_engine(
    target: EngineTarget,
    *,
    clock: Clock | None = None,
    exchange_options: dict[str, Any] | None = None,
    start: bool = True,
    role: EngineRole = EngineRole.DASHBOARD,
) -> EngineStack:
    """Build (and by default start) the engine on `target`, starting its simulator first in demo
    mode without a `sim_url`.

    With a database, first take its engine lock (EngineLocked if another engine runs on it),
    before the simulator or the exchange is touched.
    """
    from scalp_radar.core.limiter import RateLimiter

    config, db_path, demo, sim_url = target.config, target.db_path, target.demo, target.sim_url
    sim: Simulator | None = None
    db = None
    lock = EngineLock(db_path, role).acquire() if db_path is not None else None
    try:
        if demo and sim_url is None:
            if target.simulator is None:
                raise ValueError("demo mode needs a simulator factory or a sim_url")
            sim = await target.simulator(list(config.symbols))
            if sim.url is None:
                # Never fall back to the real exchange in demo mode.
                raise RuntimeError("demo simulator started without a URL")
            sim_url = sim.url
            clock = clock or sim.clock
            logger.warning("DEMO: simulated market at {} — prices are not real", sim_url)
        if db_path is not None:
            from scalp_radar.core.store import Database

            db = Database(db_path)
            await db.init()
        limiter = RateLimiter.from_exchange_config(config.exchange)
        universe = UniverseEngine(config, limiter, sim_url=sim_url, clock=clock, db=db)
        engine = DataEngine(
            config,
            db,
            limiter,
            sim_url=sim_url,
            demo=demo,
            clock=clock,
            exchange_options=exchange_options,
            universe=universe,
        )
        stack = EngineStack(engine, db, limiter, sim, lock)
        if start:
            await engine.start()
        return stack
    except BaseException:
        if db is not None:
            with contextlib.suppress(Exception):
                await db.close()
        if lock is not None:
            lock.release()
        if sim is not None:
            with contextlib.suppress(Exception):
                await sim.stop()
        raise


@dataclass(eq=False)
class EngineRunner:
    """Runs a `DataEngine` on a private loop in a daemon thread; every method is thread-safe."""

    target: EngineTarget
    _: KW_ONLY
    exchange_options: dict[str, Any] | None = None
    loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    stack: EngineStack | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _started: threading.Event = field(default_factory=threading.Event, init=False)
    _stop_event: asyncio.Event | None = field(default=None, init=False)
    _error: BaseException | None = field(default=None, init=False)

    # Attributes the TUI and backfills reach for.
    @property
    def engine(self) -> DataEngine | None:
        """The engine, once started."""
        return self.stack.engine if self.stack else None

    @property
    def limiter(self) -> RateLimiter:
        """The process-wide rate limiter (shared with backfills); RuntimeError before start."""
        if self.stack is None:
            raise RuntimeError("engine is not running")
        return self.stack.limiter

    @property
    def db(self) -> Database | None:
        """The open database, or None."""
        return self.stack.db if self.stack else None

    @property
    def exchange(self) -> Any:
        """The engine's current ccxt.pro exchange."""
        return self.stack.engine.holder.exchange if self.stack else None

    @property
    def sim(self) -> Simulator | None:
        """The in-process simulator in demo mode, else None."""
        return self.stack.sim if self.stack else None

    def start(self) -> None:
        """Start the thread, the loop, (in demo) the simulator and the engine; wait until started."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="scalp-radar-engine", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise RuntimeError(f"engine did not start within {START_TIMEOUT_S:.0f}s")
        if self._error is not None:
            self._thread.join(1.0)
            raise self._error

    def stop(self, timeout_s: float = 0.9) -> None:
        """Stop the engine (flushing) and join the thread; safe from any thread, bounded in time."""
        thread, loop, ev = self._thread, self.loop, self._stop_event
        if thread is None:
            return
        if loop is not None and ev is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(ev.set)
        if threading.current_thread() is not thread:
            thread.join(timeout_s)
        if not thread.is_alive():
            self._thread = None

    def join(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the engine thread to end (after `stop`); True once it has.

        `stop` joins for under a second only, so a UI can close at once; a process about to exit
        calls this too, or it would kill the daemon thread in the middle of the final flush.
        """
        thread = self._thread
        if thread is None:
            return True
        if threading.current_thread() is not thread:
            thread.join(max(0.0, timeout_s))
        if thread.is_alive():
            return False
        if self._thread is thread:
            self._thread = None
        return True

    @property
    def alive(self) -> bool:
        """True while the engine thread runs (False before start, after stop, or if it died)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def snapshot(self) -> EngineSnapshot | None:
        """The engine's latest snapshot, or None before start."""
        stack = self.stack
        return stack.engine.snapshot() if stack else None

    def watch_symbol(
        self, symbol: str, timeframes: Sequence[TimeFrame] | None = None
    ) -> concurrent.futures.Future[None]:
        """Add a watchlist symbol's candle streams without a restart (from any thread)."""
        return self._engine_call(lambda e: e.watch_symbol(symbol, timeframes))

    def set_user_watchlist(self, symbols: Sequence[str]) -> concurrent.futures.Future[None]:
        """The user's whole watchlist (state file): candle streams follow it (any thread)."""
        return self._engine_call(lambda e: e.set_user_watchlist(tuple(symbols)))

    def unwatch_symbol(self, symbol: str) -> concurrent.futures.Future[None]:
        """Remove a watchlist symbol's candle streams (unless hot or pinned), from any thread."""
        return self._engine_call(lambda e: e.unwatch_symbol(symbol))

    def pin(self, symbol: str) -> concurrent.futures.Future[None]:
        """Stream `symbol`'s candles while a detail screen is open on it (from any thread)."""
        return self._engine_call(lambda e: e.pin(symbol))

    def unpin(self, symbol: str) -> concurrent.futures.Future[None]:
        """The detail screen on `symbol` closed (from any thread)."""
        return self._engine_call(lambda e: e.unpin(symbol))

    def _engine_call(
        self, call: Callable[[DataEngine], Coroutine[Any, Any, None]]
    ) -> concurrent.futures.Future[None]:
        engine = self.engine
        if engine is None:
            raise RuntimeError("engine is not running")
        return self.run_coroutine(call(engine))

    def run_coroutine(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Schedule `coro` on the engine loop (backfills share its limiter and exchange)."""
        if self.loop is None or self.loop.is_closed():
            coro.close()
            raise RuntimeError("engine is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = self._error or exc
        finally:
            with contextlib.suppress(Exception):
                _cancel_all(loop)
            loop.close()
            self._started.set()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        try:
            self.stack = await open_engine(self.target, exchange_options=self.exchange_options)
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        await self._stop_event.wait()
        await self.stack.aclose()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel stragglers (e.g. ccxt internals) so the loop closes without warnings."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        loop.run_until_complete(asyncio.wait(pending, timeout=0.2))
    loop.run_until_complete(loop.shutdown_asyncgens())
