"""Candle streams at scale: a watchlist of 100 symbols x 4 timeframes (400 streams).

Run: .venv/bin/python tests/bench/bench_streams.py [--symbols 100] [--seconds 20]
     [--per-connection N]   (1000 puts every stream on one socket, as before issue 12)
The simulator runs in its own process with ~500 contracts and Bitget's documented limits on
(it counts violations); this process runs the DataEngine on a temporary database with the
shipped config (50 streams per socket) plus a 4 Hz snapshot reader. Figures: time until every
stream is live, violations, exchange re-creations, steady CPU % of one core, RSS, candle updates/s,
one snapshot build in ms. Prints figures; asserts nothing.
Targets (issue 12): all live <= 60 s, 0 violations, RSS <= 250 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from loguru import logger  # noqa: E402

TIMEFRAMES = ["1m", "5m", "15m", "1h"]
CONTRACTS = 500


def _serve(urls: mp.Queue, control: mp.Queue, replies: mp.Queue) -> None:
    """Subprocess: a 500-contract simulator with Bitget's limits; answers "stats" requests."""
    from scalp_radar.sim import SimExchange, SimLimits

    logger.remove()

    async def serve() -> None:
        sim = SimExchange(contracts=CONTRACTS, limits=SimLimits())
        t0 = time.monotonic()
        seen: list[tuple[float, str]] = []
        count = sim.hub.on_violation  # the simulator's own count (sim.violations) stays on

        def seen_violation(kind: str) -> None:
            seen.append((time.monotonic() - t0, kind))
            if count is not None:
                count(kind)

        sim.hub.on_violation = seen_violation
        cpu: list[tuple[float, float]] = []

        async def sample() -> None:  # the simulator's own CPU, 1 s windows
            while True:
                c, w = time.process_time(), time.monotonic()
                await asyncio.sleep(1.0)
                cpu.append((w - t0, (time.process_time() - c) / (time.monotonic() - w)))

        sampler = asyncio.create_task(sample())
        await sim.start()
        urls.put(sim.url)
        loop = asyncio.get_running_loop()
        while True:
            msg = await loop.run_in_executor(None, control.get)
            if msg != "stats":
                break
            replies.put(
                {
                    "violations": dict(sim.violations),
                    "connections": len(sim.connections()),
                    "channels": [c.channels for c in sim.connections()],
                    "violation_at_s": [round(t, 1) for t, _ in seen[:12]],
                    "sim_cpu_max": max((c for _, c in cpu), default=0.0),
                    "sim_cpu_busy_s": sum(1 for _, c in cpu if c > 0.9),
                }
            )
        sampler.cancel()
        await sim.stop()

    asyncio.run(serve())


