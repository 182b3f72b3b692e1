"""What `--headless` adds around the engine to be a daemon: the viewers' socket, viewers' jobs,
optional /health and /metrics, and systemd's READY / WATCHDOG / STOPPING notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from scalp_radar.app.daemon_jobs import DaemonJobs
from scalp_radar.app.daemon_server import DEFAULT_STALL_TIMEOUT_S, DaemonServer
from scalp_radar.app.health_http import HealthHttp
from scalp_radar.app.loop_thread import LoopThread
from scalp_radar.app.sd_notify import Notifier, watchdog_interval_s
from scalp_radar.core.snapshot import EngineSnapshot, ShardState, StreamState
from scalp_radar.engine.health import assess
from scalp_radar.engine.runner import EngineStack

READY_POLL_S = 0.2
STATUS_EVERY_S = 10.0
# The engine publishes a snapshot a few times a second: none for this long means it is stuck.
SNAPSHOT_STALL_S = 5.0
SERVING_STOP_S = 5.0


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """How the daemon serves: where viewers attach, optional HTTP, how long a viewer may stall."""

    socket_path: Path
    http: tuple[str, int] | None = None
    stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S


class Daemon:
    """Socket, jobs, HTTP and systemd notifications around a started engine stack."""

    def __init__(
        self,
        stack: EngineStack,
        options: DaemonOptions,
        *,
        db_path: Path,
        demo: bool,
        notifier: Notifier | None = None,
    ) -> None:
        self.stack = stack
        self.options = options
        self.notifier = notifier or Notifier.from_env()
        self.jobs = DaemonJobs(stack, asyncio.get_running_loop())
        # Viewers, `status` and HTTP are served from their own thread and loop: they answer in
        # milliseconds while the engine's loop is busy, and can never stall it.
        self.serving = LoopThread("daemon-socket")  # the OS shows 15 bytes of a thread name
        self.ready = False
        self._seen_live: set[str] = set()
        self.server = DaemonServer(
            stack.engine.snapshot,
            socket_path=options.socket_path,
            db_path=db_path,
            demo=demo,
            handler=self.jobs,
            stall_timeout_s=options.stall_timeout_s,
            ready=lambda: self.ready,
            want_pulses=stack.engine.want_pulses,
        )
        stack.engine.on_snapshot(self.server.publish)
        stack.engine.on_pulse(self.server.publish_pulse)
        self.http: HealthHttp | None = None
        if options.http is not None:
            self.http = HealthHttp(
                options.http,
                self.server.health,
                stack.engine.snapshot,
                lambda: (self.server.attached(), self.server.dropped),
            )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Listen for viewers (and HTTP), then watch for readiness and feed systemd's watchdog."""
        self.serving.start()
        await self.serving.run(self.server.start())
        if self.http is not None:
            try:
                await self.serving.run(self.http.start())
            except OSError as exc:
                await self.serving.run(self.server.stop())
                self.serving.stop()
                raise DaemonStartError(
                    f"--http {self.http.host}:{self.http.port}: {exc.strerror or exc}"
                ) from None
        self._tasks.append(asyncio.create_task(self._readiness(), name="daemon-ready"))
        interval = watchdog_interval_s()
        if interval is not None and self.notifier.enabled:
            self._tasks.append(
                asyncio.create_task(self._watchdog(interval), name="daemon-watchdog")
            )

    async def stop(self) -> None:
        """Tell systemd we are stopping, cancel viewers' jobs, close the socket and HTTP."""
        self.notifier.notify("STOPPING=1", "STATUS=stopping: flushing candles")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.jobs.aclose()
        if not self.serving.loop.is_closed():
            # Bounded: whatever happens on the socket's thread, the engine still gets to flush.
            try:
                await asyncio.wait_for(self.serving.run(self._stop_serving()), SERVING_STOP_S)
            except TimeoutError:
                logger.warning("daemon: the socket thread did not stop in {:g} s", SERVING_STOP_S)
        self.serving.stop()

    async def _stop_serving(self) -> None:
        await self.server.stop()
        if self.http is not None:
            await self.http.stop()

    def _all_live_once(self, snap: EngineSnapshot) -> bool:
        self._seen_live.update(s.key for s in snap.streams if s.state is StreamState.LIVE)
        if not snap.connection.websocket_enabled:
            return True  # nothing will ever stream: ready as it will ever be
        shards = snap.universe.shards
        self._seen_live.update(f"shard {s.shard_id}" for s in shards if s.state is ShardState.LIVE)
        # With a universe, its ticker shards too (they appear once the markets are loaded).
        radar_live = snap.universe.mode == "off" or (
            bool(shards) and all(f"shard {s.shard_id}" in self._seen_live for s in shards)
        )
        streams_live = bool(snap.streams) and all(s.key in self._seen_live for s in snap.streams)
        return streams_live and radar_live

    async def _readiness(self) -> None:
        """READY=1 once every stream (and ticker shard) has been live; then STATUS now and then."""
        while not self.ready:
            if self._all_live_once(self.stack.engine.snapshot()):
                self.ready = True
                self.notifier.notify("READY=1", f"STATUS={self._status_text()}")
                logger.info("daemon: ready (every stream live)")
                break
            await asyncio.sleep(READY_POLL_S)
        while True:
            await asyncio.sleep(STATUS_EVERY_S)
            self.notifier.notify(f"STATUS={self._status_text()}")

    def _status_text(self) -> str:
        health = self.server.health()
        return (
            f"{health.verdict.value}: {health.feeds_fresh}/{health.feeds_total} feeds fresh, "
            f"{health.viewers} viewers"
        )

    async def _watchdog(self, interval_s: float) -> None:
        """WATCHDOG=1 only once ready, while this loop turns, the engine publishes and a feed is
        fresh (before READY, systemd's start timeout governs)."""
        loop = asyncio.get_running_loop()
        last: EngineSnapshot | None = None
        changed_at = loop.time()
        withheld: str | None = None
        while True:
            await asyncio.sleep(interval_s)
            snap = self.stack.engine.snapshot()
            if snap is not last:
                last, changed_at = snap, loop.time()
            if not self.ready:
                continue
            why = None
            if loop.time() - changed_at > SNAPSHOT_STALL_S:
                why = f"no engine snapshot for {SNAPSHOT_STALL_S:g} s"
            elif assess(snap).feeds_fresh == 0:
                why = "no feed is fresh"
            if why is None:
                self.notifier.notify("WATCHDOG=1")
            elif why != withheld:
                logger.warning("daemon: withholding the systemd watchdog ping: {}", why)
            withheld = why


class DaemonStartError(Exception):
    """The daemon could not serve (socket or HTTP); str() is one line."""
