"""Benchmark of the simulator's websocket pushes (prints figures; asserts nothing).

Run: .venv/bin/python tests/bench/bench_sim.py [--seconds 4] [--streams 12] [--speed 60]
Target (issue 4): the simulator sustains >= 20k pushes/s, so it is never the bottleneck of the
engine benchmarks. Three figures:
  1. firehose, raw reader: the simulator in firehose mode (`SimLimits.firehose()`: pushes as fast
     as it can) and a raw aiohttp reader in a separate process, so the reader does not share
     the simulator's core: pushes/s the simulator sustains by itself.
  2. firehose, one ccxt.pro client (separate process): candle update frames/s a real ccxt.pro
     client receives and parses (one watch_ohlcv loop per stream), and its watch_ohlcv returns/s.
  3. paced (default push interval 0.25 s), one ccxt.pro client: the normal demo load.
  4. REST: 1m history pages of 200 rows fetched by ccxt (10 in parallel, like ccxt's pagination),
     simulator and ccxt in one process, no limits: what a backfill can draw from it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from loguru import logger  # noqa: E402

from scalp_radar.sim import SimExchange, SimLimits  # noqa: E402

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT"]
TIMEFRAMES = ["1m", "5m", "15m", "1h"]
_CHANNEL = {"1m": "candle1m", "5m": "candle5m", "15m": "candle15m", "1h": "candle1H"}


def streams(n: int) -> list[tuple[str, str]]:
    """n (symbol, timeframe) pairs."""
    pairs = [(s, tf) for s in SYMBOLS for tf in TIMEFRAMES]
    return pairs[:n]


def _raw_reader(url: str, pairs: list, seconds: float, queue) -> None:
    """Subprocess: subscribe raw and count update frames for `seconds`."""
    import aiohttp

    async def main() -> tuple[int, int, float]:
        args = [
            {
                "instType": "USDT-FUTURES",
                "channel": _CHANNEL[tf],
                "instId": s.split("/")[0] + "USDT",
            }
            for s, tf in pairs
        ]
        frames = rows = 0
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.send_str(json.dumps({"op": "subscribe", "args": args}))
            snapshots = 0
            while snapshots < len(args):
                msg = await ws.receive()
                if '"snapshot"' in msg.data:
                    snapshots += 1
            t0 = time.perf_counter()
            while (elapsed := time.perf_counter() - t0) < seconds:
                msg = await ws.receive()
                frames += 1
                if frames % 64 == 0:  # parse a sample: proves the frames are whole
                    rows += len(json.loads(msg.data)["data"])
        return frames, rows, elapsed

    queue.put(asyncio.run(main()))


def _ccxt_reader(url: str, pairs: list, seconds: float, queue) -> None:
    """Subprocess: one ccxt.pro client, one watch_ohlcv loop per stream, for `seconds`."""
    from scalp_radar.exchange.factory import create_exchange

    async def main() -> tuple[int, int, float]:
        ex = create_exchange(None, url, options={"ws": {"keepAlive": 5000}})
        ex.enableRateLimit = False
        await ex.load_markets()
        counts = {"calls": 0, "rows": 0, "frames": 0}
        handle = ex.handle_message

        def counting(client, message):  # every frame ccxt parses and routes
            counts["frames"] += 1
            return handle(client, message)

        ex.handle_message = counting
        for s, tf in pairs:
            await ex.watch_ohlcv(s, tf)
        t0 = time.perf_counter()
        counts["frames"] = 0

        async def loop(symbol: str, tf: str) -> None:
            while time.perf_counter() - t0 < seconds:
                rows = await ex.watch_ohlcv(symbol, tf)
                counts["calls"] += 1
                counts["rows"] += len(rows)

        await asyncio.gather(*(loop(s, tf) for s, tf in pairs))
        elapsed = time.perf_counter() - t0
        await ex.close()
        return counts["frames"], counts["calls"], elapsed

    queue.put(asyncio.run(main()))


async def measure(limits: SimLimits, reader, pairs, seconds: float, speed: float) -> dict:
    """Run the simulator here and `reader` in a subprocess; pushes counted on both sides."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    async with SimExchange(SYMBOLS, seed=1, speed=speed, limits=limits) as sim:
        proc = ctx.Process(
            target=reader,
            args=(sim.ws_url if reader is _raw_reader else sim.url, pairs, seconds, queue),
        )
        proc.start()
        # Server-side count over the reader's measuring window (after its snapshots).
        while sim.pushes == 0:  # noqa: ASYNC110 - a counter, nothing to wait on
            await asyncio.sleep(0.01)
        p0, t0 = sim.pushes, time.perf_counter()
        await asyncio.sleep(seconds * 0.9)
        server_rate = (sim.pushes - p0) / (time.perf_counter() - t0)
        while queue.empty():  # noqa: ASYNC110 - a multiprocessing queue
            await asyncio.sleep(0.05)
        count, rows, elapsed = queue.get()
        proc.join(10)
    return {"server_pushes_per_s": server_rate, "client_per_s": count / elapsed, "rows": rows}


