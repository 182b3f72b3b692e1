"""Where the dashboard gets its data: the SnapshotSource protocol and its two implementations.

`EngineSource` adapts the live `EngineRunner`; `StaticSource` serves one fixed snapshot (tests,
screenshots) with an honest, deterministic fake backfill so the modal can be exercised offline.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import threading
from collections.abc import Callable
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

from scalp_radar.core.models import TimeFrame
from scalp_radar.core.snapshot import EngineSnapshot, StreamState
from scalp_radar.history.types import (
    BackfillPlan,
    BackfillProgress,
    BackfillRequest,
    BackfillResult,
    Window,
)

if TYPE_CHECKING:
    from scalp_radar.engine.runner import EngineRunner

ProgressCallback = Callable[[BackfillProgress], None]

# Bitget returns at most 200 candles per history request (bitget-v2-public.md).
CANDLES_PER_REQUEST = 200


@runtime_checkable
class SnapshotSource(Protocol):
    """What the dashboard needs from an engine; every method is safe to call from the UI thread."""

    def snapshot(self) -> EngineSnapshot | None:
        """The latest immutable snapshot, or None before the engine published one."""

    def stop(self) -> None:
        """Stop the engine (thread-safe, returns in well under a second)."""

    def plan_backfill(self, req: BackfillRequest) -> concurrent.futures.Future[BackfillPlan]:
        """Plan a backfill without fetching anything."""

    def start_backfill(
        self, plan: BackfillPlan, on_progress: ProgressCallback | None
    ) -> concurrent.futures.Future[BackfillResult]:
        """Run exactly `plan` (the one the user saw); `on_progress` may be called from another
        thread."""

    def cancel_backfill(self) -> None:
        """Ask the running backfill, if any, to stop."""


def fake_windows(req: BackfillRequest) -> tuple[Window, ...]:
    """Split a request into 200-candle windows per (symbol, timeframe), like the real planner."""
    windows: list[Window] = []
    for symbol in req.symbols:
        for tf in req.timeframes:
            step = TimeFrame.from_string(tf).to_milliseconds() * CANDLES_PER_REQUEST
            start = req.since_ms
            while start < req.until_ms:
                end = min(start + step, req.until_ms)
                windows.append(Window(symbol, tf, start, end, "history-candles"))
                start = end
    return tuple(windows)


def _candles_in(window: Window) -> int:
    tf_ms = TimeFrame.from_string(window.timeframe).to_milliseconds()
    return max(0, math.ceil((window.end_ms - window.start_ms) / tf_ms))


@dataclass(eq=False)
class StaticSource:
    """A fixed snapshot plus a deterministic fake backfill (no network, no database).

    The fake backfill walks the planned windows, one every `step_s` seconds of wall time, and
    reports progress computed from the plan (not from the wall clock) so numbers are stable.
    `hold_at` stops advancing after that many windows until cancelled (for "running" screenshots);
    windows of `failing_symbols` are reported missing in the result. With a `gate`, no window
    starts before the gate is set (a test decides when the job may end).
    """

    initial: InitVar[EngineSnapshot | None]
    _: KW_ONLY
    rate_per_s: float = 10.0
    step_s: float = 0.02
    hold_at: int | None = None
    failing_symbols: tuple[str, ...] = ()
    gate: threading.Event | None = None
    stop_calls: int = field(default=0, init=False)
    started: list[BackfillPlan] = field(default_factory=list, init=False)
    _snapshot: EngineSnapshot | None = field(init=False)
    _cancel: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def __post_init__(self, initial: EngineSnapshot | None) -> None:
        self._snapshot = initial

    def set_snapshot(self, snapshot: EngineSnapshot | None) -> None:
        """Swap the served snapshot (one reference assignment, as the engine does)."""
        self._snapshot = snapshot

    def snapshot(self) -> EngineSnapshot | None:
        return self._snapshot

    def stop(self) -> None:
        self.stop_calls += 1
        self.cancel_backfill()

    def _plan(self, req: BackfillRequest) -> BackfillPlan:
        windows = fake_windows(req)
        expected = sum(_candles_in(w) for w in windows)
        return BackfillPlan(windows, expected, len(windows) / self.rate_per_s)

    def plan_backfill(self, req: BackfillRequest) -> concurrent.futures.Future[BackfillPlan]:
        future: concurrent.futures.Future[BackfillPlan] = concurrent.futures.Future()
        future.set_result(self._plan(req))
        return future

    def start_backfill(
        self, plan: BackfillPlan, on_progress: ProgressCallback | None
    ) -> concurrent.futures.Future[BackfillResult]:
        future: concurrent.futures.Future[BackfillResult] = concurrent.futures.Future()
        if self._thread is not None and self._thread.is_alive():
            future.set_exception(RuntimeError("a backfill is already running"))
            return future
        self.started.append(plan)
        self._cancel = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(plan, on_progress, future, self._cancel), daemon=True
        )
        self._thread.start()
        return future

    def _run(
        self,
        plan: BackfillPlan,
        on_progress: ProgressCallback | None,
        future: concurrent.futures.Future[BackfillResult],
        cancel: threading.Event,
    ) -> None:
        total = len(plan.windows)
        stored = done = 0
        failed: list[str] = []
        if self.gate is not None:
            self.gate.wait()
        for i, window in enumerate(plan.windows):
            if self.hold_at is not None and i >= self.hold_at:
                cancel.wait()
            if cancel.wait(self.step_s):
                break
            done += 1
            if window.symbol in self.failing_symbols:
                failed.append(window.name)
            else:
                stored += _candles_in(window)
            if on_progress is not None:
                left = total - done
                on_progress(
                    BackfillProgress(
                        windows_done=done,
                        windows_total=total,
                        candles_stored=stored,
                        candles_per_s=CANDLES_PER_REQUEST * self.rate_per_s,
                        eta_s=left / self.rate_per_s,
                        current=window.name,
                    )
                )
        # The app may have quit and cancelled the job's future meanwhile: nobody to tell then.
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            future.set_result(
                BackfillResult(
                    candles_stored=stored,
                    windows_done=done,
                    windows_total=total,
                    elapsed_s=done / self.rate_per_s,
                    cancelled=cancel.is_set(),
                    failed_windows=tuple(failed),
                )
            )

    def cancel_backfill(self) -> None:
        self._cancel.set()


def engine_down(snapshot: EngineSnapshot) -> EngineSnapshot:
    """`snapshot` with every stream FAILED: what a dead engine's last picture really means."""
    reason = "engine stopped unexpectedly: see the log; restart scalp-radar"
    streams = tuple(
        msgspec.structs.replace(s, state=StreamState.FAILED, reason=reason)
        for s in snapshot.streams
    )
    return msgspec.structs.replace(snapshot, streams=streams)


