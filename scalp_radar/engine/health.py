"""The daemon's health, computed from one snapshot: what `status`, `/health` and systemd see.

Healthy: the exchange answers, the database writes, and at most `DEGRADED_SHARE` of the feeds are
stale or failed. Anything else is degraded, with every reason named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from scalp_radar.core.snapshot import EngineSnapshot, ShardState, StreamState

# A feed that has said nothing for this long is stale, whatever its state claims.
FEED_STALE_AFTER_S = 60.0
# More than this share of stale or failed streams (or of shards) makes the daemon degraded (any,
# with fewer than 10).
DEGRADED_SHARE = 0.10
INCIDENT_WINDOW_MS = 3_600_000
EXIT_HEALTHY = 0
EXIT_DEGRADED = 1
EXIT_NO_DAEMON = 2


class Verdict(StrEnum):
    """The one-word answer."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """One feed: a candle stream ("BTC/USDT:USDT 1m") or a ticker shard ("tickers #3")."""

    name: str
    state: str
    age_s: float | None
    fresh: bool
    reason: str | None = None
    kind: str = "stream"  # "stream" or "shard"


@dataclass(frozen=True, slots=True)
class Health:
    """Everything `scalp-radar status` prints; the same JSON on `GET /health`."""

    verdict: Verdict
    reasons: tuple[str, ...]
    engine_connected: bool
    demo: bool
    exchange: str
    uptime_s: float
    last_update_age_s: float | None  # the freshest feed's age
    snapshot_at_ms: int
    database_ok: bool
    feeds_total: int
    feeds_fresh: int
    feeds: tuple[FeedHealth, ...]
    incidents_last_hour: int
    incident_kinds: dict[str, int] = field(default_factory=dict)
    last_incident: str | None = None
    universe_symbols: int = 0  # symbols on the radar (0: no universe running)
    tickers_live: int = 0  # of them, fed by a live shard's websocket
    viewers: int = 0
    pid: int = 0
    daemon_uptime_s: float = 0.0
    ready: bool = False  # every feed has been live at least once since start
    write_latency_ms: float | None = None  # the last database flush's duration

    @property
    def exit_code(self) -> int:
        """0 healthy, 1 degraded (2, no daemon, is the caller's)."""
        return EXIT_HEALTHY if self.verdict is Verdict.HEALTHY else EXIT_DEGRADED


def _is_fresh(live: bool, age: float | None) -> bool:
    return live and age is not None and age <= FEED_STALE_AFTER_S


def _age(age: float | None) -> float | None:
    return None if age is None else round(age, 2)


def assess(
    snap: EngineSnapshot,
    *,
    viewers: int = 0,
    pid: int = 0,
    daemon_uptime_s: float = 0.0,
    ready: bool = False,
) -> Health:
    """The health of the engine that took `snap`."""
    conn = snap.connection
    universe = snap.universe
    feeds = tuple(
        FeedHealth(
            name=s.key,
            state=s.state.value,
            age_s=_age(s.last_update_age_s),
            fresh=_is_fresh(s.state is StreamState.LIVE, s.last_update_age_s),
            reason=s.reason or s.last_error,
        )
        for s in snap.streams
    ) + tuple(
        FeedHealth(
            name=f"tickers #{shard.shard_id} ({shard.channels} symbols)",
            state=shard.state.value,
            age_s=_age(shard.last_message_age_s),
            fresh=_is_fresh(shard.state is ShardState.LIVE, shard.last_message_age_s),
            reason=shard.reason,
            kind="shard",
        )
        for shard in universe.shards
    )
    fresh = sum(1 for f in feeds if f.fresh)
    ages = [f.age_s for f in feeds if f.age_s is not None]
    since = snap.taken_at_ms - INCIDENT_WINDOW_MS
    recent = [i for i in snap.incidents if i.at_ms >= since]
    kinds: dict[str, int] = {}
    for incident in recent:
        kinds[incident.kind] = kinds.get(incident.kind, 0) + 1
    connected = conn.websocket_enabled and conn.problem is None and fresh > 0
    reasons: list[str] = []
    if not conn.websocket_enabled:
        reasons.append("websocket disabled (ENABLE_WEBSOCKET=false)")
    if conn.problem:
        reasons.append(f"exchange: {conn.problem}")
    if not conn.database_ok:
        reasons.append("database: writes failing")
    # Streams and shards separately: one shard down is dozens of symbols without tickers.
    for kind, label in (("stream", "candle streams"), ("shard", "ticker shards")):
        group = [f for f in feeds if f.kind == kind]
        stale = [f.name for f in group if not f.fresh]
        if group and len(stale) > DEGRADED_SHARE * len(group):
            reasons.append(f"{len(stale)}/{len(group)} {label} stale or failed: {', '.join(stale)}")
    if universe.mode != "off" and universe.problem:
        reasons.append(f"universe: {universe.problem}")
    if not feeds:
        reasons.append("no feeds configured")
    return Health(
        verdict=Verdict.DEGRADED if reasons else Verdict.HEALTHY,
        reasons=tuple(reasons),
        engine_connected=connected,
        demo=conn.demo,
        exchange=conn.exchange,
        uptime_s=round(conn.uptime_s, 1),
        last_update_age_s=min(ages) if ages else None,
        snapshot_at_ms=snap.taken_at_ms,
        database_ok=conn.database_ok,
        feeds_total=len(feeds),
        feeds_fresh=fresh,
        feeds=feeds,
        incidents_last_hour=len(recent),
        incident_kinds=kinds,
        last_incident=snap.incidents[0].message if snap.incidents else None,
        universe_symbols=universe.symbols,
        tickers_live=universe.tickers_live,
        viewers=viewers,
        pid=pid,
        daemon_uptime_s=round(daemon_uptime_s, 1),
        ready=ready,
        write_latency_ms=(
            None if conn.write_latency_ms is None else round(conn.write_latency_ms, 2)
        ),
    )
