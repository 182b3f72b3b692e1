"""The daemon's Unix socket: viewers attach, get snapshots at their rate, and send requests.

It runs on its own thread and loop (`serve_in_thread`), so viewers and `status` are answered in
milliseconds even while the engine's loop is saturated, and a viewer can never stall the engine.
Nothing here waits on a viewer: each snapshot is encoded once (a full frame for new and 1.0
viewers, one delta per distinct base for viewers that asked for deltas, shared by every viewer on
that base) and written to every due viewer whose previous frame has left; between snapshots,
viewers that asked for pulses (1.2) get the engine's pulses, each encoded once. A viewer still holding
an unsent frame skips snapshots (it always gets the latest, never a backlog), and one that has not
taken a byte for `stall_timeout_s` (or whose buffer passes `MAX_VIEWER_BUFFER`) is dropped. So a
slow viewer sees fewer frames, a stuck one is cut off, and neither grows the daemon's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from loguru import logger

from scalp_radar import __version__
from scalp_radar.core.daemon_paths import SOCKET_MODE, check_socket_path, private_socket_dir
from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.engine import wire
from scalp_radar.engine.health import Health, assess
from scalp_radar.engine.pulse import Pulse
from scalp_radar.engine.wire_delta import make_delta

# Fastest snapshot rate a viewer may ask for (the engine builds a few snapshots a second).
MAX_RATE_HZ = 20.0
DEFAULT_STALL_TIMEOUT_S = 10.0
# Bytes a viewer may owe us at most (a few full snapshots); beyond it the viewer is dropped.
MAX_VIEWER_BUFFER = 16 * 1024 * 1024
HELLO_TIMEOUT_S = 5.0
# The pump runs at least this often, to find stuck viewers even when no snapshot comes.
STUCK_CHECK_S = 0.5
RATE_SLACK = 0.8
# A delta viewer whose last snapshot is this many snapshots old gets a full one instead (so the
# daemon never keeps old snapshots around for it, and its delta would be most of a snapshot).
MAX_DELTA_BEHIND = 64
# Symbols one viewer may pin at once (a detail screen pins one; each pin costs candle streams).
MAX_PINS_PER_VIEWER = 8


@dataclass(eq=False)
class Viewer:
    """One attached connection and what it asked for."""

    id: int
    writer: asyncio.StreamWriter
    rate_hz: float = 0.0
    deltas: bool = False  # asked for DeltaFrames after the first full snapshot (protocol 1.1)
    pulses: bool = False  # asked for PulseFrames between snapshots (protocol 1.2)
    next_due: float = 0.0
    sent_seq: int = -1
    sent_pulse: Pulse | None = None  # the last pulse it got (on snapshot sent_seq)
    # Monotonic time since which the transport has held unsent bytes (None: all sent).
    owing_since: float | None = None
    closed: bool = False
    jobs: set[int] = field(default_factory=set)
    pins: set[str] = field(default_factory=set)  # symbols this viewer keeps streaming candles

    def __post_init__(self) -> None:
        # Held once: StreamWriter.transport is a property, read for every viewer of every frame.
        self.transport = self.writer.transport

    def owed(self) -> int:
        """Bytes written but not yet taken by the viewer's socket."""
        return self.transport.get_write_buffer_size()


# Handles one decoded request from a viewer (backfills, watchlist): the app wires it up.
RequestHandler = Callable[["DaemonServer", Viewer, wire.ClientMessage], None]


