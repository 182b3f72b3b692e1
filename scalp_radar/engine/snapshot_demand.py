"""When the engine's periodic snapshot is worth building: at full rate while it is read."""

from __future__ import annotations

import time
from collections.abc import Callable

# Full rate while reads come at most this far apart (a dashboard, a daemon's viewers); else one
# build every IDLE_S: a headless engine or a daemon without viewers is read once in a while
# (`status`, sd_notify's STATUS, /metrics), and each build costs every stream's views.
READ_WINDOW_S = 2.0
IDLE_S = 1.0


class SnapshotDemand:
    """Tracks reads of the snapshot (from any thread) and says whether a periodic tick builds:
    every tick while someone reads again and again, else once per idle interval."""

    def __init__(
        self,
        *,
        read_window_s: float = READ_WINDOW_S,
        idle_s: float = IDLE_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read_window_s = read_window_s
        self.idle_s = idle_s
        self._now = now
        self._read_at = -float("inf")
        self._read_before = -float("inf")  # the read before the last: a reader that came back
        self._built_at = -float("inf")

    def read(self) -> None:
        """A reader took the snapshot."""
        self._read_before, self._read_at = self._read_at, self._now()

    def due(self) -> bool:
        """True when this tick should build: read lately by a reader that keeps reading (one
        read alone is a one-off), or the idle interval has passed."""
        now = self._now()
        window = self.read_window_s
        reading = now - self._read_at <= window and self._read_at - self._read_before <= window
        return reading or now - self._built_at >= self.idle_s

    def built(self) -> None:
        """A snapshot was just built."""
        self._built_at = self._now()
