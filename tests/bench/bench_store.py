"""Benchmark of the candle store against raw sqlite3 (prints figures; asserts nothing).

Run: .venv/bin/python tests/bench/bench_store.py [--rows 500000] [--batch 10000] [--repeat 5]
Targets (issue 3): insert >= 0.6x raw executemany; get_candles of 100k rows <= 0.5 s.
Both sides use the same schema (MIGRATIONS), pragmas (WAL, synchronous=NORMAL), batches and one
transaction per batch; raw binds pre-built tuples, the store starts from Candle models.
Runs are interleaved (raw, store, raw, store...) so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from loguru import logger  # noqa: E402

from scalp_radar.core.models import Candle, TimeFrame  # noqa: E402
from scalp_radar.core.store import MIGRATIONS, Database  # noqa: E402

SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT", "DOGE/USDT:USDT")
T0 = 1_700_000_040_000
INSERT_SQL = (
    "INSERT OR IGNORE INTO candles (symbol, timeframe, timestamp, open, high, low, close,"
    " volume, vwap, mark_price) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass
class StoreTimes:
    """Seconds for one run through the store."""

    insert: float
    read: float
    read_validated: float


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
    """Seconds for plain sqlite3 executemany of pre-built tuples."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for migration in MIGRATIONS:
        for statement in migration:
            conn.execute(statement)
    gc.collect()  # start every timed section from the same GC state
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_SQL, rows[i : i + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


async def store_run(path: Path, candles: list[Candle], batch: int, read_n: int) -> StoreTimes:
    """Insert all candles via insert_candles_batch, then read read_n back (fast and validated)."""
    async with Database(path) as db:
        gc.collect()
        t0 = time.perf_counter()
        inserted = 0
        for i in range(0, len(candles), batch):
            inserted += await db.insert_candles_batch(candles[i : i + batch])
        insert_s = time.perf_counter() - t0
        assert inserted == len(candles), (inserted, len(candles))

        gc.collect()
        t0 = time.perf_counter()
        got = await db.get_candles(SYMBOLS[0], TimeFrame.M1, limit=read_n)
        read_s = time.perf_counter() - t0
        assert len(got) == read_n and type(got[0]) is Candle
        assert got[0].timeframe is TimeFrame.M1 and got[-1] == candles[read_n - 1]
        del got

        gc.collect()
        t0 = time.perf_counter()
        got = await db.get_candles(SYMBOLS[0], TimeFrame.M1, limit=read_n, validate=True)
        validated_s = time.perf_counter() - t0
        assert len(got) == read_n
    return StoreTimes(insert_s, read_s, validated_s)


def main() -> int:
    parser = argparse.ArgumentParser(description="Candle store benchmark")
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=10_000, help="candles per insert call")
    parser.add_argument("--read", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logger.remove()  # keep the figures readable
    if args.read > args.rows // len(SYMBOLS):
        parser.error(f"--read must be <= rows per symbol ({args.rows // len(SYMBOLS)})")

    print(f"building {args.rows} candles ...", flush=True)
    candles = make_candles(args.rows)
    rows = [
        (c.symbol, c.timeframe.value, c.timestamp, c.open, c.high, c.low, c.close, c.volume)
        + (c.vwap, c.mark_price)
        for c in candles
    ]
    n = len(candles)
    raws: list[float] = []
    stores: list[StoreTimes] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            raws.append(raw_insert(Path(tmp) / f"raw{k}.db", rows, args.batch))
            st = asyncio.run(store_run(Path(tmp) / f"store{k}.db", candles, args.batch, args.read))
            stores.append(st)
            print(
                f"  run {k + 1}: raw {n / raws[-1]:>9,.0f} rows/s   "
                f"store {n / st.insert:>9,.0f} rows/s   ratio {raws[-1] / st.insert:.2f}x   "
                f"read {st.read:.3f} s   read validated {st.read_validated:.3f} s",
                flush=True,
            )
    raw_best = min(raws)
    store_best = min(s.insert for s in stores)
    ratios = [r / s.insert for r, s in zip(raws, stores, strict=True)]
    reads = [s.read for s in stores]
    validated = [s.read_validated for s in stores]
    print(f"rows={n} batch={args.batch} repeat={args.repeat}")
    print(f"raw sqlite3 executemany : {n / raw_best:>10,.0f} rows/s (best, {raw_best:.3f} s)")
    print(f"insert_candles_batch    : {n / store_best:>10,.0f} rows/s (best, {store_best:.3f} s)")
    print(
        f"ratio store/raw         : {raw_best / store_best:.2f}x best/best, "
        f"{statistics.median(ratios):.2f}x median of paired runs  (target >= 0.60x)"
    )
    print(
        f"get_candles {args.read} rows   : {min(reads):.3f} s best, "
        f"{statistics.median(reads):.3f} s median  (target <= 0.5 s)"
    )
    print(
        f"  with validate=True    : {min(validated):.3f} s best, "
        f"{statistics.median(validated):.3f} s median  (for comparison)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