async def measure_rest(requests: int) -> tuple[float, float]:
    """(requests/s, rows/s) of /history-candles through ccxt, one process."""
    from scalp_radar.exchange.factory import create_exchange

    async with SimExchange(SYMBOLS, seed=1, limits=SimLimits.off()) as sim:
        ex = create_exchange(None, sim.url)
        ex.enableRateLimit = False
        await ex.load_markets()
        since = sim.candle_start("1m") - 365 * 86_400_000
        params = {"useHistoryEndpoint": True}
        done = rows = 0
        t0 = time.perf_counter()
        while done < requests:
            pages = await asyncio.gather(
                *(
                    ex.fetch_ohlcv(
                        "BTC/USDT:USDT",
                        "1m",
                        since=since + i * 200 * 60_000,
                        limit=200,
                        params=params,
                    )
                    for i in range(10)
                )
            )
            done += 10
            rows += sum(len(p) for p in pages)
            since += 2000 * 60_000
        elapsed = time.perf_counter() - t0
        await ex.close()
    return done / elapsed, rows / elapsed


async def run(args: argparse.Namespace) -> None:
    pairs = streams(args.streams)
    print(
        f"simulator push benchmark: {len(pairs)} streams, speed {args.speed:g}x, {args.seconds:g} s each"
    )
    raw = await measure(SimLimits.firehose(), _raw_reader, pairs, args.seconds, args.speed)
    print(
        f"  firehose, raw reader     : server {raw['server_pushes_per_s']:>9,.0f} pushes/s | "
        f"reader {raw['client_per_s']:>9,.0f} frames/s   (target >= 20,000)"
    )
    cc = await measure(SimLimits.firehose(), _ccxt_reader, pairs, args.seconds, args.speed)
    print(
        f"  firehose, ccxt.pro client: server {cc['server_pushes_per_s']:>9,.0f} pushes/s | "
        f"ccxt parses {cc['client_per_s']:>9,.0f} frames/s "
        f"({cc['rows'] / args.seconds:,.0f} watch_ohlcv returns/s)"
    )
    paced = await measure(SimLimits.off(), _ccxt_reader, pairs, args.seconds, args.speed)
    print(
        f"  paced 0.25 s, ccxt client: server {paced['server_pushes_per_s']:>9,.0f} pushes/s | "
        f"ccxt parses {paced['client_per_s']:>9,.0f} frames/s (expected {len(pairs) / 0.25:,.0f}/s)"
    )
    req_s, rows_s = await measure_rest(600)
    print(
        f"  REST history-candles     : {req_s:>9,.0f} requests/s | {rows_s:>9,.0f} rows/s (ccxt in-process)"
    )
    ratio = raw["server_pushes_per_s"] / 20_000
    print(f"  firehose / target = {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--streams", type=int, default=12)
    parser.add_argument("--speed", type=float, default=60.0)
    args = parser.parse_args()
    logger.remove()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
