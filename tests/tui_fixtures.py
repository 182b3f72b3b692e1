"""Shared helpers for the TUI tests: deterministic apps over fixed snapshots."""

from __future__ import annotations

from pathlib import Path

from textual.clock import MockClock

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.tui.app import ScalpRadarApp, make_app
from scalp_radar.tui.fixtures import (
    degraded_snapshot,
    healthy_snapshot,
    universe_snapshot,
    universe_sparks,
)
from scalp_radar.tui.radar_source import StaticRadarSource
from scalp_radar.tui.source import StaticSource


def static_app(
    snapshot: EngineSnapshot | None = None, *, demo: bool = True, **source_kwargs: object
) -> tuple[ScalpRadarApp, StaticSource]:
    """An app over a fixed snapshot with a frozen clock (no animation, no blinking)."""
    source = StaticSource(healthy_snapshot() if snapshot is None else snapshot, **source_kwargs)  # type: ignore[arg-type]
    return make_app(source, demo=demo, clock=MockClock()), source


def radar_app(
    snapshot: EngineSnapshot | None = None, *, state_file: Path, demo: bool = True
) -> tuple[ScalpRadarApp, StaticRadarSource]:
    """An app over the ~60-symbol radar fixture (seeded sparklines), watchlist in `state_file`."""
    snap = universe_snapshot() if snapshot is None else snapshot
    source = StaticRadarSource(snap, universe_sparks(snap))
    return make_app(source, demo=demo, clock=MockClock(), state_file=state_file), source


__all__ = ["degraded_snapshot", "healthy_snapshot", "static_app", "universe_snapshot"]
