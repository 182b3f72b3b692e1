"""Ingest cost: CPU seconds per delivered candle update, the engine vs a bare ccxt.pro loop.

Run: .venv/bin/python tests/bench/bench_ingest.py [--symbols 100] [--seconds 10] [--rounds 5]
One simulator process (limits off, a FIXED feed: every channel pushes every `--push` seconds,
so both consumers are offered the same work) serves 500 contracts. Two consumer processes run
AT THE SAME TIME against it, each subscribed to the watchlist's streams (symbols x
1m/5m/15m/1h):
  bare:   `while True: rows = await ex.watch_ohlcv(symbol, tf)`, one loop per stream reading
          every row it gets, over sockets laid out as the engine's (50 streams per ccxt.pro
          instance, the engine's websocket options), and
  engine: the full DataEngine (validation, buffers, gap checks, SQLite, snapshots; nobody reads
          them, as headless, or `--reader-hz 4` as a dashboard does).
A delivered update is one row `watch_ohlcv` returned to the consumer (ccxt parses every frame
whoever consumes it, so frames counted inside ccxt measured nothing). Each round measures both
processes' CPU over the same window of steady state (all streams live, start-up repairs done):
measured side by side, a slower or busier moment of this shared machine slows both, where
measured one after the other it moved the ratio by +-0.4. The figure is CPU seconds per delivered
update, engine / bare, the median of the rounds. Target (issue 12): <= 1.5x. Prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


class Bare:
    """Plain watch loops over 50-stream instances; `rows` counts the rows they were given."""

    def __init__(self, url: str, cfg) -> None:
        self.url, self.cfg = url, cfg
        self.rows = 0
        self.ready = 0
        self.tasks: list[asyncio.Task] = []
        self.exchanges: list = []
        self.newest: dict[tuple[str, str], tuple[float, float]] = {}  # what a loop keeps of a row

    async def start(self) -> None:
        from scalp_radar.exchange.factory import create_exchange

        cfg = self.cfg
        per = cfg.exchange.websocket.streams_per_connection
        streams = [(s, tf.value) for s, tf in cfg.streams]
        groups = [streams[i : i + per] for i in range(0, len(streams), per)]
        # The engine's websocket options (its ping interval), so both send the same pings.
        ping_ms = int(cfg.exchange.websocket.ping_interval_s * 1000)
        self.exchanges = [
            create_exchange(cfg, self.url, options={"ws": {"keepAlive": ping_ms}}) for _ in groups
        ]
        await self.exchanges[0].load_markets()
        for ex in self.exchanges[1:]:
            ex.set_markets_from_exchange(self.exchanges[0])
        self.tasks = [
            asyncio.create_task(self._loop(ex, s, tf))
            for ex, group in zip(self.exchanges, groups, strict=True)
            for s, tf in group
        ]
        await _wait_for(lambda: self.ready == len(self.tasks), "bare loops")

    async def _loop(self, ex, symbol: str, tf: str) -> None:
        await ex.watch_ohlcv(symbol, tf)  # the snapshot is history, not an update
        self.ready += 1
        while True:
            rows = await ex.watch_ohlcv(symbol, tf)  # awaited first: `+=` must not span it
            for row in rows:  # a consumer reads what it receives
                self.newest[symbol, tf] = (row[0], row[4])
            self.rows += len(rows)

    def delivered(self) -> int:
        dead = [t for t in self.tasks if t.done()]
        if dead:
            raise SystemExit(f"bare: {len(dead)} loops died: {dead[0].exception()!r}")
        return self.rows

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for ex in self.exchanges:
            await ex.close()


class Engine:
    """The full engine on a fresh database; `delivered()` sums its streams' raw rows."""

    def __init__(self, url: str, cfg, db_dir: Path, reader_hz: float = 0.0) -> None:
        self.url, self.cfg, self.db_dir = url, cfg, db_dir
        self.reader_hz = reader_hz
        self.db = None
        self.eng = None
        self.reader: asyncio.Task | None = None

    async def start(self) -> None:
        from scalp_radar.core.limiter import RateLimiter
        from scalp_radar.core.store import Database
        from scalp_radar.engine.data_engine import DataEngine

        self.db = Database(self.db_dir / "ingest.db")
        await self.db.init()
        cfg = self.cfg
        eng = DataEngine(
            cfg, self.db, RateLimiter.from_exchange_config(cfg.exchange), sim_url=self.url
        )
        self.eng = eng
        await eng.start()
        await _wait_for(lambda: all(s.state.value == "live" for s in eng.streams), "engine streams")
        # The start's close verifications are not ingest.
        await _wait_for(lambda: not eng.pending_repairs, "engine start-up repairs")
        if self.reader_hz > 0:
            self.reader = asyncio.create_task(self._read(eng))

    async def _read(self, eng) -> None:
        """A dashboard's pull: the latest snapshot `reader_hz` times a second."""
        while True:
            eng.snapshot()
            await asyncio.sleep(1 / self.reader_hz)

    def delivered(self) -> int:
        return sum(s.raw_rows for s in self.eng.streams)

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.eng is not None:
            await self.eng.stop()
        if self.db is not None:
            await self.db.close()


