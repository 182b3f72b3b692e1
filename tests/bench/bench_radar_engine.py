"""Engine throughput with the market-radar dashboard vs without it, as `--demo` runs it.

Run: `.venv/bin/python tests/bench/bench_radar_engine.py [--seconds 15] [--live-timeout 60]`

Each run is a child process started exactly as `scalp-radar --demo` starts: the engine on its
worker thread (EngineRunner, shipped config: the whole universe plus hot symbols' candles) and the
simulator (500 contracts, Bitget's limits and ticker cadence) in a grandchild process. The
headless run leaves the main thread idle; the dashboard run shows the market radar on a
pseudo-terminal (80x24, the real Linux driver), sorted by 5 min change (Movers), refreshing at
4 Hz. Each child waits until every ticker is live, settles, then counts over the same window the
ticker updates the engine's metrics applied (MetricsBook.updates) and the candle updates of its
streams, its process CPU and its garbage collections. Headless runs before and after the
dashboard run; their mean is the reference (it cancels slow drifts of a shared machine).
Target (issue 12): engine updates/s with the dashboard >= 0.9x without it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tui import Pty, _wait_file  # noqa: E402  (shared pty driver)

SETTLE_S = 2.0


# -- child side ---------------------------------------------------------------------------------


def _counts(runner) -> tuple[int, int]:  # noqa: ANN001
    """(ticker updates applied by the metrics, candle updates of every stream) so far."""
    engine = runner.engine
    if engine is None or engine.universe is None:
        return 0, 0
    return engine.universe.book.updates, sum(s.updates for s in list(engine.streams))


class GcPauses:
    """Garbage collections of this process while armed: count and longest pause per generation."""

    def __init__(self) -> None:
        self.armed = False
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._t0 = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        elif self.armed:
            self.pauses[info["generation"]].append((time.perf_counter() - self._t0) * 1000)

    def summary(self) -> str:
        return ", ".join(
            f"gen{g} {len(v)}x max {max(v, default=0):.0f} ms" for g, v in self.pauses.items()
        )


def _measure(runner, args: argparse.Namespace, result: Path) -> None:  # noqa: ANN001
    """Wait for every ticker live, settle, count over the window; write the figures."""
    gc_pauses = GcPauses()
    t0 = time.monotonic()
    live_s = float("nan")
    while time.monotonic() - t0 < args.live_timeout:
        snap = runner.snapshot()
        u = snap.universe if snap is not None else None
        if u is not None and u.symbols and u.tickers_live == u.symbols:
            live_s = time.monotonic() - t0
            break
        time.sleep(0.1)
    time.sleep(SETTLE_S)
    (tk0, cn0), cpu0, w0 = _counts(runner), time.process_time(), time.monotonic()
    gc_pauses.armed = True
    time.sleep(args.seconds)
    gc_pauses.armed = False
    (tk1, cn1), cpu1, w1 = _counts(runner), time.process_time(), time.monotonic()
    snap = runner.snapshot()
    u = snap.universe if snap is not None else None
    result.write_text(
        json.dumps(
            {
                "live_s": live_s,
                "symbols": u.symbols if u else 0,
                "tickers_live": u.tickers_live if u else 0,
                "streams": len(snap.streams) if snap else 0,
                "ticker_ups": (tk1 - tk0) / (w1 - w0),
                "candle_ups": (cn1 - cn0) / (w1 - w0),
                "cpu_pct": (cpu1 - cpu0) / (w1 - w0) * 100,
                "gc": gc_pauses.summary(),
            }
        )
    )


def child(args: argparse.Namespace) -> int:
    from loguru import logger

    logger.remove()  # nothing may write onto the pty but the dashboard
    from scalp_radar.app.dashboard import configure_textual_env

    configure_textual_env()  # as `scalp-radar` does, before textual is imported
    from scalp_radar.app.demo import child_simulator_factory
    from scalp_radar.core.config import load_config
    from scalp_radar.engine.runner import EngineRunner, EngineTarget

    target = EngineTarget(
        load_config(), Path(args.db), demo=True, simulator=child_simulator_factory()
    )
    runner = EngineRunner(target)
    runner.start()
    result = Path(args.result)
    if args.child == "headless":
        try:
            _measure(runner, args, result)
        finally:
            runner.stop()
            runner.join(3.0)
        return 0
    from scalp_radar.tui.app import make_app
    from scalp_radar.tui.source import EngineSource

    threading.Thread(target=_measure, args=(runner, args, result), daemon=True).start()
    app = make_app(EngineSource(runner), demo=True, refresh_hz=4.0, freeze_heap=not args.no_freeze)
    try:
        app.run()
    finally:
        app.wait_source_stopped(2.0)
        runner.join(3.0)
    return 0


# -- parent side --------------------------------------------------------------------------------


def _cmd(mode: str, tmp: Path, args: argparse.Namespace) -> tuple[list[str], Path]:
    result = tmp / f"{mode}-{time.monotonic_ns()}.json"
    cmd = [sys.executable, __file__, "--child", mode, "--db", str(result.with_suffix(".db"))]
    cmd += ["--result", str(result), "--seconds", str(args.seconds)]
    cmd += ["--live-timeout", str(args.live_timeout)]
    cmd += ["--no-freeze"] if args.no_freeze else []
    return cmd, result


def parent(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench_radar_engine_"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    budget = args.live_timeout + SETTLE_S + args.seconds + 60

    def headless() -> dict:
        cmd, result = _cmd("headless", tmp, args)
        subprocess.run(cmd, env=env, check=True, timeout=budget, stdout=subprocess.DEVNULL)
        return json.loads(result.read_text())

    runs = [headless()]
    cmd, result = _cmd("tui", tmp, args)
    term = Pty(cmd, (80, 24))
    deadline = time.monotonic() + budget
    while not result.exists() and time.monotonic() < deadline:
        term.read_for(0.1)  # the child blocks if nobody reads its terminal
    tui = _wait_file(result, 5)
    term.close()
    runs.append(headless())

    def mean(key: str) -> float:
        return statistics.mean(r[key] for r in runs)

    print(
        f"--demo engine ({tui['symbols']} symbols, {tui['streams']} candle streams), "
        f"window {args.seconds:g} s after every ticker is live"
    )
    print(f"{'':24}{'ticker upd/s':>14}{'candle upd/s':>14}{'CPU %':>8}{'live after':>12}")
    for name, r in (
        ("headless (before)", runs[0]),
        ("dashboard 80x24", tui),
        ("headless (after)", runs[1]),
    ):
        print(
            f"{name:24}{r['ticker_ups']:14.0f}{r['candle_ups']:14.1f}{r['cpu_pct']:8.1f}"
            f"{r['live_s']:11.1f}s   GC {r['gc']}"
        )
    ticker_ratio = tui["ticker_ups"] / mean("ticker_ups") if mean("ticker_ups") else float("nan")
    candle_ratio = tui["candle_ups"] / mean("candle_ups") if mean("candle_ups") else float("nan")
    print(
        f"ratio dashboard/headless: tickers {ticker_ratio:.3f}, candles {candle_ratio:.3f} (target >= 0.9)"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement window per run")
    parser.add_argument("--live-timeout", type=float, default=60.0)
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave the start-up heap to the collector"
    )
    parser.add_argument("--child", choices=["headless", "tui"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
