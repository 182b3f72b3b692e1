"""The engine's notion of time: one injectable object for watchdogs, ages and gap detection."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Market time in ms; `speed` is market seconds per real second (1.0 for live)."""

    def now_ms(self) -> int: ...


class SystemClock:
    """Wall-clock time at normal speed."""

    speed = 1.0

    def now_ms(self) -> int:
        """Milliseconds since the epoch."""
        return time.time_ns() // 1_000_000


class FrozenClock:
    """A clock that only moves when told to (snapshot tests)."""

    def __init__(self, now_ms: int = 1_700_000_000_000, speed: float = 1.0) -> None:
        self._now = now_ms
        self.speed = speed

    def now_ms(self) -> int:
        """The frozen time."""
        return self._now

    def advance(self, ms: int) -> None:
        """Move time forward by `ms`."""
        self._now += ms


def clock_speed(clock: object) -> float:
    """Speed of a clock (1.0 when it does not say), never zero."""
    speed = getattr(clock, "speed", 1.0)
    try:
        speed = float(speed() if callable(speed) else speed)
    except (TypeError, ValueError):
        return 1.0
    return speed if speed > 0 else 1.0
