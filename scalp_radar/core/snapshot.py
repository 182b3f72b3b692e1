"""Immutable pictures of the engine's state that UIs and status lines read.

The engine rebuilds an `EngineSnapshot` a few times a second and swaps one reference; readers on
other threads only ever see a complete, frozen object. The pictures are frozen msgspec Structs:
built in C (a tenth of a frozen dataclass's cost for a row of 22 fields, several hundred rows a
second) and sent to the daemon's viewers as they are, in the same msgpack a dataclass gives.
Copy one with a change through `msgspec.structs.replace`.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

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


class CandleView(msgspec.Struct, frozen=True):
    """The last candle of a stream, in plain numbers."""

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool


class StreamSnapshot(msgspec.Struct, frozen=True):
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
    # The market's smallest price step (assets.yaml tick_size): every UI prints prices with it.
    tick_size: float | None = None

    @property
    def key(self) -> str:
        """The stream's name, e.g. "BTC/USDT:USDT 1m"."""
        return f"{self.symbol} {self.timeframe}"

    def without_candles(self) -> StreamSnapshot:
        """This stream with no candles or closes (the daemon's deltas splice those)."""
        return msgspec.structs.replace(self, recent_candles=(), recent_closes=())


class Incident(msgspec.Struct, frozen=True):
    """Something worth a trader's attention: a disconnect, a gap, a heal, an error."""

    at_ms: int
    kind: str  # "disconnect", "reconnect", "gap", "heal", "stale", "error", "invalid", "backfill"
    symbol: str | None
    timeframe: str | None
    message: str
    duration_s: float | None = None


class ConnectionFacts(msgspec.Struct, frozen=True):
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


class EngineSnapshot(msgspec.Struct, frozen=True):
    """Everything a UI shows, frozen at `taken_at_ms`."""

    taken_at_ms: int
    streams: tuple[StreamSnapshot, ...]
    limiter: tuple[BucketStats, ...]
    connection: ConnectionFacts
    incidents: tuple[Incident, ...] = ()  # newest first
    universe: UniverseSnapshot = msgspec.field(default_factory=lambda: UniverseSnapshot())

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


# ---------------------------------------------------------------- the market-wide radar


# A ticker shard (one websocket) moves through the same states as a candle stream.
ShardState = StreamState


class ShardSnapshot(msgspec.Struct, frozen=True):
    """One ticker websocket: its channels, state and how much of Bitget's budget it used."""

    shard_id: int
    state: ShardState
    channels: int
    subscribe_messages_hour: int  # subscribe frames sent on this shard in the last hour
    connects: int  # sockets opened by this shard since start
    last_message_age_s: float | None
    reason: str | None = None  # why the shard is not live (kept across retries)
    next_retry_in_s: float | None = None


class TickerRow(msgspec.Struct, frozen=True):
    """One symbol of the radar; NaN where a metric is not known yet (e.g. 1 h change at start).

    Changes and basis are percent / bps of price; funding_rate is a fraction per interval
    (0.0001 = 0.01 %); times are exchange milliseconds.
    """

    symbol: str
    last: float
    bid: float
    ask: float
    mark: float
    index: float
    change_1m: float
    change_5m: float
    change_15m: float
    change_1h: float
    change_24h: float
    quote_volume_24h: float
    volume_surge: float  # last 5 min quote volume / (its 1 h pace per 5 min)
    spread_bps: float
    funding_rate: float
    next_funding_ms: int | None
    open_interest: float  # base coin (Bitget holdingAmount)
    oi_change_15m: float  # percent
    basis_bps: float  # (mark - last) / last
    updated_ms: int  # exchange time of the newest ticker
    source: str = "ws"  # "ws" or "rest" (REST seed or a shard's fallback while it is down)
    shard_id: int | None = None


