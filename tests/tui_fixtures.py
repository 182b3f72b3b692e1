"""Shared helpers for the TUI tests: deterministic apps over fixed snapshots."""

from __future__ import annotations

from textual.clock import MockClock

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.tui.app import ScalpRadarApp, make_app
from scalp_radar.tui.fixtures import degraded_snapshot, healthy_snapshot
from scalp_radar.tui.source import StaticSource


def static_app(
    snapshot: EngineSnapshot | None = None, *, demo: bool = True, **source_kwargs: object
) -> tuple[ScalpRadarApp, StaticSource]:
    """An app over a fixed snapshot with a frozen clock (no animation, no blinking)."""
    source = StaticSource(healthy_snapshot() if snapshot is None else snapshot, **source_kwargs)  # type: ignore[arg-type]
    return make_app(source, demo=demo, clock=MockClock()), source


__all__ = ["degraded_snapshot", "healthy_snapshot", "static_app"]
