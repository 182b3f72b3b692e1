"""Keep ccxt's own clock on the exchange's clock, measured with `fetch_time`.

ccxt clamps a REST request's `endTime` to *its* clock (`exchange.milliseconds()`): if that clock
lags the exchange's (a simulator running faster than real time, or a local clock behind), the
newest candles can never be fetched and a heal gets 0 rows. The one monkeypatch of ccxt's clock
lives here; the engine and the backfill both use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from scalp_radar.core.clock import Clock, SystemClock

# Offset of the exchange's clock beyond which ccxt is made to follow it.
CLOCK_FOLLOW_MS = 5_000
# Two measurements closer than this (local ms) are too close to estimate a clock rate from.
MIN_RATE_SPAN_MS = 500


def wall_ms() -> int:
    """The local wall clock in ms."""
    return time.time_ns() // 1_000_000


def follow_server_clock(exchange: Any, offset_ms: int) -> None:
    """Make ccxt's `milliseconds()` run `offset_ms` ahead of the local clock."""
    base = type(exchange).milliseconds
    exchange.milliseconds = lambda: int(base()) + int(offset_ms)


def follow_clock(exchange: Any, now_ms: Callable[[], int]) -> None:
    """Make ccxt's `milliseconds()` read `now_ms` (an injected market clock, or a `ClockSync`)."""
    exchange.milliseconds = now_ms


async def measure_server_ms(exchange: Any, local_ms: Callable[[], int]) -> tuple[int, int] | None:
    """(server ms, local ms at the middle of the round trip) from one `fetch_time`, or None."""
    t0 = local_ms()
    server = await exchange.fetch_time()
    t1 = local_ms()
    if server is None:
        return None
    return int(server), (t0 + t1) // 2


class ClockSync:
    """The exchange's clock as a line through the last two measurements of it.

    A real exchange's clock runs at rate 1 with a small offset; a simulator at speed 60 runs 60
    times faster, so a single offset goes stale at once: the rate follows it. With an injected
    `clock` (a simulator's own, in tests and demo) that clock is the exchange's and nothing is
    measured.
    """

    def __init__(
        self, clock: Clock | None = None, *, local_ms: Callable[[], int] = wall_ms
    ) -> None:
        self._injected = clock if clock is not None and not isinstance(clock, SystemClock) else None
        # With an injected clock, measurements only report how far the exchange is from it.
        self._local_ms = self._injected.now_ms if self._injected is not None else local_ms
        self._sample: tuple[int, int] | None = None  # (server ms, local ms)
        self._rate = 1.0

    @property
    def injected(self) -> bool:
        """True when the exchange's clock is known directly (no measuring needed)."""
        return self._injected is not None

    @property
    def offset_ms(self) -> float | None:
        """Exchange clock minus local (or injected) clock now; None before the first measurement."""
        if self._sample is None:
            return None
        if self._injected is not None:
            return float(self._sample[0] - self._sample[1])
        return float(self.server_now_ms() - self._local_ms())

    def server_now_ms(self) -> int:
        """The exchange's clock now (the local clock until it has been measured)."""
        if self._injected is not None:
            return self._injected.now_ms()
        local = self._local_ms()
        if self._sample is None:
            return local
        server, at = self._sample
        return int(server + self._rate * (local - at))

    def measured_within(self, ms: int) -> bool:
        """True when the exchange's clock is injected or was measured less than `ms` ago."""
        if self._injected is not None:
            return True
        return self._sample is not None and self._local_ms() - self._sample[1] < ms

    def record(self, server_ms: int, local_ms: int) -> None:
        """Take one measurement (server clock at local time `local_ms`)."""
        previous = self._sample
        if previous is not None and local_ms - previous[1] >= MIN_RATE_SPAN_MS:
            rate = (server_ms - previous[0]) / (local_ms - previous[1])
            # A clock that runs backwards or absurdly fast is a bad sample, not a rate.
            self._rate = rate if 0.0 < rate <= 10_000.0 else 1.0
        self._sample = (server_ms, local_ms)

    async def measure(self, exchange: Any) -> bool:
        """Measure the exchange's clock once and make `exchange` follow it; True on success."""
        sample = await measure_server_ms(exchange, self._local_ms)
        if sample is None:
            return False
        self.record(*sample)
        self.apply(exchange)
        return True

    def apply(self, exchange: Any) -> None:
        """Make ccxt's clock on `exchange` follow this one (a no-op while they agree)."""
        if self._injected is not None:
            follow_clock(exchange, self._injected.now_ms)
            return
        offset = self.offset_ms
        drifting = abs(self._rate - 1.0) > 1e-3
        if offset is not None and (abs(offset) > CLOCK_FOLLOW_MS or drifting):
            follow_clock(exchange, self.server_now_ms)
