"""When the engine's periodic snapshot is worth building: at full rate while it is read."""

from __future__ import annotations

import time
from collections.abc import Callable

# Nobody read a snapshot for this long: build one only every IDLE_S (a headless engine or a
# daemon without viewers reads every few seconds, and each build costs every stream's views).
READ_WINDOW_S = 2.0
IDLE_S = 1.0


class SnapshotDemand:
    """Tracks reads of the snapshot (from any thread) and says whether a periodic tick builds."""

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
        self._built_at = -float("inf")

    def read(self) -> None:
        """A reader took the snapshot: keep building at full rate for a while."""
        self._read_at = self._now()

    def due(self) -> bool:
        """True when this tick should build: read lately, or the idle interval has passed."""
        now = self._now()
        return now - self._read_at <= self.read_window_s or now - self._built_at >= self.idle_s

    def built(self) -> None:
        """A snapshot was just built."""
        self._built_at = self._now()
