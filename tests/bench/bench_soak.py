"""Soak benchmark: 3 symbols x 4 timeframes at 60x with a fault every few seconds.

Run: .venv/bin/python tests/bench/bench_soak.py [--minutes 10] [--speed 60] [--fault-every 3]
The simulator runs in its own process (so the engine's RSS is its own) and injects, at random
seeded times, every fault of the spec's table. At the end the engine is stopped and the SQLite
store is checked: holes left (target 0) and candles different from the simulator's truth.
The stale bound (4 s) is above a gap fault's skip (3 candles = 3 s at 60x), so gaps reach the
engine and are healed over REST instead of being refilled by a reconnect's snapshot.
Prints RSS at start (after warm-up: a quarter of the run, at most 60 s) and end, growth % (target < 5 %), incidents and faults.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from loguru import logger  # noqa: E402

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
TIMEFRAMES = ["1m", "5m", "15m", "1h"]
SEED = 11
# kind -> params; each is scheduled at random times, together about one every --fault-every s.
FAULTS: dict[str, dict] = {
    "close": {},
    "drop": {},
    "stale": {"duration": 6},
    "nopong": {"duration": 3},
    "e30001": {},
    "e30006": {},
    "e30007": {},
    "gap": {"count": 3},
    "duplicate": {},
    "outoforder": {},
    "invalid": {},
    "malformed": {},
    "refuse": {"count": 1, "retry_after": 1},
    "rest429": {"count": 3},
    "rest5xx": {"count": 1},
}


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _serve(queue, speed: float, fault_every: float) -> None:
    """Subprocess: the simulator with random faults; sends (url, now_ms) then runs until killed."""
    from scalp_radar.sim import SimExchange, SimLimits

    logger.remove()

    async def serve() -> None:
        sim = SimExchange(
            symbols=SYMBOLS, seed=SEED, speed=speed, limits=SimLimits(push_interval_s=0.1)
        )
        for kind, params in FAULTS.items():
            sim.faults.random(kind, mean_interval_s=fault_every * len(FAULTS), **params)
        await sim.start()
        queue.put((sim.url, sim.clock.now_ms()))
        await asyncio.Event().wait()

    asyncio.run(serve())


async def check_store(db, cfg, speed_clock) -> tuple[int, int, int]:
    """(holes, candles differing from truth, candles checked) over every stream's stored range."""
    from scalp_radar.sim.market import Market

    market = Market(SYMBOLS, seed=SEED)
    # The replica clock may trail the simulator's by up to ~1 s real (queue hand-off): allow
    # that much market time, so a candle the simulator had closed counts as closed here too.
    now = speed_clock.now_ms() + int(speed_clock.speed * 1000)
    holes = differ = checked = 0
    for symbol, tf in cfg.streams:
        rows = await db.get_candles(symbol, tf)
        if not rows:
            holes += 1
            continue
        step = tf.to_milliseconds()
        stamps = [c.timestamp for c in rows]
        holes += sum(
            (b - a) // step - 1 for a, b in zip(stamps, stamps[1:], strict=False) if b - a != step
        )
        truth = {
            r[0]: list(r) for r in market.candles(symbol, tf.value, stamps[0], stamps[-1] + 1, now)
        }
        for c in rows:
            checked += 1
            got = [c.timestamp, c.open, c.high, c.low, c.close, c.volume]
            if truth.get(c.timestamp) != got:
                differ += 1
                if differ <= 5:
                    print(
                        f"differs: {symbol} {tf.value} stored {got} truth {truth.get(c.timestamp)}"
                    )
    return holes, differ, checked


