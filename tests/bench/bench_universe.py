"""Universe benchmark: 500 symbols' tickers over paced websocket shards.

Run: .venv/bin/python tests/bench/bench_universe.py [--symbols 500] [--seconds 20] [--push S]
The simulator runs in its own process with Bitget's limits on; this process runs only the
UniverseEngine (shipped config: 50 channels per shard) plus a 4 Hz snapshot reader. Figures:
time until every ticker is live, limit violations (30006/30007 seen, handshakes refused,
sockets the server closed), steady engine CPU % of one core, RSS, ticker updates/s, one
ranking of every row and one snapshot build in ms. Prints figures; asserts nothing.
Targets (issue 12): live <= 60 s, 0 violations, CPU <= 25 %, RSS <= 400 MB, ranking <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from loguru import logger  # noqa: E402


def _serve(
    n: int, push_s: float | None, urls: mp.Queue, control: mp.Queue, replies: mp.Queue
) -> None:
    """Subprocess: a simulator with Bitget's limits; answers "stats" requests on `control`."""
    from scalp_radar.sim import SimExchange, SimLimits

    logger.remove()

    async def serve() -> None:
        # Bitget's limits and ticker cadence (a symbol pushes on change, at most every 100 ms).
        limits = SimLimits() if push_s is None else SimLimits(ticker_min_interval_s=push_s)
        sim = SimExchange(contracts=n, limits=limits)
        await sim.start()
        urls.put(sim.url)
        loop = asyncio.get_running_loop()
        while True:
            msg = await loop.run_in_executor(None, control.get)
            if msg == "stats":
                hub = sim.hub
                replies.put(
                    {
                        "connections_total": hub.connections_total,
                        "open": len(hub.sessions),
                        "refused": hub.refused,
                        "violations": dict(sim.violations),
                    }
                )
            else:
                break
        await sim.stop()

    asyncio.run(serve())


def rss_mb() -> float:
    """Resident set size now (Linux), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(args: argparse.Namespace, url: str) -> dict[str, float]:
    from scalp_radar.core.config import load_config
    from scalp_radar.core.limiter import RateLimiter
    from scalp_radar.core.snapshot import rank_rows
    from scalp_radar.engine.tickers import UniverseEngine

    config = load_config()
    engine = UniverseEngine(config, RateLimiter.from_exchange_config(config.exchange), sim_url=url)
    t0 = time.monotonic()
    await engine.start()
    live_s = float("nan")
    while time.monotonic() - t0 < args.live_timeout:
        snap = engine.snapshot()
        if snap.symbols and snap.tickers_live == snap.symbols:
            live_s = time.monotonic() - t0
            break
        await asyncio.sleep(0.1)

    snap_ms: list[float] = []

    async def reader() -> None:  # what a UI or the status line costs: 4 snapshots a second
        while True:
            s = time.perf_counter()
            engine.snapshot()
            snap_ms.append((time.perf_counter() - s) * 1000)
            await asyncio.sleep(0.25)

    task = asyncio.create_task(reader())
    await asyncio.sleep(2.0)  # settle
    u0, c0, w0 = engine.book.updates, time.process_time(), time.monotonic()
    await asyncio.sleep(args.seconds)
    u1, c1, w1 = engine.book.updates, time.process_time(), time.monotonic()
    task.cancel()
    snap = engine.snapshot()
    rank_ms = []
    for _ in range(50):
        # change_24h: a value on every row (change_5m is NaN until 5 min of history exist).
        s = time.perf_counter()
        rank_rows(snap.rows, "change_24h", absolute=True)
        rank_ms.append((time.perf_counter() - s) * 1000)
    figures = {
        "symbols": snap.symbols,
        "shards": len(snap.shards),
        "live_s": live_s,
        "tickers_live": snap.tickers_live,
        "limit_errors": snap.limit_errors,
        "shard_connects": sum(s.connects for s in snap.shards),
        "cpu_pct": (c1 - c0) / (w1 - w0) * 100,
        "updates_per_s": (u1 - u0) / (w1 - w0),
        "rss_mb": rss_mb(),
        "rank_ms_median": statistics.median(rank_ms),
        "ranked_rows": len(snap.rows),
        "rank_ms_max": max(rank_ms),
        "snapshot_ms_median": statistics.median(snap_ms),
    }
    await engine.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--push", type=float, default=None, help="shortest gap between two tickers of a symbol, s"
    )
    parser.add_argument("--live-timeout", type=float, default=90.0)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    ctx = mp.get_context("spawn")
    urls, control, replies = ctx.Queue(), ctx.Queue(), ctx.Queue()
    proc = ctx.Process(
        target=_serve, args=(args.symbols, args.push, urls, control, replies), daemon=True
    )
    proc.start()
    try:
        url = urls.get(timeout=60)
        figures = asyncio.run(run(args, url))
        control.put("stats")
        server = replies.get(timeout=10)
    finally:
        control.put("stop")
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    print(
        f"universe bench: {figures['symbols']} symbols (of {args.symbols} contracts; the others "
        f"are not trading) in {figures['shards']} shards"
    )
    print(f"  all tickers live after   {figures['live_s']:.1f} s ({figures['tickers_live']} live)")
    print(
        f"  violations               30006/30007 seen {figures['limit_errors']}, "
        f"handshakes refused {server['refused']}, sim-counted {server['violations'] or 0}, "
        f"dials {figures['shard_connects']} (server saw {server['connections_total']})"
    )
    print(f"  steady engine CPU        {figures['cpu_pct']:.1f} % of one core")
    print(f"  ticker updates           {figures['updates_per_s']:.0f} /s")
    print(f"  RSS                      {figures['rss_mb']:.0f} MB")
    print(
        f"  one ranking of {figures['ranked_rows']} rows  {figures['rank_ms_median']:.3f} ms median "
        f"({figures['rank_ms_max']:.3f} max)"
    )
    print(
        f"  one snapshot build       {figures['snapshot_ms_median']:.3f} ms median (at 4 Hz, rows changed since the previous one rebuilt)"
    )


if __name__ == "__main__":
    main()
