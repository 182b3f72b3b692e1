"""Requests viewers send the daemon: backfills (from a dashboard or a CLI), watchlist edits and
pins (a dashboard's detail screen promotes its symbol to candle streams while it is open).

Every backfill runs on the daemon's loop with the engine's exchange, database and rate limiter, so
one limiter governs the IP whoever asked. Progress is sent at most `PROGRESS_HZ` times a second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

from loguru import logger

from scalp_radar.app.daemon_server import DaemonServer, Viewer
from scalp_radar.app.errors import UsageError
from scalp_radar.app.history_cmds import (
    Selection,
    listing_of,
    plan_repair,
    plan_streams,
    resolve_range,
    unlisted,
)
from scalp_radar.engine import wire
from scalp_radar.engine.runner import EngineStack
from scalp_radar.history.backfill import Backfiller, plan_backfill
from scalp_radar.history.types import BackfillPlan, BackfillProgress, BackfillResult

PROGRESS_HZ = 10.0
# Bounds on one sparkline request (a screenful of rows, a sparkline's width).
MAX_SPARK_SYMBOLS = 200
MAX_SPARK_POINTS = 240
MARKET_DATA = "market_data"


class DaemonJobs:
    """Runs viewers' requests on the engine's loop; one asyncio task per job.

    Called on the socket's thread; everything else here happens on the engine's loop.
    """

    def __init__(self, stack: EngineStack, engine_loop: asyncio.AbstractEventLoop) -> None:
        self.stack = stack
        self.engine_loop = engine_loop
        self._tasks: dict[tuple[int, int], asyncio.Task[None]] = {}
        self._cancels: dict[tuple[int, int], asyncio.Event] = {}
        # symbol -> viewers pinning it: the engine pins a symbol once, until its last viewer
        # lets go (the engine's own pin set has no owners).
        self._pinned: dict[str, set[int]] = {}
        self._side: set[asyncio.Task[None]] = set()

    def __call__(self, server: DaemonServer, viewer: Viewer, message: wire.ClientMessage) -> None:
        if isinstance(message, wire.SetWatchlist | wire.SparklineRequest):
            # The universe allows both from any thread: answer here, not behind the engine.
            self._radar(server, viewer, message)
            return
        if self.engine_loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the engine's loop is shutting down
            self.engine_loop.call_soon_threadsafe(self._on_engine_loop, server, viewer, message)

    def _radar(
        self,
        server: DaemonServer,
        viewer: Viewer,
        message: wire.SetWatchlist | wire.SparklineRequest,
    ) -> None:
        universe = self.stack.engine.universe
        if isinstance(message, wire.SetWatchlist):
            if universe is None:
                note = "kept in your watchlist (the daemon runs no universe)"
            else:
                note = universe.set_user_watchlist(message.symbols)
            server.send(viewer, wire.WatchlistChanged(message.symbols, note))
            return
        points = max(1, min(message.points, MAX_SPARK_POINTS))
        series: dict[str, tuple[float, ...]] = {}
        if universe is not None:
            for symbol in message.symbols[:MAX_SPARK_SYMBOLS]:
                series[symbol] = tuple(universe.sparkline(symbol, 60, points))
        server.send(viewer, wire.Sparklines(series))

    def _on_engine_loop(
        self, server: DaemonServer, viewer: Viewer, message: wire.ClientMessage
    ) -> None:
        if isinstance(message, wire.Pin | wire.Unpin):
            self._pin(viewer, message)
            return
        if viewer.closed and not isinstance(message, wire.CancelBackfill):
            return  # it left before its request reached the engine's loop
        if isinstance(message, wire.CancelBackfill):
            cancel = self._cancels.get((viewer.id, message.job))
            if cancel is not None:
                cancel.set()
            return
        if isinstance(message, wire.PlanBackfill | wire.StartBackfill | wire.HistoryJob):
            key = (viewer.id, message.job)
            if key in self._tasks:
                server.send(viewer, wire.Error(f"job {message.job} already exists", message.job))
                return
            viewer.jobs.add(message.job)
            self._cancels[key] = asyncio.Event()
            self._tasks[key] = asyncio.create_task(
                self._run(server, viewer, message), name=f"daemon-job-{viewer.id}-{message.job}"
            )
            return
        server.send(viewer, wire.Error(f"{type(message).__name__}: not supported by this daemon"))

    def _pin(self, viewer: Viewer, message: wire.Pin | wire.Unpin) -> None:
        symbol = message.symbol
        holders = self._pinned.setdefault(symbol, set())
        was_pinned = bool(holders)
        if isinstance(message, wire.Pin) and not viewer.closed:
            holders.add(viewer.id)
        else:
            holders.discard(viewer.id)
        if not holders:
            del self._pinned[symbol]
        if bool(holders) == was_pinned:
            return
        engine = self.stack.engine
        call = engine.pin(symbol) if holders else engine.unpin(symbol)
        # Started in arrival order, and each applies its change to the engine's pin set before
        # its first await, so a quick pin/unpin/pin ends pinned.
        task = asyncio.create_task(call, name=f"daemon-pin-{symbol}")
        self._side.add(task)
        task.add_done_callback(self._side.discard)
        logger.info(
            "daemon: {} {} for viewer {}", "pinned" if holders else "unpinned", symbol, viewer.id
        )

    @property
    def pinned(self) -> dict[str, int]:
        """Symbols pinned by viewers, and by how many."""
        return {symbol: len(ids) for symbol, ids in self._pinned.items()}

    async def aclose(self) -> None:
        """Cancel every job (the daemon is stopping); what was written stays valid."""
        for cancel in self._cancels.values():
            cancel.set()
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    # -- one job -------------------------------------------------------------------------------

    async def _run(
        self,
        server: DaemonServer,
        viewer: Viewer,
        message: wire.PlanBackfill | wire.StartBackfill | wire.HistoryJob,
    ) -> None:
        key = (viewer.id, message.job)
        cancel = self._cancels[key]
        try:
            if isinstance(message, wire.StartBackfill):
                planned = wire.BackfillPlanned(message.job, message.plan)
            else:
                planned = await self._plan(message)
            server.send(viewer, planned)
            if isinstance(message, wire.PlanBackfill):
                return
            if isinstance(message, wire.HistoryJob):
                concurrency, retries = message.concurrency, message.retries
            else:
                concurrency, retries = 6, 5
            result = await self._execute(
                server, viewer, message.job, planned.plan, cancel, concurrency, retries
            )
            server.send(viewer, wire.BackfillFinished(message.job, result))
        except UsageError as exc:
            server.send(viewer, wire.Error(str(exc), message.job, usage=True))
        except ValueError as exc:  # the planner's own checks of a request
            server.send(viewer, wire.Error(str(exc), message.job, usage=True))
        except Exception as exc:
            logger.exception("daemon: job {} of viewer {} failed", message.job, viewer.id)
            text = " ".join(str(exc).split())[:200]
            server.send(viewer, wire.Error(f"{type(exc).__name__}: {text}", message.job))
        finally:
            self._tasks.pop(key, None)
            self._cancels.pop(key, None)
            viewer.jobs.discard(message.job)

    def _now_ms(self) -> int:
        # "Now" on the engine's clock (the simulator's in demo mode), as the planner expects;
        # read from the clock, not an unwatched daemon's snapshot (refreshed once a second).
        return self.stack.engine.clock.now_ms()

    def _rate(self) -> float:
        return self.stack.limiter.bucket(MARKET_DATA).rate_per_s

    async def _markets(self) -> dict:
        exchange = self.stack.engine.holder.exchange
        if not exchange.markets:
            await self.stack.limiter.acquire(MARKET_DATA)
            await exchange.load_markets()
        return dict(exchange.markets or {})

    async def _plan(self, message: wire.PlanBackfill | wire.HistoryJob) -> wire.BackfillPlanned:
        now_ms = self._now_ms()
        if isinstance(message, wire.PlanBackfill):
            plan = await plan_backfill(message.request, self.stack.db, self._rate(), now_ms)
            request = message.request
            return wire.BackfillPlanned(message.job, plan, request.since_ms, request.until_ms)
        if message.kind == "repair":
            plan, holes = await plan_repair(
                self.stack.db, message.symbols, message.timeframes, self._rate(), now_ms
            )
            if holes:
                error = unlisted(await self._markets(), sorted({w.symbol for w in plan.windows}))
                if error is not None:
                    raise error
            note = f"repair: {holes} holes, {plan.expected_candles} candles missing"
            return wire.BackfillPlanned(message.job, plan, note=note if holes else "")
        markets = await self._markets()
        error = unlisted(markets, [s for s, _ in message.streams])
        if error is not None:
            raise error
        args = argparse.Namespace(days=message.days, since=message.since, until=message.until)
        since, until = resolve_range(args, now_ms)
        plan = await plan_streams(
            Selection(message.streams),
            since,
            until,
            message.force,
            db=self.stack.db,
            rate_per_s=self._rate(),
            listed_ms=lambda symbol: listing_of(markets, symbol),
            now_ms=now_ms,
        )
        return wire.BackfillPlanned(message.job, plan, since, until)

    async def _execute(
        self,
        server: DaemonServer,
        viewer: Viewer,
        job: int,
        plan: BackfillPlan,
        cancel: asyncio.Event,
        concurrency: int,
        retries: int,
    ) -> BackfillResult:
        backfiller = Backfiller(
            self.stack.engine.holder.exchange,
            self.stack.db,
            self.stack.limiter,
            max_concurrency=concurrency,
            retries=retries,
        )
        last_sent = 0.0

        def on_progress(progress: BackfillProgress) -> None:
            nonlocal last_sent
            now = time.monotonic()
            final = progress.windows_done >= progress.windows_total
            if final or now - last_sent >= 1.0 / PROGRESS_HZ:
                last_sent = now
                server.send(viewer, wire.BackfillProgressed(job, progress))

        return await backfiller.run(plan, on_progress=on_progress, cancel=cancel)
