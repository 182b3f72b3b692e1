"""Market radar benchmark: key -> frame at 80x24 with 500 rows fed at 4 Hz, and refresh cost.

Run: `.venv/bin/python tests/bench/bench_radar_tui.py [--rows 500] [--presses 40] [--seconds 3]`

The dashboard runs in a child process on a pseudo-terminal (80x24, the real Linux driver) over a
static 500-symbol radar (tui/fixtures.universe_snapshot) whose snapshot is replaced 4 times a
second by a feeder thread (every row a new object, changes jittered so the order moves), sorted by
5 min change (Movers). The parent presses 2 (Surge) and 1 (Movers) in turn and times until the
new title reaches the terminal. The child reports the per-refresh cost: the app's snapshot tick
(re-sort of the universe, cursor follow) and the radar's line rendering per frame, plus how many
rows and sparklines were rendered per refresh (only visible rows may be), and its garbage
collections (count and longest pause per generation).
Target: key -> frame p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tui import Pty  # noqa: E402

WARMUP_S = 3.0


def child(args: argparse.Namespace) -> int:
    from scalp_radar.app.dashboard import configure_textual_env

    configure_textual_env()
    import random

    import msgspec

    from scalp_radar.core.snapshot import EngineSnapshot
    from scalp_radar.tui.app import make_app
    from scalp_radar.tui.fixtures import universe_snapshot, universe_sparks
    from scalp_radar.tui.radar_source import StaticRadarSource
    from scalp_radar.tui.widgets.market_radar import MarketRadar

    base = universe_snapshot(args.rows)
    rng = random.Random(1)
    variants: list[EngineSnapshot] = []
    for k in range(16):  # prebuilt so the feeder costs nothing while measuring
        rows = tuple(
            msgspec.structs.replace(
                r, change_5m=r.change_5m + rng.gauss(0, 0.05), updated_ms=r.updated_ms + k * 250
            )
            for r in base.universe.rows
        )
        variants.append(
            msgspec.structs.replace(
                base,
                taken_at_ms=base.taken_at_ms + k * 250,
                universe=msgspec.structs.replace(base.universe, rows=rows),
            )
        )
    source = StaticRadarSource(variants[0], universe_sparks(base))
    stop = threading.Event()

    def feed() -> None:
        k = 0
        while not stop.wait(0.25):
            k += 1
            source.set_snapshot(variants[k % len(variants)])

    threading.Thread(target=feed, daemon=True).start()
    app = make_app(
        source,
        refresh_hz=4.0,
        state_file=Path(args.result + ".state.json"),
        freeze_heap=not args.no_freeze,
    )
    ticks: list[float] = []
    tick = app.refresh_snapshot

    def timed_tick() -> None:
        t0 = time.perf_counter()
        tick()
        ticks.append(time.perf_counter() - t0)

    app.refresh_snapshot = timed_tick  # type: ignore[method-assign]
    render_s = [0.0]
    radars: list[MarketRadar] = []
    original = MarketRadar.render_line

    def timed_render(self: MarketRadar, y: int):  # noqa: ANN202
        if not radars:
            radars.append(self)
        t0 = time.perf_counter()
        strip = original(self, y)
        render_s[0] += time.perf_counter() - t0
        return strip

    MarketRadar.render_line = timed_render  # type: ignore[method-assign]
    gc_ms: dict[int, list[float]] = {0: [], 1: [], 2: []}
    gc_t0 = [0.0]

    def gc_timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_t0[0] = time.perf_counter()
        else:
            if time.perf_counter() - started >= WARMUP_S:  # not start-up's (or the freeze's)
                gc_ms[info["generation"]].append((time.perf_counter() - gc_t0[0]) * 1000)

    started = time.perf_counter()
    gc.callbacks.append(gc_timer)
    try:
        app.run()
    finally:
        stop.set()
        radar = radars[0] if radars else None
        ms = sorted(x * 1000 for x in ticks)
        n = max(1, len(ms))
        Path(args.result).write_text(
            json.dumps(
                {
                    "refreshes": len(ms),
                    "tick_ms_p50": ms[len(ms) // 2] if ms else None,
                    "tick_ms_p95": ms[int(len(ms) * 0.95)] if ms else None,
                    "render_ms_per_refresh": render_s[0] * 1000 / n,
                    "rows_rendered_per_refresh": (radar.lines_rendered / n) if radar else None,
                    "sparklines_per_refresh": source.radar.spark_calls / n,
                    **{
                        f"gc_gen{g}": f"{len(v)} collections, max {max(v, default=0):.1f} ms"
                        for g, v in gc_ms.items()
                    },
                }
            )
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=3.0, help="idle feed before presses")
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave the start-up heap to the collector"
    )
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--result", default="")
    args = parser.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "radar.json"
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--rows",
            str(args.rows),
            "--result",
            str(result),
            *(["--no-freeze"] if args.no_freeze else []),
        ]
        term = Pty(cmd, (80, 24))
        term.read_for(WARMUP_S + args.seconds)
        lat: list[float] = []
        missed = 0
        for i in range(args.presses):
            key, expect = (b"2", b"Surge") if i % 2 == 0 else (b"1", b"Movers")
            t = term.time_key(key, expect)
            if t is None:
                missed += 1
            else:
                lat.append(t * 1000)
            term.read_for(0.15)
        term.close()
        stats = json.loads(result.read_text()) if result.exists() else {}
    lat.sort()
    print(f"radar {args.rows} rows at 80x24, snapshot fed at 4 Hz, sorted by 5m change")
    if lat:
        print(
            f"key->frame ms: n={len(lat)} missed={missed} p50 {statistics.median(lat):.1f} "
            f"p95 {lat[int(len(lat) * 0.95) - 1 if len(lat) > 1 else 0]:.1f} max {lat[-1]:.1f}"
        )
    for k, v in stats.items():
        print(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}")
    return 0 if lat and not missed else 1


if __name__ == "__main__":
    raise SystemExit(main())
