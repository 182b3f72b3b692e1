"""The daemon's wire protocol: a one-line hello, then length-prefixed msgpack frames.

    viewer -> daemon   b"scalp-radar-protocol 1.0\\n"
    daemon -> viewer   b"scalp-radar-protocol 1.0 ok\\n"   or   b"refused: <why>\\n" and close
    then both ways     4-byte big-endian length + one msgpack-encoded message (tagged Struct)

The hello is text so a refused viewer of any version can print the reason as one line. Messages
carry the engine's frozen Structs and dataclasses (EngineSnapshot, BackfillRequest, ...) as they
are: msgspec encodes them and StrEnums natively, so a new snapshot field travels without a
protocol change. A different major version is refused; a newer minor only adds messages or fields
with defaults (msgspec ignores unknown fields when decoding), and the daemon sends a message a
minor added only to a viewer that asked for it (deltas, pulses).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Literal

import msgspec

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.engine.health import Health
from scalp_radar.engine.pulse import PulseFrame as PulseFrame
from scalp_radar.engine.wire_delta import DeltaFrame as DeltaFrame
from scalp_radar.history.types import (
    BackfillPlan,
    BackfillProgress,
    BackfillRequest,
    BackfillResult,
)

PROTOCOL_MAJOR = 1
# 1.1: Subscribe(deltas=True) -> DeltaFrame after the first full snapshot; Pin / Unpin.
# 1.2: Subscribe(pulses=True) -> PulseFrame between snapshots (engine/pulse.py).
PROTOCOL_MINOR = 2
PROTOCOL = f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}"
HELLO_PREFIX = "scalp-radar-protocol"
MAX_HELLO_BYTES = 512
# A snapshot of the whole universe with candle tails is a few MB at most; anything larger is not
# ours (or is broken) and closes the connection instead of allocating.
MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_REQUEST_BYTES = 1024 * 1024  # what a viewer may send the daemon in one frame
_LENGTH = struct.Struct(">I")


class ProtocolError(Exception):
    """The peer broke the protocol (bad hello, oversized or undecodable frame); one line."""


class Refused(ProtocolError):
    """The daemon refused this viewer; str() is the daemon's one-line reason."""


# -- messages: daemon -> viewer ----------------------------------------------------------------


class Welcome(msgspec.Struct, frozen=True, tag="welcome"):
    """First frame after the hello: who the daemon is."""

    protocol: str
    version: str  # scalp-radar package version of the daemon
    pid: int
    started_at_ms: int  # wall clock, epoch ms
    db_path: str
    demo: bool


class SnapshotFrame(msgspec.Struct, frozen=True, tag="snapshot"):
    """A full engine snapshot; `seq` grows by one per snapshot the daemon published."""

    seq: int
    snapshot: EngineSnapshot


class BackfillPlanned(msgspec.Struct, frozen=True, tag="backfill_planned"):
    """The plan of job `job` (sent for PlanBackfill, and before a StartBackfill/HistoryJob runs)."""

    job: int
    plan: BackfillPlan
    since_ms: int = 0
    until_ms: int = 0
    note: str = ""  # e.g. "repair: 3 holes, 120 candles missing"


class BackfillProgressed(msgspec.Struct, frozen=True, tag="backfill_progress"):
    """Progress of a running job."""

    job: int
    progress: BackfillProgress


class BackfillFinished(msgspec.Struct, frozen=True, tag="backfill_finished"):
    """How a job ended."""

    job: int
    result: BackfillResult


class WatchlistChanged(msgspec.Struct, frozen=True, tag="watchlist_changed"):
    """Answer to SetWatchlist: the watchlist the daemon now follows and what it did about it."""

    symbols: tuple[str, ...]
    note: str = ""


class Sparklines(msgspec.Struct, frozen=True, tag="sparklines"):
    """Answer to SparklineRequest: recent prices per symbol over the last hour, oldest first."""

    series: dict[str, tuple[float, ...]]


class HealthReport(msgspec.Struct, frozen=True, tag="health_report"):
    """Answer to HealthRequest."""

    health: Health


class Error(msgspec.Struct, frozen=True, tag="error"):
    """A request failed; `usage` marks bad input (the CLI exits 2), else a failure (exit 1)."""

    message: str
    job: int | None = None
    usage: bool = False


ServerMessage = (
    Welcome
    | SnapshotFrame
    | DeltaFrame
    | PulseFrame
    | BackfillPlanned
    | BackfillProgressed
    | BackfillFinished
    | WatchlistChanged
    | Sparklines
    | HealthReport
    | Error
)


# -- messages: viewer -> daemon ----------------------------------------------------------------


class Subscribe(msgspec.Struct, frozen=True, tag="subscribe"):
    """Send me snapshots at most `rate_hz` times a second (0 = none, e.g. a CLI client).

    `deltas` (1.1): after the first full snapshot, send DeltaFrames against the last snapshot
    sent; a 1.0 viewer never asks, and gets full frames only.
    `pulses` (1.2): between snapshots, send PulseFrames (what moved) at `rate_hz`, and full
    snapshots (or their deltas) about once a second; a 1.1 daemon ignores the field.
    """

    rate_hz: float
    deltas: bool = False
    pulses: bool = False


class PlanBackfill(msgspec.Struct, frozen=True, tag="plan_backfill"):
    """Plan `request` on the daemon's database (answered with BackfillPlanned)."""

    job: int
    request: BackfillRequest


class StartBackfill(msgspec.Struct, frozen=True, tag="start_backfill"):
    """Run exactly `plan` (the one the user saw) on the daemon's loop, through its limiter."""

    job: int
    plan: BackfillPlan


