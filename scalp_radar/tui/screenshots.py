"""Regenerate the README screenshots: `python -m scalp_radar.tui.screenshots [--out DIR]`.

Every picture comes from the fixed snapshots in `tui/fixtures.py` with a frozen clock, so
rerunning it only changes files when the UI changed.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.clock import MockClock
from textual.pilot import Pilot

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.tui.app import ScalpRadarApp, make_app
from scalp_radar.tui.fixtures import degraded_snapshot, healthy_snapshot, universe_snapshot
from scalp_radar.tui.source import StaticSource

Steps = Callable[[Pilot, ScalpRadarApp], Awaitable[None]]


async def _nothing(pilot: Pilot, app: ScalpRadarApp) -> None:
    await pilot.pause()


def _keys(*keys: str) -> Steps:
    async def press(pilot: Pilot, app: ScalpRadarApp) -> None:
        await pilot.press(*keys)
        await pilot.pause()

    return press


async def _backfill_running(pilot: Pilot, app: ScalpRadarApp) -> None:
    await pilot.press("b", "ctrl+s")
    for _ in range(500):
        job = app.backfill_job
        if job is not None and job.latest is not None and job.latest.windows_done >= 3:
            break
        await pilot.pause(0.01)
    app.refresh_snapshot()
    await pilot.pause()


# name -> (snapshot factory, demo, size, steps, StaticSource options)
SHOTS: dict[str, tuple[Callable[[], EngineSnapshot], bool, tuple[int, int], Steps, dict]] = {
    "radar-80x24": (universe_snapshot, True, (80, 24), _nothing, {}),
    "radar-160x48": (universe_snapshot, True, (160, 48), _nothing, {}),
    "main-80x24": (healthy_snapshot, True, (80, 24), _nothing, {}),
    "main-160x48": (healthy_snapshot, True, (160, 48), _nothing, {}),
    "degraded-80x24": (degraded_snapshot, False, (80, 24), _nothing, {}),
    "degraded-160x48": (degraded_snapshot, False, (160, 48), _nothing, {}),
    "detail-chart-120x32": (healthy_snapshot, True, (120, 32), _keys("enter"), {}),
    "backfill-running-80x24": (
        healthy_snapshot,
        True,
        (80, 24),
        _backfill_running,
        {"hold_at": 3, "step_s": 0.0},
    ),
    "help-80x24": (healthy_snapshot, True, (80, 24), _keys("question_mark"), {}),
}


async def take(name: str, out: Path) -> Path:
    """Render one named screenshot into `out/<name>.svg`."""
    factory, demo, size, steps, options = SHOTS[name]
    app = make_app(StaticSource(factory(), **options), demo=demo, clock=MockClock())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await steps(pilot, app)
        svg = app.export_screenshot(title=f"Scalp Radar — {name}")
    path = out / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="output directory")
    parser.add_argument("names", nargs="*", help=f"subset of: {', '.join(SHOTS)}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SHOTS]
    if unknown:
        parser.error(
            f"names: unknown screenshot {unknown[0]!r}; expected one of {', '.join(SHOTS)}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or SHOTS:
        path = asyncio.run(take(name, args.out))
        print(path)  # a CLI script, not library code: the paths are its output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