# What the radar presets rank by (by size for a column in RANKED_BY_SIZE).
RANKING_PRESETS: dict[str, str] = {
    "movers": "change_5m",
    "surge": "volume_surge",
    "funding": "funding_rate",
    "spread": "spread_bps",
    "oi": "oi_change_15m",
}
RANKABLE_COLUMNS: tuple[str, ...] = (
    "change_1m",
    "change_5m",
    "change_15m",
    "change_1h",
    "change_24h",
    "quote_volume_24h",
    "volume_surge",
    "spread_bps",
    "funding_rate",
    "open_interest",
    "oi_change_15m",
    "basis_bps",
    "last",
)
# Columns ranked by size whatever the sign: every price change (a -8 % move is as much a mover
# as +8 %), funding and OI change.
RANKED_BY_SIZE: frozenset[str] = frozenset(
    {c for c in RANKABLE_COLUMNS if c.startswith("change_")} | {"funding_rate", "oi_change_15m"}
)


class UniverseSnapshot(msgspec.Struct, frozen=True):
    """The whole-market radar: every symbol's ticker row and every shard, frozen."""

    mode: str = "off"  # "all", "top", "watchlist", or "off" (no universe running)
    symbols: int = 0  # symbols in the universe
    rows: tuple[TickerRow, ...] = ()  # universe order (by 24 h quote volume at selection)
    shards: tuple[ShardSnapshot, ...] = ()
    markets_loaded_ms: int | None = None
    rest_polls: int = 0  # REST tickers calls (seed + fallback for shards that are down)
    problem: str | None = None  # why the universe is empty (markets not loaded: the reason)
    tickers_live: int = 0  # rows fed by a live shard's websocket
    limit_errors: int = 0  # 30006/30007 answers seen by any shard (should stay 0)
    rejected: tuple[str, ...] = ()  # symbols the exchange refused to subscribe (30001)

    @property
    def shards_up(self) -> int:
        """Shards whose socket is live."""
        return sum(1 for s in self.shards if s.state is ShardState.LIVE)

    @property
    def shards_down(self) -> int:
        """Shards not live (connecting, stale, reconnecting, failed)."""
        return sum(1 for s in self.shards if s.state is not ShardState.LIVE)

    def ranked(
        self,
        column: str,
        *,
        absolute: bool = False,
        descending: bool = True,
        limit: int | None = None,
    ) -> list[TickerRow]:
        """Rows sorted by a float column (NaN last), optionally by absolute value."""
        if column not in RANKABLE_COLUMNS:
            raise ValueError(
                f"cannot rank by {column!r}: expected one of {', '.join(RANKABLE_COLUMNS)}"
            )
        return rank_rows(self.rows, column, absolute=absolute, descending=descending, limit=limit)

    def preset(self, name: str, limit: int | None = 10) -> list[TickerRow]:
        """Rows ranked by a radar preset (movers, surge, funding, spread, oi)."""
        column = RANKING_PRESETS[name]
        return self.ranked(column, absolute=column in RANKED_BY_SIZE, limit=limit)

    def row(self, symbol: str) -> TickerRow | None:
        """The row of `symbol` (a linear scan: for one lookup, not per row)."""
        for r in self.rows:
            if r.symbol == symbol:
                return r
        return None


def rank_rows(
    rows: tuple[TickerRow, ...] | list[TickerRow],
    column: str,
    *,
    absolute: bool = False,
    descending: bool = True,
    limit: int | None = None,
) -> list[TickerRow]:
    """One sort of floats: rows by `column` (abs if asked), NaN always last, ties in row order."""
    keyed: list[tuple[float, int]] = []
    nan_idx: list[int] = []
    sign = -1.0 if descending else 1.0
    for i, r in enumerate(rows):
        v = getattr(r, column)
        if v != v:  # NaN
            nan_idx.append(i)
            continue
        keyed.append((sign * (abs(v) if absolute else v), i))
    keyed.sort()
    order = [i for _, i in keyed] + nan_idx
    if limit is not None:
        order = order[:limit]
    return [rows[i] for i in order]
