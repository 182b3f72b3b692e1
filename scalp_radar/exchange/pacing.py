"""Per-IP connection pacing and per-connection subscribe budgets (Bitget: section 7 of
../shared/bitget-v2-public.md): at most 300 new connections per 5 min and 100 open per IP,
at most 240 subscribe requests per connection per hour."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

MonoClock = Callable[[], float]
MAX_OPEN_CONNECTIONS = 100
MAX_NEW_CONNECTIONS = 300
NEW_CONNECTIONS_WINDOW_S = 300.0


class ConnectionGate:
    """Per-IP connection pacing shared by every shard: spacing between dials, at most
    `max_new` dials per `window_s`, at most `max_open` sockets open at once. FIFO."""

    def __init__(
        self,
        *,
        spacing_s: float,
        max_new: int = MAX_NEW_CONNECTIONS,
        window_s: float = NEW_CONNECTIONS_WINDOW_S,
        max_open: int = MAX_OPEN_CONNECTIONS,
        clock: MonoClock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.spacing_s = spacing_s
        self._sleep = sleep
        self.max_new = min(max_new, MAX_NEW_CONNECTIONS)
        self.window_s = window_s
        self.max_open = min(max_open, MAX_OPEN_CONNECTIONS)
        self._clock = clock
        self._dials: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._released = asyncio.Event()
        self.open = 0
        self.total_dials = 0

    def _wait_s(self) -> float:
        now = self._clock()
        while self._dials and now - self._dials[0] >= self.window_s:
            self._dials.popleft()
        wait = 0.0
        if self._dials:
            wait = max(wait, self._dials[-1] + self.spacing_s - now)
        if len(self._dials) >= self.max_new:
            wait = max(wait, self._dials[0] + self.window_s - now)
        return wait

    async def acquire(self) -> None:
        """Wait for the right to open one socket; `release()` when it is closed."""
        async with self._lock:
            while True:
                if self.open >= self.max_open:
                    self._released.clear()
                    await self._released.wait()
                    continue
                wait = self._wait_s()
                if wait <= 0:
                    break
                await self._sleep(wait)
            self._dials.append(self._clock())
            self.open += 1
            self.total_dials += 1

    def release(self) -> None:
        """One socket closed."""
        self.open = max(0, self.open - 1)
        self._released.set()

    def dials_in_window(self) -> int:
        """Dials in the last `window_s`."""
        self._wait_s()
        return len(self._dials)


class SubscribeBudget:
    """Subscribe frames sent on one connection in the last hour (Bitget: <= 240)."""

    def __init__(self, per_hour: int, clock: MonoClock = time.monotonic) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._sent: deque[float] = deque()

    def used(self) -> int:
        """Frames sent in the last hour on this connection."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= 3600.0:
            self._sent.popleft()
        return len(self._sent)

    def allows(self) -> bool:
        """True when one more frame stays inside the budget."""
        return self.used() < self.per_hour

    def record(self) -> None:
        """One subscribe frame sent."""
        self._sent.append(self._clock())

    def reset(self) -> None:
        """A new connection starts with a fresh budget."""
        self._sent.clear()