class DaemonServer:
    """Listens on `socket_path` and fans the engine's snapshots out to attached viewers."""

    def __init__(
        self,
        snapshot: Callable[[], EngineSnapshot],
        *,
        socket_path: Path,
        db_path: Path,
        demo: bool,
        handler: RequestHandler | None = None,
        stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S,
        ready: Callable[[], bool] = lambda: False,
        want_pulses: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._snapshot = snapshot
        self._want_pulses = want_pulses
        self.socket_path = check_socket_path(socket_path)
        self.db_path = db_path
        self.demo = demo
        self.handler = handler
        self.stall_timeout_s = stall_timeout_s
        self._ready = ready
        self._clock = clock
        self.started_at_ms = int(time.time() * 1000)
        self._started_mono = clock()
        self.viewers: dict[int, Viewer] = {}
        self.dropped = 0  # viewers cut off for not reading
        self.frames_encoded = 0  # snapshot and delta frames encoded (each once, however shared)
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._seq = 0
        self._last: EngineSnapshot | None = None
        self._frame: bytes | None = None  # the latest snapshot's full frame, once needed
        # Snapshots delta viewers last received (their bases), by seq; and this seq's deltas.
        self._bases: dict[int, EngineSnapshot] = {}
        self._deltas: dict[int, bytes] = {}
        # Handed over by the engine's thread (one reference each): its last published snapshot
        # and its last pulse; and the pulse encoded last, with its frame.
        self._published: EngineSnapshot | None = None
        self._pulse: Pulse | None = None
        self._pulse_frame: tuple[Pulse, bytes] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the socket (mode 0600 in a 0700 directory) and start serving on this loop."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        private_socket_dir(self.socket_path)
        # We hold the database's engine lock, so a socket file here is a dead daemon's leftover.
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        old = os.umask(0o177)  # the socket is created 0600, never briefly wider
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.socket_path), limit=wire.MAX_HELLO_BYTES * 2
            )
        finally:
            os.umask(old)
        os.chmod(self.socket_path, SOCKET_MODE)
        self._tick()
        logger.info("daemon: viewers attach on {}", self.socket_path)

    async def stop(self) -> None:
        """Stop accepting, close every viewer, remove the socket file."""
        self._closing = True  # snapshots published from now on are not sent
        if self._server is not None:
            self._server.close()
        if self._timer is not None:
            self._timer.cancel()
        for viewer in list(self.viewers.values()):
            self._close(viewer, None)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    # -- health --------------------------------------------------------------------------------

    def attached(self) -> int:
        """Viewers subscribed to snapshots (dashboards; not one-shot `status` or CLI clients)."""
        # list(): a copy taken in one step, as another thread may read this.
        return sum(1 for v in list(self.viewers.values()) if v.rate_hz > 0 and not v.closed)

    def health(self) -> Health:
        """The daemon's health now (what `status` and `/health` report)."""
        return assess(
            self._snapshot(),
            viewers=self.attached(),
            pid=os.getpid(),
            daemon_uptime_s=self._clock() - self._started_mono,
            ready=self._ready(),
        )

    # -- sending -------------------------------------------------------------------------------

    def send(self, viewer: Viewer, message: wire.ServerMessage) -> None:
        """Queue a reply to `viewer` without waiting (from any thread); drop it if it owes too
        much."""
        frame = wire.encode_frame(message)
        if self._loop is None or self._loop_thread == threading.get_ident():
            self._write(viewer, frame)
        else:
            with contextlib.suppress(RuntimeError):  # the server loop already closed
                self._loop.call_soon_threadsafe(self._write, viewer, frame)

    def _write(self, viewer: Viewer, frame: bytes) -> None:
        if viewer.closed:
            return
        if viewer.owed() + len(frame) > MAX_VIEWER_BUFFER:
            self._close(viewer, f"dropped: {viewer.owed()} bytes unread", drop=True)
            return
        self._put(viewer, frame)

    def _put(self, viewer: Viewer, frame: bytes) -> None:
        try:
            viewer.transport.write(frame)
        except (ConnectionError, RuntimeError) as exc:
            self._close(viewer, f"gone ({type(exc).__name__})")

    def _tick(self) -> None:
        """Every STUCK_CHECK_S, published snapshots or not: drop stuck viewers, serve due ones."""
        if self._closing or self._loop is None:
            return
        try:
            now = self._clock()
            for viewer in list(self.viewers.values()):
                self._check_stuck(viewer, now)
            self.pump()
        finally:
            self._timer = self._loop.call_later(STUCK_CHECK_S, self._tick)

    def publish(self, snap: EngineSnapshot) -> None:
        """The engine published `snap` (called on its thread): the socket thread sends due
        viewers the latest snapshot, at once."""
        self._published = snap
        self._wake()

    def publish_pulse(self, pulse: Pulse) -> None:
        """The engine published `pulse` (called on its thread): the socket thread sends it to
        due pulse viewers, at once."""
        self._pulse = pulse
        self._wake()

    def _wake(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or self._closing or not self.viewers:
            return  # nobody to send it to (the tick still checks for stuck viewers)
        with contextlib.suppress(RuntimeError):  # the server loop already closed
            loop.call_soon_threadsafe(self._woken)

    def _woken(self) -> None:
        if not self._closing:
            self.pump()

    def pump(self) -> None:
        """One round: encode the latest snapshot (or pulse) once, write it to every due viewer
        (stuck ones are found by the tick, every STUCK_CHECK_S)."""
        now = self._clock()
        due = [
            v for v in self.viewers.values() if v.rate_hz > 0 and now >= v.next_due and not v.closed
        ]
        if not due:
            return
        published = self._published
        if published is not None and all(v.pulses for v in due):
            # The engine's last published snapshot as it is: reading the engine's snapshot
            # would ask it for full snapshots at full rate, which pulses replace.
            self._want_pulses()
            snap = published
        else:
            snap = self._snapshot()
        pulse = self._pulse
        if pulse is not None and pulse.snapshot is not snap:
            pulse = None  # it moves another snapshot than the one viewers get
        if snap is self._last and all(
            v.sent_seq == self._seq and (pulse is None or not v.pulses or v.sent_pulse is pulse)
            for v in due
        ):
            return  # the common case between two snapshots: nothing to do
        sent_snapshot = snap is not self._last
        if sent_snapshot:
            self._seq += 1
            self._last = snap
            self._frame = None
            self._deltas = {}
        pulse_frame: bytes | None = None
        for viewer in due:
            if viewer.owed() > 0:
                continue  # the previous frame is still leaving: skip, never queue
            if viewer.sent_seq != self._seq:
                frame = self._frame_for(viewer, snap)
                viewer.sent_seq, viewer.sent_pulse = self._seq, None
                sent_snapshot = True
            elif viewer.pulses and pulse is not None and viewer.sent_pulse is not pulse:
                if pulse_frame is None:
                    pulse_frame = self._frame_of_pulse(pulse)
                frame = pulse_frame
                viewer.sent_pulse = pulse
            else:
                continue  # nothing new
            # A little slack, so a snapshot built a hair early is not held back a whole period.
            viewer.next_due = now + RATE_SLACK / viewer.rate_hz
            self._put(viewer, frame)  # it owes nothing, and a frame is far below the limit
        if sent_snapshot:
            self._keep_bases(snap)  # pulses leave every viewer's base as it was

    def _frame_of_pulse(self, pulse: Pulse) -> bytes:
        """`pulse` on the current snapshot, encoded once however many viewers get it."""
        done = self._pulse_frame
        if done is None or done[0] is not pulse:
            frame = msgspec.structs.replace(pulse.frame, base=self._seq)
            done = self._pulse_frame = (pulse, wire.encode_frame(frame))
            self.frames_encoded += 1
        return done[1]

    def _frame_for(self, viewer: Viewer, snap: EngineSnapshot) -> bytes:
        """A delta against what `viewer` last got if it asked for deltas and that snapshot is
        kept, else the full frame; each encoded once however many viewers share it."""
        base = self._bases.get(viewer.sent_seq) if viewer.deltas else None
        if base is not None and self._seq - viewer.sent_seq <= MAX_DELTA_BEHIND:
            frame = self._deltas.get(viewer.sent_seq)
            if frame is None:
                delta = make_delta(base, viewer.sent_seq, snap, self._seq)
                frame = self._deltas[viewer.sent_seq] = wire.encode_frame(delta)
                self.frames_encoded += 1
            return frame
        if self._frame is None:
            self._frame = wire.encode_frame(wire.SnapshotFrame(self._seq, snap))
            self.frames_encoded += 1
        return self._frame

    def _keep_bases(self, snap: EngineSnapshot) -> None:
        """Keep only the snapshots some delta viewer will be sent a delta against."""
        wanted = {v.sent_seq for v in self.viewers.values() if v.deltas and not v.closed}
        for seq in [s for s in self._bases if s not in wanted]:
            del self._bases[seq]
        if self._seq in wanted:
            self._bases[self._seq] = snap

    def _check_stuck(self, viewer: Viewer, now: float) -> None:
        if viewer.closed:
            return
        if viewer.owed() == 0:
            viewer.owing_since = None
        elif viewer.owing_since is None:
            viewer.owing_since = now
        elif now - viewer.owing_since > self.stall_timeout_s:
            self._close(
                viewer,
                f"dropped: read nothing for {self.stall_timeout_s:g}s ({viewer.owed()} bytes unread)",
                drop=True,
            )

    def _close(self, viewer: Viewer, reason: str | None, *, drop: bool = False) -> None:
        if viewer.closed:
            return
        viewer.closed = True
        self.viewers.pop(viewer.id, None)
        if reason is not None:
            logger.warning("daemon: viewer {} {}", viewer.id, reason)
        if drop:
            self.dropped += 1
            viewer.transport.abort()  # discard what it owes at once
        else:
            viewer.writer.close()

    # -- receiving -----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT_S)
        except (TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError):
            writer.close()
            return
        refusal = wire.check_hello(line)
        if refusal is not None:
            logger.info("daemon: {}", refusal)
            writer.write(refusal.encode() + b"\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        viewer = Viewer(next(self._ids), writer)
        self.viewers[viewer.id] = viewer
        writer.write(f"{wire.HELLO_PREFIX} {wire.PROTOCOL} ok\n".encode())
        self.send(
            viewer,
            wire.Welcome(
                protocol=wire.PROTOCOL,
                version=__version__,
                pid=os.getpid(),
                started_at_ms=self.started_at_ms,
                db_path=str(self.db_path),
                demo=self.demo,
            ),
        )
        try:
            while not viewer.closed:
                message = wire.decode_client(await wire.read_frame(reader, wire.MAX_REQUEST_BYTES))
                self._dispatch(viewer, message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except wire.ProtocolError as exc:
            self.send(viewer, wire.Error(str(exc), usage=True))
        finally:
            was_open = not viewer.closed
            self._close(viewer, None)
            if was_open and viewer.rate_hz > 0:
                logger.info("daemon: viewer {} left ({} attached)", viewer.id, self.attached())
            if self.handler is not None:
                # Its jobs die with it, like a CLI backfill cancelled with Ctrl-C; its pins too.
                for job in list(viewer.jobs):
                    self.handler(self, viewer, wire.CancelBackfill(job))
                for symbol in sorted(viewer.pins):
                    self.handler(self, viewer, wire.Unpin(symbol))
                viewer.pins.clear()

    def _pin(self, viewer: Viewer, message: wire.Pin | wire.Unpin) -> None:
        """Track the viewer's pins (released when it goes) and hand changes to the handler."""
        if isinstance(message, wire.Pin):
            if message.symbol in viewer.pins:
                return
            if len(viewer.pins) >= MAX_PINS_PER_VIEWER:
                self.send(
                    viewer,
                    wire.Error(f"pin {message.symbol}: {MAX_PINS_PER_VIEWER} pins at most"),
                )
                return
            viewer.pins.add(message.symbol)
        elif message.symbol in viewer.pins:
            viewer.pins.discard(message.symbol)
        else:
            return
        if self.handler is not None:
            self.handler(self, viewer, message)

    def _dispatch(self, viewer: Viewer, message: wire.ClientMessage) -> None:
        if isinstance(message, wire.Subscribe):
            rate = message.rate_hz
            first = viewer.rate_hz == 0
            viewer.rate_hz = min(MAX_RATE_HZ, rate) if rate == rate and rate > 0 else 0.0
            viewer.deltas = message.deltas
            viewer.pulses = message.pulses and message.deltas  # pulses move a base, as deltas
            viewer.next_due = 0.0
            if viewer.pulses:
                self._want_pulses()
            self.pump()
            if first and viewer.rate_hz > 0:
                logger.info("daemon: viewer {} attached ({} attached)", viewer.id, self.attached())
        elif isinstance(message, wire.HealthRequest):
            self.send(viewer, wire.HealthReport(self.health()))
        elif isinstance(message, wire.Pin | wire.Unpin):
            self._pin(viewer, message)
        elif self.handler is not None:
            self.handler(self, viewer, message)
        else:
            self.send(viewer, wire.Error(f"{type(message).__name__}: not supported by this daemon"))
