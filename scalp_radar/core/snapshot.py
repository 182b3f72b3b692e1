"""Immutable pictures of the engine's state that UIs and status lines read.

The engine rebuilds an `EngineSnapshot` a few times a second and swaps one reference; readers on
other threads only ever see a complete, frozen object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# BucketStats lives with the limiter; re-exported here so market/ and tui/ import it from one place.
from scalp_radar.core.limiter import BucketStats as BucketStats


class StreamState(StrEnum):
    """Connection state of one (symbol, timeframe) stream."""

    CONNECTING = "connecting"
    LIVE = "live"
    STALE = "stale"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class CandleView:
    """The last candle of a stream, in plain numbers."""

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    """One (symbol, timeframe) stream as seen at snapshot time."""

    symbol: str
    timeframe: str
    state: StreamState
    last_candle: CandleView | None
    recent_closes: tuple[float, ...]
    buffer_len: int
    buffer_capacity: int
    gaps_detected: int
    gaps_healed: int
    gaps_open: int
    invalid_dropped: int
    duplicates_dropped: int
    last_update_age_s: float | None
    updates_per_s: float
    reconnects: int
    attempt: int = 0
    next_retry_in_s: float | None = None
    reason: str | None = None
    # Optional, additive (TUI detail chart): the buffer's latest candles, oldest first.
    recent_candles: tuple[CandleView, ...] = ()
    out_of_order_dropped: int = 0
    # Why the stream is not live, kept across retries: "refused: 127.0.0.1:1", "HTTP 503", ...
    last_error: str | None = None

    @property
    def key(self) -> str:
        """The stream's name, e.g. "BTC/USDT:USDT 1m"."""
        return f"{self.symbol} {self.timeframe}"


@dataclass(frozen=True, slots=True)
class Incident:
    """Something worth a trader's attention: a disconnect, a gap, a heal, an error."""

    at_ms: int
    kind: str  # "disconnect", "reconnect", "gap", "heal", "stale", "error", "invalid", "backfill"
    symbol: str | None
    timeframe: str | None
    message: str
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class ConnectionFacts:
    """Process-wide connection facts."""

    exchange: str
    demo: bool
    websocket_enabled: bool
    uptime_s: float
    reconnects: int
    clock_offset_ms: float | None
    database_ok: bool = True
    # The exchange-wide reason nothing connects (DNS, refused, TLS, timeout, HTTP status), or None.
    problem: str | None = None
    connect_failures: int = 0  # failed attempts to reach the exchange (dials, market loads)
    rest_429s: int = 0  # HTTP 429 answers seen on REST (each one also slows the limiter)
    rest_errors: int = 0  # other failed REST calls (5xx, timeouts, dropped connections)
    malformed_frames: int = 0  # websocket frames that could not be parsed
    exchange_recreations: int = 0  # ccxt instances rebuilt after an error event or a dead socket
    write_latency_ms: float | None = None  # the last database flush's duration


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """Everything a UI shows, frozen at `taken_at_ms`."""

    taken_at_ms: int
    streams: tuple[StreamSnapshot, ...]
    limiter: tuple[BucketStats, ...]
    connection: ConnectionFacts
    incidents: tuple[Incident, ...] = field(default_factory=tuple)  # newest first

    def stream(self, symbol: str, timeframe: str) -> StreamSnapshot | None:
        """The stream for (symbol, timeframe), or None."""
        for s in self.streams:
            if s.symbol == symbol and s.timeframe == timeframe:
                return s
        return None

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols in config order, each once."""
        return tuple(dict.fromkeys(s.symbol for s in self.streams))

    @property
    def timeframes(self) -> tuple[str, ...]:
        """Timeframes in config order, each once."""
        return tuple(dict.fromkeys(s.timeframe for s in self.streams))
