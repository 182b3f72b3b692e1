"""The simulator's documented limits (bitget-v2-public.md sections 2-3), each switchable off."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, replace

# REST endpoint key -> documented per-IP requests per second.
DEFAULT_REST_RATES: dict[str, float] = {
    "time": 20.0,
    "coins": 3.0,
    "contracts": 20.0,
    "candles": 20.0,
    "history-candles": 20.0,
    "ticker": 20.0,
    "tickers": 20.0,
    "current-fund-rate": 20.0,
    "funding-time": 20.0,
    "open-interest": 20.0,
}


@dataclass(frozen=True)
class SimLimits:
    """Limits and pacing of the simulator. A None limit is switched off.

    Times are real seconds (they pace real clients), not simulated time.
    `push_interval_s` is the real time between two pushes of a channel; 0 is the firehose
    mode (push updates as fast as the server can, for benchmarks).
    """

    rest_rates: dict[str, float] | None = field(default_factory=lambda: dict(DEFAULT_REST_RATES))
    ws_msgs_per_s: int | None = 10
    ws_idle_timeout_s: float | None = 30.0
    ws_ping_timeout_s: float | None = 120.0
    ws_max_lifetime_s: float | None = 86_400.0
    ws_max_connections: int | None = 100
    ws_new_connections_per_5min: int | None = 300
    ws_max_channels: int | None = 1000
    ws_subscribes_per_hour: int | None = 240
    push_interval_s: float = 0.25
    snapshot_rows: int = 500
    # Bitget pushes a ticker on change, at most every ~100-300 ms: the shortest real gap between
    # two pushes of one symbol (busy symbols hit it, quiet ones push far more rarely).
    ticker_min_interval_s: float = 0.1

    @classmethod
    def off(cls, **overrides) -> SimLimits:
        """No limit at all (pacing and snapshot size kept); overrides set chosen fields."""
        base = cls(
            rest_rates=None,
            ws_msgs_per_s=None,
            ws_idle_timeout_s=None,
            ws_ping_timeout_s=None,
            ws_max_lifetime_s=None,
            ws_max_connections=None,
            ws_new_connections_per_5min=None,
            ws_max_channels=None,
            ws_subscribes_per_hour=None,
        )
        return replace(base, **overrides)

    @classmethod
    def firehose(cls, **overrides) -> SimLimits:
        """No limits and pushes as fast as possible (benchmarks)."""
        return cls.off(push_interval_s=0.0, **overrides)

    @property
    def is_firehose(self) -> bool:
        """True when pushes are not paced."""
        return self.push_interval_s <= 0


# Kinds of limit violations the simulator counts (`SimExchange.violations`); REST ones are
# "rest:<endpoint>".
WS_MSGS_PER_S = "ws_msgs_per_s"  # > 10 messages/s on a connection: 30007 and closed
WS_SUBSCRIBES_PER_HOUR = "ws_subscribes_per_hour"  # > 240 subscribe messages/h: 30006
WS_CHANNELS = "ws_channels_per_connection"  # > 1000 channels on a connection: 30006
WS_CONNECTIONS_OPEN = "ws_connections_open"  # > 100 open connections: handshake 429
WS_NEW_CONNECTIONS = "ws_new_connections_per_5min"  # > 300 handshakes in 5 min: 429
VIOLATION_KINDS = (
    WS_MSGS_PER_S,
    WS_SUBSCRIBES_PER_HOUR,
    WS_CHANNELS,
    WS_CONNECTIONS_OPEN,
    WS_NEW_CONNECTIONS,
)


class Bucket:
    """A token bucket holding one second of burst: take() says whether a request may pass."""

    def __init__(self, rate_per_s: float, clock=time.monotonic) -> None:
        self.rate = rate_per_s
        self.capacity = max(1.0, rate_per_s)
        self.tokens = self.capacity
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        """Consume one token if available."""
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class SlidingWindow:
    """Counts events in the last `window_s` seconds."""

    def __init__(self, limit: int, window_s: float, clock=time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()

    def hit(self) -> bool:
        """Record one event; False when it goes over the limit."""
        now = self._clock()
        times = self._times
        while times and now - times[0] >= self.window_s:
            times.popleft()
        times.append(now)
        return len(times) <= self.limit
