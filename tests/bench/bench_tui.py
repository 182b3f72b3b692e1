"""TUI benchmark: engine throughput with the dashboard attached, and key-to-frame latency.

Run: `.venv/bin/python tests/bench/bench_tui.py [--seconds 8] [--presses 40] [--refresh-hz 4]`

A simulator in firehose mode (no limits, pushes as fast as it can) runs in its own process. The
engine runs in a child process twice: headless, then with the real dashboard on a pseudo-
terminal (80x24, the real Linux driver). Each child counts the engine's candle updates over the
same window. Then this process presses `t` in the pty and times until the new radar title
("Radar · <next timeframe>") reaches the terminal: that is key -> frame, as a user sees it.
Targets: updates/s ratio (TUI / headless) >= 0.8, latency p50 <= 20 ms, p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WARMUP_S = 3.0


# -- child side ---------------------------------------------------------------------------------


def _total_updates(runner) -> int:
    engine = runner.engine
    return sum(s.updates for s in engine.streams) if engine is not None else 0


def _measure(runner, seconds: float, result: Path) -> None:
    """Count engine updates over `seconds` after a warm-up; write {"updates_per_s": ...}."""
    time.sleep(WARMUP_S)
    n0, t0 = _total_updates(runner), time.perf_counter()
    time.sleep(seconds)
    n1, t1 = _total_updates(runner), time.perf_counter()
    result.write_text(json.dumps({"updates_per_s": (n1 - n0) / (t1 - t0)}))


def child(args: argparse.Namespace) -> int:
    from loguru import logger

    logger.remove()  # nothing may write onto the pty but the dashboard
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    from scalp_radar.core.config import load_config
    from scalp_radar.engine.runner import EngineRunner, EngineTarget

    runner = EngineRunner(EngineTarget(load_config(), Path(args.db), sim_url=args.sim_url))
    runner.start()
    result = Path(args.result)
    if args.child == "headless":
        try:
            _measure(runner, args.seconds, result)
        finally:
            runner.stop()
        return 0
    from scalp_radar.app.dashboard import configure_textual_env

    configure_textual_env()  # as `scalp-radar` does, before textual is imported
    from scalp_radar.tui.app import make_app
    from scalp_radar.tui.source import EngineSource

    threading.Thread(target=_measure, args=(runner, args.seconds, result), daemon=True).start()
    app = make_app(EngineSource(runner), refresh_hz=args.refresh_hz)
    ticks: list[float] = []
    if args.profile:
        tick = app.refresh_snapshot

        def timed() -> None:
            t0 = time.perf_counter()
            tick()
            ticks.append(time.perf_counter() - t0)

        app.refresh_snapshot = timed  # type: ignore[method-assign]
    source_stop = app.source.stop
    stop_s: list[float] = []

    def timed_stop() -> None:
        t0 = time.perf_counter()
        source_stop()
        stop_s.append(time.perf_counter() - t0)

    app.source.stop = timed_stop  # type: ignore[method-assign]
    try:
        app.run()
    finally:
        app.wait_source_stopped(2.0)
        if ticks:
            ms = sorted(x * 1000 for x in ticks)
            Path(args.result + ".ticks").write_text(
                f"refresh tick ms: n={len(ms)} p50 {ms[len(ms) // 2]:.1f} max {ms[-1]:.1f}; "
                f"source.stop() on quit took {stop_s[0] * 1000 if stop_s else float('nan'):.0f} ms\n"
            )
    return 0


# -- parent side --------------------------------------------------------------------------------


def _child_cmd(
    mode: str, sim_url: str, db: Path, result: Path, args: argparse.Namespace
) -> list[str]:
    return [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--sim-url",
        sim_url,
        "--db",
        str(db),
        "--result",
        str(result),
        "--seconds",
        str(args.seconds),
        "--refresh-hz",
        str(args.refresh_hz),
        *(["--profile"] if args.profile else []),
        *(["--switch-interval", str(args.switch_interval)] if args.switch_interval else []),
    ]


def _wait_file(path: Path, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return json.loads(path.read_text())
        time.sleep(0.05)
    raise TimeoutError(f"{path}: no result after {timeout_s:.0f}s")


class Pty:
    """A child process on a pseudo-terminal of a fixed size; output is drained continuously."""

    def __init__(self, cmd: list[str], size: tuple[int, int]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            os.environ["TERM"] = "xterm-256color"
            os.environ["PYTHONPATH"] = str(ROOT)
            os.execv(cmd[0], cmd)
        cols, rows = size
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.buffer = bytearray()

    def read_for(self, seconds: float) -> None:
        """Drain output for `seconds` (the child blocks if nobody reads its terminal)."""
        deadline = time.perf_counter() + seconds
        while (left := deadline - time.perf_counter()) > 0:
            self._read(left)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            return False
        self.buffer += chunk
        return bool(chunk)

    def time_key(self, key: bytes, expect: bytes, timeout_s: float = 2.0) -> float | None:
        """Seconds from writing `key` until `expect` appears in the output, or None."""
        self.read_for(0.0)
        self.buffer.clear()
        t0 = time.perf_counter()
        os.write(self.fd, key)
        while time.perf_counter() - t0 < timeout_s:
            self._read(0.05)
            if expect in self.buffer:
                return time.perf_counter() - t0
        return None

    def close(self, timeout_s: float = 5.0) -> float:
        """Press q; returns seconds until the process exited."""
        t0 = time.perf_counter()
        os.write(self.fd, b"q")
        deadline = t0 + timeout_s
        while time.perf_counter() < deadline:
            self._read(0.02)
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return time.perf_counter() - t0
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return float("nan")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


SIM_CODE = """
import asyncio, sys
from loguru import logger
from scalp_radar.sim import SimExchange
from scalp_radar.sim.limits import SimLimits