def rss_mb() -> float:
    """Resident set size now (Linux), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _config(n_symbols: int, per_connection: int | None):
    from scalp_radar.core.config import load_config
    from scalp_radar.core.models import TimeFrame
    from scalp_radar.sim.universe import build_universe

    base = load_config()
    symbols = [s.symbol for s in build_universe(CONTRACTS)[:n_symbols]]
    template = base.assets[0]
    assets = [
        template.model_copy(update={"symbol": s, "timeframes": [TimeFrame(t) for t in TIMEFRAMES]})
        for s in symbols
    ]
    exchange = base.exchange
    if per_connection is not None:
        ws = exchange.websocket.model_copy(update={"streams_per_connection": per_connection})
        exchange = exchange.model_copy(update={"websocket": ws})
    return type(base).model_construct(**dict(base.__dict__, assets=assets, exchange=exchange))


async def run(
    args: argparse.Namespace, url: str, control: mp.Queue, replies: mp.Queue
) -> tuple[dict[str, object], dict[str, object]]:
    from scalp_radar.core.limiter import RateLimiter
    from scalp_radar.core.snapshot import StreamState
    from scalp_radar.core.store import Database
    from scalp_radar.engine.data_engine import DataEngine

    cfg = _config(args.symbols, args.per_connection)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        await db.init()
        engine = DataEngine(cfg, db, RateLimiter.from_exchange_config(cfg.exchange), sim_url=url)
        rss0 = rss_mb()
        t0 = time.monotonic()
        await engine.start()
        live_s = float("nan")
        most = 0
        while time.monotonic() - t0 < args.live_timeout:
            live = sum(1 for s in engine.streams if s.state is StreamState.LIVE)
            most = max(most, live)
            if live == len(engine.streams):
                live_s = time.monotonic() - t0
                break
            await asyncio.sleep(0.1)
        snap_ms: list[float] = []

        async def reader() -> None:  # a UI or status line: 4 fresh snapshots a second
            while True:
                s = time.perf_counter()
                engine.snapshot(fresh=True)
                snap_ms.append((time.perf_counter() - s) * 1000)
                await asyncio.sleep(0.25)

        if args.trace_alloc:
            import tracemalloc

            snap = tracemalloc.take_snapshot()
            for stat in snap.statistics("lineno")[:12]:
                print("  alloc", stat)
        task = asyncio.create_task(reader())
        await asyncio.sleep(2.0)
        u0, c0, w0 = sum(s.updates for s in engine.streams), time.process_time(), time.monotonic()
        await asyncio.sleep(args.seconds)
        u1, c1, w1 = sum(s.updates for s in engine.streams), time.process_time(), time.monotonic()
        task.cancel()
        control.put("stats")
        server = replies.get(timeout=10)
        live_end = sum(1 for s in engine.streams if s.state is StreamState.LIVE)
        shards = getattr(engine, "shards", None)
        holders = shards.holders if shards is not None else [engine.holder]
        figures: dict[str, object] = {
            "streams": len(engine.streams),
            "sockets": len(holders),
            "live_s": live_s,
            "most_live": most,
            "live_end": live_end,
            "recreations": sum(h.recycles for h in holders),
            "reconnects": sum(s.reconnects for s in engine.streams),
            "cpu_pct": (c1 - c0) / (w1 - w0) * 100,
            "updates_per_s": (u1 - u0) / (w1 - w0),
            "rss_mb": rss_mb(),
            "rss0_mb": rss0,
            "snapshot_ms": statistics.median(snap_ms) if snap_ms else float("nan"),
        }
        await engine.stop()
        await db.close()
    return figures, server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--per-connection", type=int, default=None)
    parser.add_argument("--live-timeout", type=float, default=90.0)
    parser.add_argument("--trace", action="store_true", help="log warnings (re-creations, why)")
    parser.add_argument("--trace-alloc", action="store_true", help="print the top allocation sites")
    args = parser.parse_args()
    if args.trace_alloc:
        import tracemalloc

        tracemalloc.start()
    logger.remove()
    logger.add(sys.stderr, level="WARNING" if args.trace else "ERROR")
    ctx = mp.get_context("spawn")
    urls, control, replies = ctx.Queue(), ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_serve, args=(urls, control, replies), daemon=True)
    proc.start()
    try:
        url = urls.get(timeout=60)
        f, server = asyncio.run(run(args, url, control, replies))
    finally:
        control.put("stop")
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    print(
        f"streams bench: {f['streams']} candle streams ({args.symbols} symbols x "
        f"{len(TIMEFRAMES)} timeframes) on {f['sockets']} sockets, {CONTRACTS}-contract simulator"
    )
    print(
        f"  all live after           {f['live_s']:.1f} s (most live at once {f['most_live']}, "
        f"live at the end {f['live_end']})"
    )
    print(
        f"  violations (sim-counted) {server['violations'] or 0}; exchange re-creations "
        f"{f['recreations']}, stream reconnects {f['reconnects']}; sockets open "
        f"{server['connections']}, channels {server['channels']}"
    )
    print(
        f"  violations at (s)        {server['violation_at_s']}; simulator CPU max "
        f"{server['sim_cpu_max'] * 100:.0f} % of a core, {server['sim_cpu_busy_s']} s over 90 %"
    )
    print(f"  steady engine CPU        {f['cpu_pct']:.1f} % of one core")
    print(f"  candle updates           {f['updates_per_s']:.0f} /s")
    print(f"  RSS                      {f['rss_mb']:.0f} MB (before start {f['rss0_mb']:.0f} MB)")
    print(f"  one snapshot build       {f['snapshot_ms']:.2f} ms median")


if __name__ == "__main__":
    main()
