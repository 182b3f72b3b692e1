"""`AttachedSource`: the dashboard's SnapshotSource when a daemon runs the engine.

A thread runs a small asyncio loop that reads snapshot frames from the daemon's socket and keeps
the latest; the UI thread only swaps a reference, so ccxt parsing never shares the UI's GIL. When
the daemon goes away the last picture stays, every stream marked stale with the reason, and the
source re-attaches as soon as the daemon is back. Stopping the viewer never stops the daemon.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import msgspec

from scalp_radar.core.snapshot import EngineSnapshot, StreamState
from scalp_radar.engine import wire
from scalp_radar.engine.pulse import apply_pulse
from scalp_radar.engine.wire_delta import DeltaError, apply_delta
from scalp_radar.history.types import (
    BackfillPlan,
    BackfillProgress,
    BackfillRequest,
    BackfillResult,
)

ProgressCallback = Callable[[BackfillProgress], None]
RETRY_S = 0.5
CONNECT_TIMEOUT_S = 2.0
# Sparklines are 60 minutes of prices in 6 to 24 cells (10 to 2.5 minutes a cell, 8 heights):
# the shown rows' are asked again at most this often. Asking after every snapshot cost the daemon
# a request per viewer per snapshot, and once a second a tenth of what five viewers cost it, for
# a last cell that seldom moves in 5 s.
SPARKLINE_REFRESH_S = 5.0
# A row not asked before (a scroll, a re-sort) waits at most this long since the last request:
# re-sorting a 500-symbol radar brings new rows every snapshot.
SPARKLINE_NEW_GAP_S = 1.0


@runtime_checkable
class HeaderNote(Protocol):
    """A source with something to say in the header (attached, daemon lost)."""

    def header_note(self) -> str | None:
        """One short line, or None."""


def with_header_note(subtitle: str, source: object) -> str:
    """The header's subtitle with the source's note first ("attached · daemon up 3 d")."""
    note = source.header_note() if isinstance(source, HeaderNote) else None
    if not note:
        return subtitle
    return f"{note} · {subtitle}" if subtitle else note


def format_uptime(seconds: float) -> str:
    """3 d, 5 h, 12 min, 42 s: the largest whole unit."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{max(0, int(seconds))} s"


def marked_stale(snapshot: EngineSnapshot, reason: str) -> EngineSnapshot:
    """`snapshot` with every stream STALE and `reason`: a daemon's last picture, honestly shown."""
    streams = tuple(
        msgspec.structs.replace(s, state=StreamState.STALE, reason=reason) for s in snapshot.streams
    )
    return msgspec.structs.replace(snapshot, streams=streams)


@dataclasses.dataclass(eq=False)
class _Job:
    future: concurrent.futures.Future[BackfillPlan] | concurrent.futures.Future[BackfillResult]
    on_progress: ProgressCallback | None = None
    plan_only: bool = False


