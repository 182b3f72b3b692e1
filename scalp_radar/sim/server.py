"""SimExchange: the simulated Bitget (REST + websocket) on 127.0.0.1, in a loop or a thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

from aiohttp import web
from loguru import logger

from scalp_radar.core.sim_identity import DEFAULT_SEED, IDENTITY_PATH, SimIdentity
from scalp_radar.sim.clock import SimClock
from scalp_radar.sim.events import EventPlan, MarketEvent
from scalp_radar.sim.faults import FaultInjector
from scalp_radar.sim.limits import SimLimits
from scalp_radar.sim.market import Market
from scalp_radar.sim.rest import RestApi
from scalp_radar.sim.symbols import make_spec
from scalp_radar.sim.tickers import TickerBook
from scalp_radar.sim.timeframes import align, normalize_timeframe
from scalp_radar.sim.universe import build_universe
from scalp_radar.sim.ws import ConnectionInfo, WsHub

DEFAULT_SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SimExchange:
    """A simulated Bitget v2 public API that real ccxt.pro talks to.

    `await sim.start()` binds (port 0 = any free port) and sets `sim.url`; `await sim.stop()`.
    The market is a pure function of (seed, symbol, time); `sim.truth()` exposes it.
    `contracts=N` serves a universe of N perpetuals (sim/universe.py; `symbols` are among them)
    with planted market events (`sim.events`; `events=False` switches them off). Limit
    violations are counted in `sim.violations` (kinds in sim/limits.py).
    """

    def __init__(
        self,
        symbols: Iterable[str] | None = None,
        seed: int = DEFAULT_SEED,
        speed: float = 1.0,
        port: int = 0,
        host: str = "127.0.0.1",
        limits: SimLimits | None = None,
        clock: SimClock | None = None,
        fault_clock: Callable[[], float] = time.monotonic,
        *,
        contracts: int | None = None,
        events: bool | None = None,
    ) -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"host: only a loopback address is allowed, got {host!r}")
        self.seed = seed
        self.host = host
        self.port = port
        self.limits = limits or SimLimits()
        self.clock = clock or SimClock(speed=speed)
        if contracts is None:
            specs = [make_spec(s) for s in (symbols or DEFAULT_SYMBOLS)]
        else:
            specs = build_universe(contracts, seed, include=symbols or ())
        self.symbols = [s.symbol for s in specs]
        self.event_plan: EventPlan | None = None
        if events if events is not None else contracts is not None:
            self.event_plan = EventPlan(specs, seed, self.clock.now_ms())
        self.market = Market(specs=specs, seed=seed, events=self.event_plan)
        self.tickers = TickerBook(self.market, self.event_plan)
        self.faults = FaultInjector(seed=seed, clock=fault_clock)
        self.violations: Counter[str] = Counter()
        self.rest = RestApi(
            self.market,
            self.clock,
            self.limits,
            self.faults,
            tickers=self.tickers,
            on_violation=self._count_violation,
        )
        self.hub = WsHub(self.market, self.clock, self.limits, self.faults, self.rest)
        self.hub.on_violation = self._count_violation
        self._url: str | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fault_task: asyncio.Task | None = None
        self._thread: threading.Thread | None = None

    # -- addresses ---------------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        """The public websocket URL."""
        return self.url.replace("http://", "ws://", 1) + "/v2/ws/public"

    @property
    def url(self) -> str:
        """http://host:port once started."""
        if self._url is None:
            raise RuntimeError("SimExchange is not started")
        return self._url

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> SimExchange:
        """Bind and serve; sets self.url."""
        self._loop = asyncio.get_running_loop()
        app = web.Application()
        app.add_routes(self.rest.routes())
        app.router.add_get("/v2/ws/public", self.hub.handle)
        app.router.add_get(IDENTITY_PATH, self._serve_identity)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server) and server.sockets  # a TCPSite serves TCP
        self.port = server.sockets[0].getsockname()[1]
        host = "127.0.0.1" if self.host == "localhost" else self.host
        self._url = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
        self.faults.on_connection_fault = self._on_connection_fault
        self.faults.begin()
        self._fault_task = asyncio.create_task(self._run_faults())
        logger.debug(
            "simulator listening on {} (seed {}, speed {}x)", self.url, self.seed, self.clock.speed
        )
        return self

    async def stop(self) -> None:
        """Close every socket and stop serving."""
        if self._fault_task is not None:
            self._fault_task.cancel()
            await asyncio.gather(self._fault_task, return_exceptions=True)
            self._fault_task = None
        self.faults.on_connection_fault = None
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimExchange:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- thread variant ------------------------------------------------------------------------
    def start_in_thread(self, timeout: float = 10.0) -> SimExchange:
        """Run the simulator on its own loop in a daemon thread; returns when it listens."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.close()

        self._thread = threading.Thread(target=main, name="scalp-radar-sim", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("simulator did not start in time")
        if errors:
            raise errors[0]
        return self

    def stop_thread(self, timeout: float = 5.0) -> None:
        """Stop a simulator started with start_in_thread()."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None

    # -- faults ---------------------------------------------------------------------------------
    def _on_connection_fault(self, kind: str, params: dict) -> None:
        loop = self._loop
        if loop is None:
            return

        def apply() -> None:
            asyncio.ensure_future(self.hub.apply_fault(kind, params))

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            apply()
        else:
            loop.call_soon_threadsafe(apply)

    async def _run_faults(self) -> None:
        while True:
            wait = self.faults.run_due()
            await asyncio.sleep(min(wait, 0.5) if wait is not None else 0.25)

    def _count_violation(self, kind: str) -> None:
        self.violations[kind] += 1

    # -- market events and connections --------------------------------------------------------
    @property
    def events(self) -> list[MarketEvent]:
        """Planted events of the rounds begun so far (kind, symbol, start_ms, end_ms, size)."""
        if self.event_plan is None:
            return []
        return self.event_plan.rounds_until(self.clock.now_ms())

    def connections(self) -> list[ConnectionInfo]:
        """Open websocket connections in opening order (id, channels, tickers, counters)."""
        return self.hub.connections()

    def drop_connection(self, index: int = -1) -> None:
        """Abruptly drop one websocket connection (index among the open ones; -1 = random)."""
        self.faults.inject("dropone", index=index)

    def recycle_connections(self, code: int = 1001) -> None:
        """Close every websocket connection at once, as Bitget's 24 h forced reconnect does."""
        self.faults.inject("recycle", code=code)

    @property
    def ticker_pushes(self) -> int:
        """Ticker frames pushed since start, over every connection."""
        return self.hub.feed.pushes

    def warm(self) -> None:
        """Build every contract's ticker figures now (the day blocks behind them: ~5 ms each);
        otherwise the first all-tickers request pays it (in a worker thread)."""
        now = self.clock.now_ms()
        for inst in self.market.specs:
            self.tickers.rest(inst, now)

    # -- identity ---------------------------------------------------------------------------------
    @property
    def identity(self) -> SimIdentity:
        """Seed and clock timeline: what makes this simulated history distinct."""
        origin, started = self.clock.timeline()
        return SimIdentity(self.seed, self.clock.speed, origin, started)

    async def _serve_identity(self, request: web.Request) -> web.Response:
        return web.json_response(self.identity.to_json())

    # -- the truth --------------------------------------------------------------------------------
    def truth(self, symbol: str, timeframe: object, start_ms: int, end_ms: int) -> list[list]:
        """Closed candles [ts, o, h, l, c, v] with start_ms <= ts < end_ms and ts + tf <= now."""
        tf = normalize_timeframe(timeframe)
        now = self.clock.now_ms()
        return [list(r) for r in self.market.candles(symbol, tf, start_ms, end_ms, now)]

    def forming(self, symbol: str, timeframe: object) -> list:
        """The candle of timeframe forming now, as the websocket would push it."""
        tf = normalize_timeframe(timeframe)
        return list(self.market.forming(symbol, tf, self.clock.now_ms()))

    def candle_start(self, timeframe: object, ts_ms: int | None = None) -> int:
        """Start of the candle of timeframe containing ts_ms (default: now)."""
        tf = normalize_timeframe(timeframe)
        return align(tf, self.clock.now_ms() if ts_ms is None else ts_ms)

    @property
    def pushes(self) -> int:
        """Frames pushed so far to the open websocket sessions."""
        return self.hub.pushes
