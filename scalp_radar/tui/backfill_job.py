"""State of the one backfill the dashboard may run: plan, then progress, then result.

Progress callbacks arrive on the engine thread; they only swap `latest` (one reference
assignment), and the app's refresh timer polls the futures, so nothing crosses threads otherwise.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

from scalp_radar.history.types import (
    BackfillPlan,
    BackfillProgress,
    BackfillRequest,
    BackfillResult,
)

if TYPE_CHECKING:
    from scalp_radar.tui.app import ScalpRadarApp


class BackfillFinished(Message):
    """Posted to the app once, when a backfill ends (complete, cancelled, failed or errored)."""

    def __init__(self, result: BackfillResult | None, error: str | None) -> None:
        super().__init__()
        self.result = result
        self.error = error


@dataclass
class BackfillJob:
    """One backfill from request to result; `poll` advances it on the UI thread."""

    request: BackfillRequest
    plan_future: concurrent.futures.Future[BackfillPlan]
    plan: BackfillPlan | None = None
    result_future: concurrent.futures.Future[BackfillResult] | None = None
    latest: BackfillProgress | None = None
    result: BackfillResult | None = None
    error: str | None = None
    cancel_requested: bool = False
    notified: bool = field(default=False)

    @property
    def running(self) -> bool:
        """True until a result or an error is known."""
        return self.result is None and self.error is None

    def on_progress(self, progress: BackfillProgress) -> None:
        """Called from the engine thread: publish the latest progress (atomic swap)."""
        self.latest = progress

    def poll(self, app: ScalpRadarApp) -> None:
        """Start the run once the plan is ready; notify once the result is in."""
        if self.plan is None and self.error is None and self.plan_future.done():
            try:
                self.plan = self.plan_future.result()
            except Exception as exc:  # shown to the user, not raised into the UI loop
                self.error = f"planning failed: {exc}"
            else:
                if self.cancel_requested:
                    self.result = BackfillResult(0, 0, self.plan.requests, 0.0, cancelled=True)
                else:
                    self.result_future = app.source.start_backfill(self.request, self.on_progress)
        if self.result_future is not None and self.result is None and self.result_future.done():
            try:
                self.result = self.result_future.result()
            except Exception as exc:
                self.error = f"backfill failed: {exc}"
        if not self.running and not self.notified:
            self.notified = True
            app.post_message(BackfillFinished(self.result, self.error))
            if self.error is not None:
                app.notify(self.error, title="Backfill", severity="error", timeout=10)
            elif self.result is not None:
                severity = "information" if self.result.complete else "warning"
                app.notify(self.result.summary(), title="Backfill", severity=severity, timeout=10)

    def cancel(self, app: ScalpRadarApp) -> None:
        """Ask the source to stop; the result (cancelled) arrives through `poll`."""
        self.cancel_requested = True
        app.source.cancel_backfill()