class AttachedSource:
    """Snapshots from a daemon's socket; backfills run on the daemon, through its limiter.

    With `pulses` (protocol 1.2) prices, candles, radar rows and ages move `rate_hz` times a
    second and the rest about once a second; without, every frame is a whole snapshot (1.1).
    """

    def __init__(
        self,
        socket_path: str,
        *,
        rate_hz: float = 4.0,
        pulses: bool = True,
        retry_s: float = RETRY_S,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.socket_path = socket_path
        self.rate_hz = rate_hz
        self.pulses = pulses
        self.retry_s = retry_s
        self._wall = wall_clock
        self._clock = clock
        self.welcome: wire.Welcome | None = None
        self.connected = False
        self.attaches = 0  # successful attaches so far (re-attaches count)
        self.refusal: str | None = None  # the daemon's one-line refusal, if it refused us
        self._latest: EngineSnapshot | None = None
        # The last snapshot received on this connection and its seq: what deltas and pulses
        # apply to (a pulse moves it into `_latest`, and leaves it as it is).
        self._base: tuple[int, EngineSnapshot] | None = None
        self._lost_at: float | None = None  # wall time the daemon went away
        self._stale: tuple[EngineSnapshot, EngineSnapshot] | None = None
        self._jobs: dict[int, _Job] = {}
        self._running_job: int | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: wire.DaemonConnection | None = None
        self._main: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._first_try = threading.Event()
        self._stopped = False
        # Radar seams: sparklines asked for by the UI, fetched after the next snapshot.
        self._sparks: dict[str, tuple[float, ...]] = {}
        self._wanted: dict[str, int] = {}
        self._asked: dict[str, int] = {}  # the last sparkline request: symbols and points
        self._asked_at = -SPARKLINE_REFRESH_S  # self._clock() when it was sent
        self.sparkline_requests = 0  # sent so far
        self.watchlist_note: str | None = None  # the daemon's answer to the last watchlist
        self._watchlist: tuple[str, ...] | None = None
        self._pins: set[str] = set()  # symbols pinned on the daemon (detail screens open)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, wait_s: float = CONNECT_TIMEOUT_S) -> bool:
        """Start the reader thread; wait up to `wait_s` for the first attach. True if attached."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="scalp-radar-attach", daemon=True
            )
            self._thread.start()
        self._first_try.wait(wait_s)
        return self.connected

    def stop(self) -> None:
        """Detach (the daemon keeps running); bounded in time."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        loop, main = self._loop, self._main
        if loop is not None and main is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(main.cancel)
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(1.0)

    # -- what the UI reads ---------------------------------------------------------------------

    def snapshot(self) -> EngineSnapshot | None:
        latest = self._latest
        if latest is None or self.connected:
            return latest
        # The daemon went away: keep its last picture, every stream marked stale.
        if self._stale is None or self._stale[0] is not latest:
            lost = self._lost_at if self._lost_at is not None else self._wall()
            since = datetime.fromtimestamp(lost).strftime("%H:%M:%S")
            reason = f"daemon gone since {since}: last picture, re-attaching"
            self._stale = (latest, marked_stale(latest, reason))
        return self._stale[1]

    def header_note(self) -> str | None:
        """ "attached · daemon up 3 d", or why the picture is stale."""
        if self.connected and self.welcome is not None:
            up = format_uptime(self._wall() - self.welcome.started_at_ms / 1000)
            return f"attached · daemon up {up}"
        if self.refusal:
            return self.refusal
        if self._lost_at is not None:
            gone = format_uptime(self._wall() - self._lost_at)
            return f"daemon lost {gone} ago · STALE picture · re-attaching"
        return f"waiting for the daemon at {self.socket_path}"

    # -- the radar's seams (RadarSource) -------------------------------------------------------

    def sparkline(self, symbol: str, points: int) -> Sequence[float]:
        """The daemon's recent prices of `symbol` as last fetched (asked again after the next
        snapshot, for the symbols the radar shows)."""
        self._wanted[symbol] = points
        return self._sparks.get(symbol, ())[-points:]

    def set_watchlist(self, symbols: tuple[str, ...]) -> str:
        """Tell the daemon; its radar tracks every watched symbol."""
        self._watchlist = tuple(symbols)
        if self._send_threadsafe(wire.SetWatchlist(tuple(symbols))):
            return "sent to the daemon"
        return "kept in your watchlist; the daemon gets it when attached"

    def pin(self, symbol: str) -> bool:
        """Ask the daemon to stream `symbol`'s candles while it is looked at (sent again after a
        re-attach; the daemon releases it when this viewer goes)."""
        self._pins = self._pins | {symbol}  # a new set: the reader thread iterates it
        self._send_threadsafe(wire.Pin(symbol))
        return True

    def unpin(self, symbol: str) -> None:
        if symbol in self._pins:
            self._pins = self._pins - {symbol}
            self._send_threadsafe(wire.Unpin(symbol))

    def _ask_sparklines(self, conn: wire.DaemonConnection) -> None:
        """Ask for the wanted sparklines once SPARKLINE_NEW_GAP_S has passed since the last request
        if one was not asked then (or wants more points), else once SPARKLINE_REFRESH_S has."""
        wanted, now = self._wanted, self._clock()
        if not wanted:
            return
        # A copy taken in one step: the UI thread adds to `wanted` meanwhile.
        new = any(self._asked.get(symbol, 0) < points for symbol, points in tuple(wanted.items()))
        if now - self._asked_at < (SPARKLINE_NEW_GAP_S if new else SPARKLINE_REFRESH_S):
            return  # the UI goes on asking for them: they stay wanted until the next request
        self._wanted = {}
        self._asked, self._asked_at = wanted, now
        self.sparkline_requests += 1
        request = wire.SparklineRequest(tuple(wanted), max(wanted.values()))
        asyncio.ensure_future(self._send(conn, request))

    # -- backfills (run on the daemon) ---------------------------------------------------------

    def plan_backfill(self, req: BackfillRequest) -> concurrent.futures.Future[BackfillPlan]:
        future: concurrent.futures.Future[BackfillPlan] = concurrent.futures.Future()
        job = next(self._ids)
        self._submit(job, _Job(future, plan_only=True), wire.PlanBackfill(job, req))
        return future

    def start_backfill(
        self, plan: BackfillPlan, on_progress: ProgressCallback | None
    ) -> concurrent.futures.Future[BackfillResult]:
        """Run exactly `plan` (the one the user saw) on the daemon, through its limiter."""
        future: concurrent.futures.Future[BackfillResult] = concurrent.futures.Future()
        if self._running_job is not None:
            future.set_exception(RuntimeError("a backfill is already running"))
            return future
        job = next(self._ids)
        self._running_job = job
        self._submit(job, _Job(future, on_progress), wire.StartBackfill(job, plan))
        return future

    def cancel_backfill(self) -> None:
        job = self._running_job
        if job is not None:
            self._send_threadsafe(wire.CancelBackfill(job))

    def _submit(self, job: int, entry: _Job, message: wire.ClientMessage) -> None:
        with self._lock:
            self._jobs[job] = entry
        if not self._send_threadsafe(message):
            self._fail_job(job, ConnectionError("not attached to the daemon"))

    def _send_threadsafe(self, message: wire.ClientMessage) -> bool:
        loop, conn = self._loop, self._conn
        if loop is None or conn is None or loop.is_closed() or not self.connected:
            return False
        asyncio.run_coroutine_threadsafe(self._send(conn, message), loop)
        return True

    async def _send(self, conn: wire.DaemonConnection, message: wire.ClientMessage) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await conn.send(message)

    def _fail_job(self, job: int, exc: BaseException) -> None:
        with self._lock:
            entry = self._jobs.pop(job, None)
        if self._running_job == job:
            self._running_job = None
        if entry is not None and not entry.future.done():
            entry.future.set_exception(exc)

    # -- the reader thread ---------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._main = loop.create_task(self._attach_forever())
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._main)
        finally:
            self._first_try.set()
            loop.close()

    async def _attach_forever(self) -> None:
        while not self._stopped:
            try:
                conn = await wire.connect(self.socket_path, timeout_s=CONNECT_TIMEOUT_S)
            except wire.Refused as exc:
                self.refusal = str(exc)
            except (OSError, TimeoutError, wire.ProtocolError, asyncio.IncompleteReadError):
                pass
            else:
                await self._follow(conn)
            self._first_try.set()
            await asyncio.sleep(self.retry_s)

    async def _follow(self, conn: wire.DaemonConnection) -> None:
        """Read frames until the daemon goes away."""
        self._conn = conn
        self.welcome = conn.welcome
        self.refusal = None
        try:
            self._base = None
            self._asked = {}  # a new connection (maybe a new daemon): ask at once
            await conn.send(wire.Subscribe(self.rate_hz, deltas=True, pulses=self.pulses))
            watchlist = self._watchlist
            if watchlist is not None:  # a re-attach: the daemon may be a new one
                await conn.send(wire.SetWatchlist(watchlist))
            # Attached once the first picture is here (the UI shows nothing older).
            first = True
            while True:
                message = await conn.receive()
                self._handle(message)
                picture = isinstance(
                    message, wire.SnapshotFrame | wire.DeltaFrame | wire.PulseFrame
                )
                if picture:
                    self._ask_sparklines(conn)
                if first and picture:
                    first = False
                    self.connected = True
                    self._lost_at = None
                    self.attaches += 1
                    self._first_try.set()
                    # Pins die with a connection: pin again (pin() sends its own from now on;
                    # one sent twice is ignored by the daemon).
                    for symbol in sorted(self._pins):
                        await conn.send(wire.Pin(symbol))
        except (asyncio.IncompleteReadError, ConnectionError, OSError, wire.ProtocolError):
            pass
        finally:
            was = self.connected
            self.connected = False
            self._conn = None
            if was or self._latest is not None:
                self._lost_at = self._wall()
            for job in list(self._jobs):
                self._fail_job(job, ConnectionError("the daemon went away; rerun the backfill"))
            await conn.close()

    def _base_of(self, kind: str, seq: int) -> EngineSnapshot:
        """The snapshot a delta or pulse names; ProtocolError when it is not the one we have."""
        base = self._base
        if base is None or base[0] != seq:
            have = "none" if base is None else base[0]
            raise wire.ProtocolError(f"{kind} on snapshot {seq}, have {have}")
        return base[1]

    def _handle(self, message: wire.ServerMessage) -> None:
        if isinstance(message, wire.SnapshotFrame):
            self._base = (message.seq, message.snapshot)
            self._latest = message.snapshot
        elif isinstance(message, wire.DeltaFrame):
            try:
                snapshot = apply_delta(self._base_of("delta", message.base), message)
            except DeltaError as exc:
                raise wire.ProtocolError(f"delta {message.seq} does not apply: {exc}") from None
            self._base = (message.seq, snapshot)
            self._latest = snapshot
        elif isinstance(message, wire.PulseFrame):
            try:
                # The base stays: pulses move it, and the next delta applies to it.
                self._latest = apply_pulse(self._base_of("pulse", message.base), message)
            except DeltaError as exc:
                raise wire.ProtocolError(f"pulse does not apply: {exc}") from None
        elif isinstance(message, wire.Sparklines):
            self._sparks = {**self._sparks, **message.series}  # one reference swap for the UI
        elif isinstance(message, wire.WatchlistChanged):
            self.watchlist_note = message.note
        elif isinstance(message, wire.BackfillPlanned):
            entry = self._jobs.get(message.job)
            if entry is not None and entry.plan_only:
                self._jobs.pop(message.job, None)
                entry.future.set_result(message.plan)  # type: ignore[arg-type]
        elif isinstance(message, wire.BackfillProgressed):
            entry = self._jobs.get(message.job)
            if entry is not None and entry.on_progress is not None:
                entry.on_progress(message.progress)
        elif isinstance(message, wire.BackfillFinished):
            with self._lock:
                entry = self._jobs.pop(message.job, None)
            if self._running_job == message.job:
                self._running_job = None
            if entry is not None and not entry.future.done():
                entry.future.set_result(message.result)  # type: ignore[arg-type]
        elif isinstance(message, wire.Error) and message.job is not None:
            self._fail_job(message.job, RuntimeError(message.message))
