"""Ingest cost: CPU seconds per delivered candle update, the engine vs a bare ccxt.pro loop.

Run: .venv/bin/python tests/bench/bench_ingest.py [--symbols 100] [--seconds 15] [--rounds 2]
One simulator process (limits off, a FIXED feed: every channel pushes every `--push` seconds,
so both consumers are offered the same work) serves 500 contracts. In one run, alternating per
round, this process consumes the watchlist's streams (symbols x 1m/5m/15m/1h) with
  bare:   `while True: rows = await ex.watch_ohlcv(symbol, tf)`, one loop per stream reading
          every row it gets, over the same sockets the engine uses (50 streams per ccxt.pro
          instance, the engine's websocket options), and
  engine: the full DataEngine (validation, buffers, gap checks, SQLite, 4 Hz snapshots).
A delivered update is one row `watch_ohlcv` returned to the consumer (ccxt parses every frame
whoever consumes it, so frames counted inside ccxt measured nothing). The figure is CPU seconds
of this process per delivered update, engine / bare, each measured over the same length of
steady state (all streams live, start-up repairs done). Target (issue 12): <= 1.5x. Prints figures.
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
READY_TIMEOUT_S = 180.0  # a consumer not all live by then (an overloaded machine) fails the run


async def _wait_for(ready, what: str) -> None:
    """Poll `ready()` until true; give up with a clear message after READY_TIMEOUT_S."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} not ready after {READY_TIMEOUT_S:g} s (machine overloaded?)")
        await asyncio.sleep(0.1)


def _serve(queue: mp.Queue, push_s: float) -> None:
    """Subprocess: a simulator pushing every channel at a fixed interval until killed."""
    from scalp_radar.sim import SimExchange, SimLimits

    logger.remove()

    async def serve() -> None:
        sim = SimExchange(contracts=CONTRACTS, limits=SimLimits.off(push_interval_s=push_s))
        await sim.start()
        queue.put(sim.url)
        await asyncio.Event().wait()

    asyncio.run(serve())


def _config(n_symbols: int):
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
    return type(base).model_construct(**dict(base.__dict__, assets=assets))


async def bare(url: str, cfg, seconds: float) -> tuple[float, int]:
    """(CPU seconds, rows delivered) of plain watch loops over 50-stream instances."""
    from scalp_radar.exchange.factory import create_exchange

    per = cfg.exchange.websocket.streams_per_connection
    streams = [(s, tf.value) for s, tf in cfg.streams]
    groups = [streams[i : i + per] for i in range(0, len(streams), per)]
    # The engine's websocket options (its ping interval), so both send the same pings.
    ping_ms = int(cfg.exchange.websocket.ping_interval_s * 1000)
    exchanges = [create_exchange(cfg, url, options={"ws": {"keepAlive": ping_ms}}) for _ in groups]
    await exchanges[0].load_markets()
    for ex in exchanges[1:]:
        ex.set_markets_from_exchange(exchanges[0])
    count = 0
    ready = 0
    newest: dict[tuple[str, str], tuple[float, float]] = {}  # what the loop keeps of each row

    async def loop(ex, symbol: str, tf: str) -> None:
        nonlocal count, ready
        await ex.watch_ohlcv(symbol, tf)  # the snapshot is history, not an update
        ready += 1
        while True:
            rows = await ex.watch_ohlcv(symbol, tf)  # awaited first: `count +=` must not span it
            for row in rows:  # a consumer reads what it receives
                newest[symbol, tf] = (row[0], row[4])
            count += len(rows)

    tasks = [
        asyncio.create_task(loop(ex, s, tf))
        for ex, group in zip(exchanges, groups, strict=True)
        for s, tf in group
    ]
    await _wait_for(lambda: ready == len(tasks), "bare loops")
    await asyncio.sleep(2.0)
    n0, c0 = count, time.process_time()
    await asyncio.sleep(seconds)
    cpu, rows = time.process_time() - c0, count - n0
    dead = [t for t in tasks if t.done()]
    if dead:
        print(f"bare: {len(dead)} loops died: {dead[0].exception()!r}")
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for ex in exchanges:
        await ex.close()
    return cpu, rows


async def engine(url: str, cfg, seconds: float, db_dir: Path) -> tuple[float, int]:
    """(CPU seconds, rows delivered) through the full engine."""
    from scalp_radar.core.limiter import RateLimiter
    from scalp_radar.core.store import Database
    from scalp_radar.engine.data_engine import DataEngine

    db = Database(db_dir / f"ingest-{time.monotonic_ns()}.db")
    await db.init()
    eng = DataEngine(cfg, db, RateLimiter.from_exchange_config(cfg.exchange), sim_url=url)
    await eng.start()
    try:
        await _wait_for(lambda: all(s.state.value == "live" for s in eng.streams), "engine streams")
        # The start's close verifications are not ingest.
        await _wait_for(lambda: not eng.pending_repairs, "engine start-up repairs")
        await asyncio.sleep(2.0)
        n0, c0 = sum(s.raw_rows for s in eng.streams), time.process_time()
        await asyncio.sleep(seconds)
        cpu, rows = time.process_time() - c0, sum(s.raw_rows for s in eng.streams) - n0
    finally:  # a timed-out wait must not leave the database's thread to hang the exit
        await eng.stop()
        await db.close()
    return cpu, rows


async def run(args, url: str) -> None:
    from scalp_radar.engine.gc_tuning import tune_gc

    # The engine sets the collector's thresholds when it starts: set them for the whole run, so
    # the bare rounds (the first one runs before any engine) are measured under the same ones.
    tune_gc()
    cfg = _config(args.symbols)
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            order = ("bare", "engine") if i % 2 == 0 else ("engine", "bare")
            got = {}
            for kind in order:
                if kind == "bare":
                    got[kind] = await bare(url, cfg, args.seconds)
                else:
                    got[kind] = await engine(url, cfg, args.seconds, Path(tmp))
            (bc, br), (ec, er) = got["bare"], got["engine"]
            b_us, e_us = bc / max(1, br) * 1e6, ec / max(1, er) * 1e6
            ratios.append(e_us / b_us)
            print(
                f"round {i + 1}: bare {br / args.seconds:,.0f} updates/s at {b_us:.1f} us CPU each "
                f"| engine {er / args.seconds:,.0f} updates/s at {e_us:.1f} us CPU each "
                f"| ratio {e_us / b_us:.2f}",
                flush=True,
            )
    print(
        f"\n{len(cfg.streams)} streams, feed: every channel every {args.push:g} s, "
        f"{args.rounds} rounds x {args.seconds:.0f} s\n"
        f"engine / bare CPU per delivered update: {statistics.median(ratios):.2f} "
        "(median of the rounds; target <= 1.5)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=100)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--push", type=float, default=0.25, help="seconds between pushes of a channel")
    args = p.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(queue, args.push), daemon=True)
    proc.start()
    try:
        asyncio.run(run(args, queue.get(timeout=60)))
    finally:
        proc.kill()
        proc.join(5)


if __name__ == "__main__":
    main()
