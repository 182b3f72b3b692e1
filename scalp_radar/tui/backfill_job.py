"""State of the one backfill the dashboard may run: plan, then progress, then result.

Plain data: the app's backfill worker fills it in and tells the screens with messages; the
engine thread only swaps `latest` (one reference assignment).
"""

from __future__ import annotations

from dataclasses import dataclass

from scalp_radar.core import numfmt
from scalp_radar.core.timefmt import duration
from scalp_radar.history.types import (
    BackfillPlan,
    BackfillProgress,
    BackfillRequest,
    BackfillResult,
)


@dataclass
class BackfillJob:
    """One backfill from request to result."""

    request: BackfillRequest
    plan: BackfillPlan | None = None
    latest: BackfillProgress | None = None
    result: BackfillResult | None = None
    error: str | None = None
    cancel_requested: bool = False

    @property
    def running(self) -> bool:
        """True until a result or an error is known."""
        return self.result is None and self.error is None

    def plan_text(self) -> str:
        """'plan: 15 requests · 2,880 candles · ETA 1.5s' (or 'planning…')."""
        plan = self.plan
        if plan is None:
            return "planning…" if self.running else ""
        text = (
            f"plan: {numfmt.count(plan.requests, 'request')} · "
            f"{numfmt.count(plan.expected_candles, 'candle')} · ETA {duration(plan.eta_s)}"
        )
        if plan.already_stored:
            text += f" · {plan.already_stored:,} already stored"
        return text

    def progress_text(self) -> str:
        """'4/44 requests' (the plan's unit), or 'planning…'."""
        if self.plan is None:
            return "planning…"
        done = self.latest.windows_done if self.latest else 0
        return f"{done:,}/{numfmt.count(self.plan.requests, 'request')}"

    def status_text(self) -> str:
        """Where the job is, in the same units as the plan (requests, candles)."""
        if self.error is not None:
            return f"✖ {self.error}"
        if self.result is not None:
            return self.result.summary()
        if self.cancel_requested:
            return "cancelling…"
        p = self.latest
        if p is None:
            return "starting…" if self.plan is not None else ""
        return (
            f"{p.windows_done:,}/{numfmt.count(p.windows_total, 'request')} · "
            f"{numfmt.count(p.candles_stored, 'candle')} stored · {p.candles_per_s:,.0f}/s · "
            f"ETA {duration(p.eta_s)}"
        )