async def run(url: str, sim_now_ms: int, args) -> None:
    from scalp_radar.core.limiter import RateLimiter
    from scalp_radar.core.store import Database
    from scalp_radar.engine.data_engine import DataEngine
    from scalp_radar.sim.clock import SimClock
    from tests.engine_support import make_config

    clock = SimClock(speed=args.speed, start_ms=sim_now_ms)  # a replica of the simulator's clock
    cfg = make_config(SYMBOLS, TIMEFRAMES, stale_min_s=4.0, flush_interval_s=1.0, snapshot_hz=4.0)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "soak.db")
        await db.init()
        eng = DataEngine(
            cfg,
            db,
            RateLimiter.from_exchange_config(cfg.exchange),
            sim_url=url,
            clock=clock,
            exchange_options={"ws": {"keepAlive": 1000}},
        )
        rss0 = rss_mb()
        await eng.start()
        t0 = time.monotonic()
        duration = args.minutes * 60
        warm = min(60.0, duration / 4)  # the first minute sees every first-time allocation
        rss_start = None
        next_report = 0.0
        while (elapsed := time.monotonic() - t0) < duration:
            await asyncio.sleep(1.0)
            if rss_start is None and elapsed >= warm:
                rss_start = rss_mb()
            if elapsed >= next_report:
                snap = eng.snapshot()
                states = collections.Counter(s.state.value for s in snap.streams)
                print(
                    f"t={elapsed:5.0f}s rss={rss_mb():6.1f}MB states={dict(states)} "
                    f"gaps={sum(s.gaps_detected for s in snap.streams)}/"
                    f"{sum(s.gaps_healed for s in snap.streams)}/{sum(s.gaps_open for s in snap.streams)} "
                    f"reconnects={snap.connection.reconnects} recycles={eng.holder.recycles}",
                    flush=True,
                )
                next_report += args.report_every
        rss_end = rss_mb()
        # Let in-flight heals finish (bounded), then stop and check the store.
        for _ in range(150):
            if not eng.pending_repairs and not any(s.gaps_open for s in eng.streams):
                break
            await asyncio.sleep(0.2)
        snap = eng.snapshot(fresh=True)
        await eng.stop()
        holes, differ, checked = await check_store(db, cfg, clock)
        await db.close()
    kinds = collections.Counter(i.kind for i in eng.incidents)
    print(
        f"\n{len(cfg.streams)} streams, {args.minutes:g} min at {args.speed:g}x, "
        f"a fault about every {args.fault_every:g}s ({len(FAULTS)} kinds, seed {SEED})\n"
        f"RSS before start {rss0:.1f} MB, after warm-up {rss_start:.1f} MB, end {rss_end:.1f} MB, "
        f"growth {100 * (rss_end - rss_start) / rss_start:+.1f}% (target < 5%)\n"
        f"reconnects {snap.connection.reconnects}, exchange re-creations {eng.holder.recycles}, "
        f"gaps detected/healed/open {sum(s.gaps_detected for s in snap.streams)}/"
        f"{sum(s.gaps_healed for s in snap.streams)}/{sum(s.gaps_open for s in snap.streams)}, "
        f"invalid dropped {sum(s.invalid_dropped for s in snap.streams)}, "
        f"duplicates/out-of-order dropped {sum(s.duplicates_dropped for s in snap.streams)}, "
        f"closes re-fetched {eng.verified_fixes}\n"
        f"incidents (last {len(eng.incidents)} kept): {dict(kinds)}\n"
        f"failed streams: {[s.key for s in snap.streams if s.state.value == 'failed']}\n"
        f"store: {checked} candles checked, holes left {holes} (target 0), differing from truth {differ}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description="engine soak under faults")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--speed", type=float, default=60.0)
    p.add_argument("--fault-every", type=float, default=3.0, help="mean seconds between faults")
    p.add_argument("--report-every", type=float, default=30.0)
    args = p.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(queue, args.speed, args.fault_every), daemon=True)
    proc.start()
    try:
        url, now_ms = queue.get(timeout=30)
        asyncio.run(run(url, now_ms, args))
    finally:
        proc.kill()
        proc.join(5)


if __name__ == "__main__":
    main()