def _consume(kind: str, url: str, n_symbols: int, reader_hz: float, conn) -> None:
    """Subprocess: start one consumer, then answer each "measure S" with (CPU s, rows) over S s."""
    from scalp_radar.engine.gc_tuning import tune_gc

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    # The engine sets the collector's thresholds when it starts: the bare side runs under the
    # same ones.
    tune_gc()

    async def serve(tmp: Path) -> None:
        cfg = _config(n_symbols)
        consumer = Bare(url, cfg) if kind == "bare" else Engine(url, cfg, tmp, reader_hz)
        try:
            await consumer.start()
            conn.send("ready")
            loop = asyncio.get_running_loop()
            while True:
                command = await loop.run_in_executor(None, conn.recv)
                if command == "stop":
                    break
                seconds = float(command)
                n0, c0 = consumer.delivered(), time.process_time()
                await asyncio.sleep(seconds)
                conn.send((time.process_time() - c0, consumer.delivered() - n0))
        finally:  # a timed-out wait must not leave the database's thread to hang the exit
            await consumer.stop()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(serve(Path(tmp)))


def run(args, url: str) -> None:
    ctx = mp.get_context("spawn")
    sides = {}
    for kind in ("bare", "engine"):
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(
            target=_consume, args=(kind, url, args.symbols, args.reader_hz, theirs), daemon=True
        )
        proc.start()
        sides[kind] = (proc, mine)
    try:
        for kind, (_, pipe) in sides.items():
            if not pipe.poll(READY_TIMEOUT_S * 2) or pipe.recv() != "ready":
                raise SystemExit(f"{kind} consumer not ready (machine overloaded?)")
        time.sleep(2.0)
        ratios = []
        for i in range(args.rounds):
            for _, pipe in sides.values():
                pipe.send(str(args.seconds))
            (bc, br), (ec, er) = (pipe.recv() for _, pipe in sides.values())
            b_us, e_us = bc / max(1, br) * 1e6, ec / max(1, er) * 1e6
            ratios.append(e_us / b_us)
            print(
                f"round {i + 1}: bare {br / args.seconds:,.0f} updates/s at {b_us:.1f} us CPU each "
                f"| engine {er / args.seconds:,.0f} updates/s at {e_us:.1f} us CPU each "
                f"| ratio {e_us / b_us:.2f}",
                flush=True,
            )
    finally:
        for _, pipe in sides.values():
            with contextlib.suppress(OSError):
                pipe.send("stop")
        for proc, _ in sides.values():
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    streams = len(_config(args.symbols).streams)
    print(
        f"\n{streams} streams, feed: every channel every {args.push:g} s, "
        f"{args.rounds} rounds x {args.seconds:.0f} s, both consumers measured side by side, "
        f"snapshot read {args.reader_hz:g} times a second\n"
        f"engine / bare CPU per delivered update: {statistics.median(ratios):.2f} "
        "(median of the rounds; target <= 1.5)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=100)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--push", type=float, default=0.25, help="seconds between pushes of a channel")
    p.add_argument(
        "--reader-hz",
        type=float,
        default=0.0,
        help="read the engine's snapshot this often, as a dashboard does (0: no reader, headless)",
    )
    args = p.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(queue, args.push), daemon=True)
    proc.start()
    try:
        run(args, queue.get(timeout=60))
    finally:
        proc.kill()
        proc.join(5)


if __name__ == "__main__":
    main()
