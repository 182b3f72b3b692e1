"""A stream's stale watchdog: `asyncio.timeout` for a loop of awaits, with one timer per quiet period.

`asyncio.timeout` pushes a timer handle onto the event loop's heap per `async with` and cancels it
on exit, i.e. once per candle update (~3 us each, 1600 times a second at 400 streams). Here each
guarded await only moves a deadline; the one pending timer, when it fires before the deadline it
was armed for moved, re-arms itself for the new one. Semantics are `asyncio.timeout`'s: on expiry
the task is cancelled, and the guarded block raises `TimeoutError` instead of `CancelledError`.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

# A timer may run this early (the loop's clock resolution); earlier than that, it re-arms.
_EARLY_S = 0.001


class Watchdog:
    """Guards one task's awaits: `with dog.guard(timeout_s): await ...` (created inside the task)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a Watchdog guards a task: create it inside one")
        self._task = task
        self._deadline = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._guarding = False
        self._expired = False
        self._cancelling = 0  # the task's pending cancellations when the guard started

    def guard(self, timeout_s: float) -> Watchdog:
        """Arm for the next block: it times out `timeout_s` seconds from now."""
        self._deadline = self._loop.time() + timeout_s
        self._expired = False
        self._cancelling = self._task.cancelling()
        self._guarding = True
        handle = self._handle
        if handle is None or handle.when() > self._deadline:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(self._deadline, self._fire)
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._guarding = False
        if self._expired:
            self._expired = False
            # As asyncio.timeout: withdraw our cancellation; only it becomes a TimeoutError.
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc

    def close(self) -> None:
        """Drop the pending timer (the task is done with guarding)."""
        self._guarding = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        if not self._guarding:
            return  # between guarded blocks: the next guard arms a fresh timer
        if self._loop.time() + _EARLY_S < self._deadline:
            # The deadline moved on since this timer was armed: follow it.
            self._handle = self._loop.call_at(self._deadline, self._fire)
            return
        self._expired = True
        self._task.cancel()