async def main():
    logger.remove()
    limits = SimLimits.off(push_interval_s=float(sys.argv[1]))
    async with SimExchange(symbols=sys.argv[2].split(","), limits=limits) as sim:
        print(sim.url, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def _start_sim(symbols: list[str], push_interval: float) -> tuple[subprocess.Popen, str]:
    """The simulator in its own process, so it never competes for this process's GIL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SIM_CODE, str(push_interval), ",".join(symbols)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def parent(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from scalp_radar.core.config import load_config

    config = load_config()
    timeframes = list(dict.fromkeys(tf.value for _, tf in config.streams))
    sim_proc, sim_url = _start_sim(config.symbols, args.push_interval)
    tmp = Path(tempfile.mkdtemp(prefix="bench_tui_"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:

        def headless_run(name: str) -> float:
            result = tmp / f"{name}.json"
            cmd = _child_cmd("headless", sim_url, tmp / f"{name}.db", result, args)
            subprocess.run(cmd, env=env, check=True, timeout=60)
            return json.loads(result.read_text())["updates_per_s"]

        # Headless before and after the TUI run: the mean cancels slow drifts of the simulator.
        headless_runs = [headless_run("headless1")]

        tui_result = tmp / "tui.json"
        term = Pty(_child_cmd("tui", sim_url, tmp / "b.db", tui_result, args), (80, 24))
        deadline = time.monotonic() + 60
        while not tui_result.exists() and time.monotonic() < deadline:
            term.read_for(0.1)
        attached = _wait_file(tui_result, 5)["updates_per_s"]

        latencies: list[float] = []
        missed = 0
        current = 0  # the app starts on the first timeframe
        for _ in range(args.presses):
            term.read_for(0.15)  # let a refresh tick or two pass between presses
            current = (current + 1) % len(timeframes)
            expect = f"Radar · {timeframes[current]}".encode()
            took = term.time_key(b"t", expect)
            if took is None:
                missed += 1
            else:
                latencies.append(took)
        quit_s = term.close()
        headless_runs.append(headless_run("headless2"))
        headless = statistics.mean(headless_runs)
    finally:
        sim_proc.terminate()
        sim_proc.wait(5)

    ratio = attached / headless if headless else float("nan")
    mode = "firehose" if args.push_interval <= 0 else f"push every {args.push_interval}s"
    print(
        f"{mode} simulator, {len(config.streams)} streams, refresh {args.refresh_hz} Hz, 80x24 pty"
    )
    runs = " / ".join(f"{x:.0f}" for x in headless_runs)
    print(f"engine updates/s headless      {headless:10.0f}   (runs {runs})")
    print(f"engine updates/s TUI attached  {attached:10.0f}")
    print(f"ratio TUI/headless             {ratio:10.2f}   (target >= 0.8)")
    if latencies:
        ms = [x * 1000 for x in latencies]
        print(
            f"key->frame ms (n={len(ms)}, missed {missed}): p50 {statistics.median(ms):.1f}  "
            f"p95 {_percentile(ms, 0.95):.1f}  max {max(ms):.1f}   (targets p50 <= 20, p95 <= 50)"
        )
    else:
        print(f"key->frame: no frame seen for {missed} presses")
    print(f"q -> process exit              {quit_s * 1000:10.0f} ms")
    ticks = Path(str(tmp / "tui.json") + ".ticks")
    if ticks.exists():
        print(ticks.read_text().strip())
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="TUI throughput and key latency benchmark")
    parser.add_argument("--seconds", type=float, default=8.0, help="measurement window per run")
    parser.add_argument("--presses", type=int, default=40, help="key presses timed")
    parser.add_argument("--refresh-hz", type=float, default=4.0)
    parser.add_argument(
        "--push-interval", type=float, default=0.0, help="simulator push interval (0 = firehose)"
    )
    parser.add_argument("--profile", action="store_true", help="child: time each refresh tick")
    parser.add_argument(
        "--switch-interval", type=float, default=None, help="child: sys.setswitchinterval (s)"
    )
    parser.add_argument("--child", choices=["headless", "tui"], help=argparse.SUPPRESS)
    parser.add_argument("--sim-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