class HistoryJob(msgspec.Struct, frozen=True, tag="history_job"):
    """A CLI `backfill` or `data repair` handed to the daemon (so one limiter governs the IP).

    backfill: `streams` are (symbol, timeframes) pairs already checked by the CLI; the time range
    is resolved on the daemon against the exchange's clock, as the CLI does when it runs alone.
    repair: `symbols` and `timeframes` narrow the holes to fill (empty: all).
    """

    job: int
    kind: Literal["backfill", "repair"]
    streams: tuple[tuple[str, tuple[str, ...]], ...] = ()
    symbols: tuple[str, ...] = ()
    timeframes: tuple[str, ...] = ()
    days: float | None = None
    since: str | None = None
    until: str | None = None
    force: bool = False
    concurrency: int = 6
    retries: int = 5


class CancelBackfill(msgspec.Struct, frozen=True, tag="cancel_backfill"):
    """Stop job `job` (what was written stays valid)."""

    job: int


class SetWatchlist(msgspec.Struct, frozen=True, tag="set_watchlist"):
    """The user's watchlist after adding or removing a symbol (the dashboard keeps it in the
    user's state file); the daemon's radar tracks every watched symbol."""

    symbols: tuple[str, ...]


class SparklineRequest(msgspec.Struct, frozen=True, tag="sparkline_request"):
    """Recent prices of these (visible) symbols, `points` each (answered with Sparklines)."""

    symbols: tuple[str, ...]
    points: int = 60


class Pin(msgspec.Struct, frozen=True, tag="pin"):
    """Stream `symbol`'s candles while this viewer looks at it (its detail screen is open); the
    daemon releases the viewer's pins when it disconnects or is dropped."""

    symbol: str


class Unpin(msgspec.Struct, frozen=True, tag="unpin"):
    """Release this viewer's pin of `symbol` (its candles stop unless watched, hot or pinned by
    another viewer)."""

    symbol: str


class HealthRequest(msgspec.Struct, frozen=True, tag="health"):
    """Ask for the daemon's health (answered with HealthReport)."""


ClientMessage = (
    Subscribe
    | PlanBackfill
    | StartBackfill
    | HistoryJob
    | CancelBackfill
    | SetWatchlist
    | SparklineRequest
    | Pin
    | Unpin
    | HealthRequest
)

_encoder = msgspec.msgpack.Encoder()
_server_decoder = msgspec.msgpack.Decoder(ServerMessage)
_client_decoder = msgspec.msgpack.Decoder(ClientMessage)


def encode_frame(message: ServerMessage | ClientMessage) -> bytes:
    """One length-prefixed frame (encode once, send to every viewer)."""
    payload = _encoder.encode(message)
    return _LENGTH.pack(len(payload)) + payload


def hello_line() -> bytes:
    """What a viewer sends first."""
    return f"{HELLO_PREFIX} {PROTOCOL}\n".encode()


def check_hello(line: bytes) -> str | None:
    """None if a viewer's hello is acceptable, else the one-line reason it is refused."""
    parts = line.decode("ascii", errors="replace").split()
    if len(parts) != 2 or parts[0] != HELLO_PREFIX:
        return f"refused: not a scalp-radar viewer (expected '{HELLO_PREFIX} {PROTOCOL}')"
    major, _, _minor = parts[1].partition(".")
    if major != str(PROTOCOL_MAJOR):
        return (
            f"refused: viewer speaks protocol {parts[1]}, this daemon speaks {PROTOCOL}: "
            "run the same major version of scalp-radar on both sides"
        )
    return None


async def read_frame(reader: asyncio.StreamReader, max_bytes: int) -> bytes:
    """The payload of the next frame; IncompleteReadError at a clean end of stream."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > max_bytes:
        raise ProtocolError(f"frame of {length} bytes exceeds the {max_bytes}-byte limit")
    return await reader.readexactly(length)


def decode_server(payload: bytes) -> ServerMessage:
    """A daemon -> viewer message; ProtocolError if it does not decode."""
    try:
        message: ServerMessage = _server_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"undecodable message from the daemon: {exc}") from None
    return message


def decode_client(payload: bytes) -> ClientMessage:
    """A viewer -> daemon message; ProtocolError if it does not decode."""
    try:
        message: ClientMessage = _client_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"undecodable message from a viewer: {exc}") from None
    return message


class DaemonConnection:
    """A viewer's end of one connection: hello done, Welcome received."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, welcome: Welcome
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.welcome = welcome

    async def send(self, message: ClientMessage) -> None:
        """Send one request."""
        self.writer.write(encode_frame(message))
        await self.writer.drain()

    async def receive(self) -> ServerMessage:
        """The next message; IncompleteReadError / ConnectionError when the daemon went away."""
        return decode_server(await read_frame(self.reader, MAX_FRAME_BYTES))

    async def close(self) -> None:
        """Close our end (never stops the daemon)."""
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


async def connect(
    path: str, *, hello: bytes | None = None, timeout_s: float = 5.0
) -> DaemonConnection:
    """Connect to the daemon socket at `path` and do the hello; Refused / OSError otherwise."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_unix_connection(path, limit=MAX_HELLO_BYTES * 2), timeout_s
    )
    try:
        writer.write(hello if hello is not None else hello_line())
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), timeout_s)
        text = answer.decode("utf-8", errors="replace").strip()
        if not text.startswith(HELLO_PREFIX) or not text.endswith(" ok"):
            raise Refused(text or "refused: the daemon closed the connection during the hello")
        first = decode_server(
            await asyncio.wait_for(read_frame(reader, MAX_FRAME_BYTES), timeout_s)
        )
        if not isinstance(first, Welcome):
            raise ProtocolError(f"expected a welcome from the daemon, got {type(first).__name__}")
        return DaemonConnection(reader, writer, first)
    except BaseException:
        writer.close()
        raise
