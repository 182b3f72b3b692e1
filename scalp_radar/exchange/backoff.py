"""Exponential reconnect backoff with jitter, a cap, and a reset after a stable period."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    """Delays `base * 2**attempt` capped at `cap`, jittered to [d/2, d] so streams desynchronise.

    `reset_if_stable()` forgets past failures once the connection has been up `stable_after_s`.
    """

    def __init__(
        self,
        base_s: float = 1.0,
        cap_s: float = 60.0,
        stable_after_s: float = 60.0,
        *,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError(
                f"backoff needs 0 < base_s <= cap_s, got base_s={base_s} cap_s={cap_s}"
            )
        self.base_s = base_s
        self.cap_s = cap_s
        self.stable_after_s = stable_after_s
        self.attempt = 0
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._up_since: float | None = None

    def next_delay(self) -> float:
        """Delay before the next attempt; each call counts one failed attempt."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        self._up_since = None
        return float(ceiling / 2 + self._rng.random() * ceiling / 2)

    def connected(self) -> None:
        """Record that the connection works now (start of the stable period)."""
        if self._up_since is None:
            self._up_since = self._monotonic()

    def reset_if_stable(self) -> bool:
        """Reset the attempt counter once up for `stable_after_s`; True when it reset."""
        if self.attempt == 0 or self._up_since is None:
            return False
        if self._monotonic() - self._up_since >= self.stable_after_s:
            self.attempt = 0
            return True
        return False

    def reset(self) -> None:
        """Forget every failure."""
        self.attempt = 0
        self._up_since = None
