"""Ingest benchmark: candle updates/s through the whole engine vs a bare ccxt.pro watch loop.

Run: .venv/bin/python tests/bench/bench_ingest.py [--seconds 5] [--rounds 3] [--streams 4]
The simulator runs in firehose mode (pushes as fast as it can) in its own process, so the
client process measures only itself; each measurement gets a fresh simulator process with the
same seed and speed. Each round runs on that feed (order alternating between rounds) a bare
`while True: rows = await ex.watch_ohlcv(...)` loop per stream, then the full DataEngine
(validation, buffers, gap checks, SQLite batches, snapshots at 4 Hz). The figure is candle
update frames per second the client consumed (ccxt parses every frame; a slower consumer leaves
it less CPU), plus the rows watch_ohlcv returned. Target (issue 5): engine >= 0.9x the bare
loop. Prints figures; asserts nothing.
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

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
TIMEFRAMES = ["1m", "5m", "15m", "1h"]


def _serve(queue, speed: float) -> None:
    """Subprocess: a firehose simulator until killed; puts its URL on the queue."""
    from scalp_radar.sim import SimExchange, SimLimits

    logger.remove()

    async def serve() -> None:
        sim = SimExchange(symbols=SYMBOLS, speed=speed, limits=SimLimits.firehose())
        await sim.start()
        queue.put(sim.url)
        await asyncio.Event().wait()

    asyncio.run(serve())


def _config(n_streams: int):
    """n_streams = symbols x timeframes: 1..4 streams on BTC, then whole symbols of 4."""
    from tests.engine_support import make_config

    n_sym = max(1, min(len(SYMBOLS), n_streams // len(TIMEFRAMES)))
    n_tf = min(len(TIMEFRAMES), n_streams)
    return make_config(
        SYMBOLS[:n_sym], TIMEFRAMES[:n_tf], stale_min_s=30.0, flush_interval_s=1.0, snapshot_hz=4.0
    )


class Counter:
    """Candle frames ccxt handled (the feed consumed), counted the same way in both modes."""

    def __init__(self) -> None:
        self.frames = 0

    def exchange(self, cfg, url: str):
        from scalp_radar.exchange.factory import create_exchange

        ex = create_exchange(cfg, url)
        original = ex.handle_message

        def counting(client, message):
            self.frames += 1
            return original(client, message)

        ex.handle_message = counting  # set before any socket exists, so ccxt uses it
        return ex


async def bare(url: str, cfg, seconds: float) -> tuple[float, float]:
    """(frames/s, rows/s) of plain watch_ohlcv loops (one per stream) on one exchange."""
    counter = Counter()
    ex = counter.exchange(cfg, url)
    await ex.load_markets()
    count = 0
    started = asyncio.Event()

    async def loop(symbol: str, tf: str) -> None:
        nonlocal count
        await ex.watch_ohlcv(symbol, tf)  # the snapshot is not an update
        started.set()
        while True:
            rows = await ex.watch_ohlcv(symbol, tf)
            count += len(rows)

    tasks = [asyncio.create_task(loop(s, tf.value)) for s, tf in cfg.streams]
    await started.wait()
    await asyncio.sleep(0.5)  # every stream subscribed and flowing
    c0, f0, t0 = count, counter.frames, time.perf_counter()
    await asyncio.sleep(seconds)
    dt = time.perf_counter() - t0
    rate = ((counter.frames - f0) / dt, (count - c0) / dt)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await ex.close()
    return rate


async def engine(url: str, cfg, seconds: float, db_dir: Path) -> tuple[tuple[float, float], dict]:
    """(frames/s, rows/s) through the full engine (validation, buffers, SQLite, snapshots)."""
    from scalp_radar.core.limiter import RateLimiter
    from scalp_radar.core.store import Database
    from scalp_radar.engine.data_engine import DataEngine

    db = Database(db_dir / f"ingest-{time.monotonic_ns()}.db")
    await db.init()
    counter = Counter()
    eng = DataEngine(
        cfg,
        db,
        RateLimiter.from_exchange_config(cfg.exchange),
        sim_url=url,
        exchange_factory=lambda: counter.exchange(cfg, url),
    )
    await eng.start()
    while not all(s.state.value == "live" for s in eng.streams):  # noqa: ASYNC110 - polling is the point
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    c0, f0, t0 = sum(s.raw_rows for s in eng.streams), counter.frames, time.perf_counter()
    await asyncio.sleep(seconds)
    dt = time.perf_counter() - t0
    rate = ((counter.frames - f0) / dt, (sum(s.raw_rows for s in eng.streams) - c0) / dt)
    facts = {
        "invalid": sum(s.invalid_dropped for s in eng.streams),
        "recycles": eng.holder.recycles,
        "closed_in_buffers": sum(len(s.buffer.closed) for s in eng.streams),
    }
    await eng.stop()
    await db.close()
    return rate, facts


def fresh_sim(speed: float):
    """A new firehose simulator process (a used one slows down as dead clients pile up)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(queue, speed), daemon=True)
    proc.start()
    return proc, queue.get(timeout=30)


async def measure(kind: str, args, cfg, tmp: Path):
    proc, url = fresh_sim(args.speed)
    try:
        if kind == "bare":
            return await bare(url, cfg, args.seconds), {}
        return await engine(url, cfg, args.seconds, tmp)
    finally:
        proc.kill()
        proc.join(5)


async def run(args) -> None:
    cfg = _config(args.streams)
    bares, engines = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            # Alternate which runs first, so a drift of the machine over time cancels out.
            order = ("bare", "engine") if i % 2 == 0 else ("engine", "bare")
            got = {k: await measure(k, args, cfg, Path(tmp)) for k in order}
            (b, _), (e, facts) = got["bare"], got["engine"]
            bares.append(b)
            engines.append(e)
            print(
                f"round {i + 1}: bare {b[0]:,.0f} updates/s ({b[1]:,.0f} rows returned/s) | "
                f"engine {e[0]:,.0f} updates/s ({e[1]:,.0f} rows/s) | "
                f"ratio {e[0] / b[0]:.3f} | {facts}",
                flush=True,
            )
    b = statistics.median(x[0] for x in bares)
    e = statistics.median(x[0] for x in engines)
    ratio = statistics.median(y[0] / x[0] for x, y in zip(bares, engines, strict=True))
    print(
        f"\nstreams {len(cfg.streams)}, {args.rounds} rounds x {args.seconds:.0f}s, "
        "a fresh firehose simulator process per measurement\n"
        f"median bare loop: {b:,.0f} candle updates/s\n"
        f"median engine:    {e:,.0f} candle updates/s\n"
        f"engine / bare:    {ratio:.3f}  (median of the per-round ratios; target >= 0.9)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description="engine vs bare watch loop, updates/s")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--streams", type=int, default=4)
    p.add_argument("--speed", type=float, default=60.0)
    args = p.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
