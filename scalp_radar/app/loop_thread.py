"""An asyncio loop on its own thread, for work that must answer while another loop is busy."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def name_os_thread(name: str) -> None:
    """Give the calling thread `name` where the OS shows it (`top -H`, /proc/PID/task/*/comm;
    Linux keeps 15 bytes); best effort, silently nothing elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_name = 15
        libc.prctl(pr_set_name, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


class LoopThread:
    """Runs a private event loop in a daemon thread; every method is thread-safe."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread and its loop."""
        self._thread.start()

    def _run(self) -> None:
        name_os_thread(self.name)
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
            self.loop.close()

    @property
    def on_it(self) -> bool:
        """True when called from this loop's thread."""
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coro` on this loop; a future for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` running on this loop, from another loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """Call `fn(*args)` soon on this loop (from any thread)."""
        if not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the loop and join the thread (bounded)."""
        self.call(self.loop.stop)
        if self._thread.is_alive() and not self.on_it:
            self._thread.join(timeout_s)