class EngineSource:
    """Adapts a started `EngineRunner`: backfills run on the engine's loop and share its limiter."""

    def __init__(self, runner: EngineRunner) -> None:
        self.runner = runner
        self._cancel: Any = None  # asyncio.Event living on the engine loop
        self._lock = threading.Lock()
        self._stopped = False
        self._down: tuple[EngineSnapshot, EngineSnapshot] | None = None  # (last, marked failed)

    def snapshot(self) -> EngineSnapshot | None:
        snapshot = self.runner.snapshot()
        if snapshot is None or self._stopped or self.runner.alive:
            return snapshot
        # The engine thread died: its last snapshot would keep showing "live" forever.
        if self._down is None or self._down[0] is not snapshot:
            self._down = (snapshot, engine_down(snapshot))
        return self._down[1]

    def stop(self) -> None:
        # Once only: a second runner.stop() would wait out its join timeout again.
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.cancel_backfill()
        self.runner.stop()

    def _rate_per_s(self) -> float:
        for stats in self.runner.limiter.stats():
            if stats.category == "market_data":
                return stats.refill_rate
        return 10.0

    async def _plan(self, req: BackfillRequest) -> BackfillPlan:
        import inspect
        import time

        from scalp_radar.history.backfill import plan_backfill

        # "Now" on the engine's clock (the simulator's in demo mode), as the modal validated with.
        snapshot = self.runner.snapshot()
        now_ms = snapshot.taken_at_ms if snapshot is not None else int(time.time() * 1000)
        plan = plan_backfill(req, self.runner.db, self._rate_per_s(), now_ms)
        # The contract does not pin down sync vs async (it reads the database): accept both.
        return await plan if inspect.isawaitable(plan) else plan

    def plan_backfill(self, req: BackfillRequest) -> concurrent.futures.Future[BackfillPlan]:
        return self.runner.run_coroutine(self._plan(req))

    async def _run(
        self, plan: BackfillPlan, on_progress: ProgressCallback | None
    ) -> BackfillResult:
        import asyncio

        from scalp_radar.history.backfill import Backfiller

        cancel = asyncio.Event()
        with self._lock:
            self._cancel = cancel
        backfiller = Backfiller(self.runner.exchange, self.runner.db, self.runner.limiter)
        try:
            return await backfiller.run(plan, on_progress=on_progress, cancel=cancel)
        finally:
            with self._lock:
                if self._cancel is cancel:
                    self._cancel = None

    def start_backfill(
        self, plan: BackfillPlan, on_progress: ProgressCallback | None
    ) -> concurrent.futures.Future[BackfillResult]:
        return self.runner.run_coroutine(self._run(plan, on_progress))

    def cancel_backfill(self) -> None:
        with self._lock:
            cancel = self._cancel
        loop = getattr(self.runner, "loop", None)
        if cancel is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(cancel.set)
