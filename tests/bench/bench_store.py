"""Benchmark of the candle store against raw sqlite3 (prints figures; asserts nothing).

Run: .venv/bin/python tests/bench/bench_store.py [--rows 500000] [--batch 10000] [--repeat 3]
Targets (issue 3): insert >= 0.6x raw executemany; get_candles of 100k rows <= 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from loguru import logger  # noqa: E402

from scalp_radar.core.database import MIGRATIONS, Database  # noqa: E402
from scalp_radar.core.models import Candle, TimeFrame  # noqa: E402

SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT", "DOGE/USDT:USDT")
T0 = 1_700_000_040_000


def make_candles(total: int) -> list[Candle]:
    """`total` valid 1m candles spread evenly over SYMBOLS (random walks, fixed seed)."""
    rng = random.Random(7)
    per_symbol = total // len(SYMBOLS)
    out: list[Candle] = []
    for symbol in SYMBOLS:
        price = 100.0
        for i in range(per_symbol):
            o = price
            c = max(0.01, o * (1 + rng.uniform(-0.002, 0.002)))
            h = max(o, c) * (1 + rng.uniform(0, 0.001))
            lo = min(o, c) * (1 - rng.uniform(0, 0.001))
            out.append(
                Candle(
                    symbol=symbol,
                    timeframe=TimeFrame.M1,
                    timestamp=T0 + i * 60_000,
                    open=o,
                    high=h,
                    low=lo,
                    close=c,
                    volume=rng.uniform(0, 1000),
                    vwap=(h + lo) / 2,
                    mark_price=c,
                )
            )
            price = c
    return out


def raw_insert(path: Path, rows: list[tuple], batch: int) -> float:
    """Seconds for plain sqlite3: same schema and pragmas, one transaction per batch."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for migration in MIGRATIONS:
        for statement in migration:
            conn.execute(statement)
    sql = (
        "INSERT OR IGNORE INTO candles (symbol, timeframe, timestamp, open, high, low, close,"
        " volume, vwap, mark_price) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[i : i + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


async def store_run(
    path: Path, candles: list[Candle], batch: int, read_n: int
) -> tuple[float, float, int]:
    """Seconds to insert all candles via insert_candles_batch, seconds to read read_n back."""
    async with Database(path) as db:
        t0 = time.perf_counter()
        inserted = 0
        for i in range(0, len(candles), batch):
            inserted += await db.insert_candles_batch(candles[i : i + batch])
        insert_s = time.perf_counter() - t0
        assert inserted == len(candles), (inserted, len(candles))
        t0 = time.perf_counter()
        got = await db.get_candles(SYMBOLS[0], TimeFrame.M1, limit=read_n)
        read_s = time.perf_counter() - t0
        assert len(got) == read_n and isinstance(got[0], Candle)
        assert got[0].timeframe is TimeFrame.M1
    return insert_s, read_s, len(got)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--read", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logger.remove()  # keep the figures readable
    if args.read > args.rows // len(SYMBOLS):
        parser.error(f"--read must be <= rows per symbol ({args.rows // len(SYMBOLS)})")

    print(f"building {args.rows} candles ...", flush=True)
    candles = make_candles(args.rows)
    rows = [
        (
            c.symbol,
            c.timeframe.value,
            c.timestamp,
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume,
            c.vwap,
            c.mark_price,
        )
        for c in candles
    ]
    n = len(candles)
    raw_times, store_times, read_times = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            raw_times.append(raw_insert(Path(tmp) / f"raw{k}.db", rows, args.batch))
            ins, rd, _ = asyncio.run(
                store_run(Path(tmp) / f"store{k}.db", candles, args.batch, args.read)
            )
            store_times.append(ins)
            read_times.append(rd)
            print(
                f"  run {k + 1}: raw {n / raw_times[-1]:>9,.0f} rows/s   "
                f"store {n / ins:>9,.0f} rows/s   read {rd:.3f} s",
                flush=True,
            )
    raw_best, store_best, read_best = min(raw_times), min(store_times), min(read_times)
    ratio = raw_best / store_best
    print(f"rows={n} batch={args.batch} repeat={args.repeat} (best of runs)")
    print(f"raw sqlite3 executemany : {n / raw_best:>10,.0f} rows/s ({raw_best:.3f} s)")
    print(f"insert_candles_batch    : {n / store_best:>10,.0f} rows/s ({store_best:.3f} s)")
    print(f"ratio store/raw         : {ratio:.2f}x  (target >= 0.60x)")
    print(f"get_candles {args.read} rows: {read_best:.3f} s  (target <= 0.5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
