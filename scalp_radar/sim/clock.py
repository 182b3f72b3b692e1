"""The simulator's clock: wall time by default, optionally accelerated, offset or frozen."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SimClock:
    """Simulated time in ms: start_ms + (elapsed real time) x speed.

    speed=60 closes a 1m candle every real second. start_ms defaults to the wall clock at
    creation, so everything before it is history. `freeze()`, `set_ms()` and `advance()` make
    the clock manual (tests); `resume()` lets it run again from where it stands.
    """

    def __init__(
        self,
        speed: float = 1.0,
        start_ms: int | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed: expected a positive number, got {speed}")
        self.speed = float(speed)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._base_ms = float(start_ms if start_ms is not None else time.time() * 1000)
        self._base_real = monotonic()
        self._frozen = False
        self._base_wall_ms = int(time.time() * 1000)  # names the timeline (SimIdentity)

    def timeline(self) -> tuple[int, int]:
        """(simulated ms, wall ms) when this timeline started (a jump starts a new one)."""
        return int(self._base_ms), self._base_wall_ms

    @classmethod
    def following(cls, base_ms: float, base_monotonic: float, speed: float) -> SimClock:
        """A clock that reads the same as another process's `state()` (monotonic time is
        system-wide on Linux, so both compute the same simulated time)."""
        clock = cls(speed=speed, start_ms=int(base_ms))
        clock._base_ms = float(base_ms)
        clock._base_real = float(base_monotonic)
        return clock

    def state(self) -> dict[str, float]:
        """base_ms, base_monotonic and speed: what `following()` needs to mirror this clock."""
        with self._lock:
            return {
                "base_ms": self._base_ms,
                "base_monotonic": self._base_real,
                "speed": self.speed,
            }

    def now_ms(self) -> int:
        """Current simulated time in milliseconds since the Unix epoch."""
        if self._frozen:
            return int(self._base_ms)
        return int(self._base_ms + (self._monotonic() - self._base_real) * 1000.0 * self.speed)

    def real_seconds_for(self, sim_ms: float) -> float:
        """Real seconds that sim_ms of simulated time takes at this speed."""
        return sim_ms / 1000.0 / self.speed

    @property
    def frozen(self) -> bool:
        """True while the clock does not move by itself."""
        return self._frozen

    def freeze(self) -> None:
        """Stop the clock where it stands."""
        with self._lock:
            self._base_ms = float(self.now_ms())
            self._frozen = True

    def resume(self) -> None:
        """Let a frozen clock run again from its current value."""
        with self._lock:
            self._base_real = self._monotonic()
            self._frozen = False

    def set_ms(self, ms: int) -> None:
        """Jump to ms (keeps running unless frozen)."""
        with self._lock:
            self._base_ms = float(ms)
            self._base_real = self._monotonic()
            self._base_wall_ms = int(time.time() * 1000)

    def advance(self, ms: int) -> None:
        """Move the clock forward by ms."""
        self.set_ms(self.now_ms() + ms)
