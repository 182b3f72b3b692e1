"""Benchmark of the history backfill against the simulator (prints figures; asserts nothing).

Run:
  .venv/bin/python tests/bench/bench_backfill.py --mode limited --days 30     # ~1 min
  .venv/bin/python tests/bench/bench_backfill.py --mode limited               # 1 year, ~2 min
  .venv/bin/python tests/bench/bench_backfill.py --mode unlimited             # 1 year, limits off

limited:   the simulator enforces Bitget's documented 20 req/s per endpoint; our limiter is the
           shipped config's (exchanges.yaml rate_limits.market_data, as the product runs it;
           --rate/--burst override it). Figures: achieved req/s / allowed (target >= 0.9), 429s
           (target 0).
unlimited: no limit anywhere; candles/s from request to SQLite (the pipeline's own ceiling).
The simulator runs in its own process by default (`--sim inprocess` to share the loop), like a
remote exchange would: the client's CPU is the client's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from loguru import logger  # noqa: E402

from scalp_radar.core.config import load_config  # noqa: E402
from scalp_radar.core.limiter import RateLimiter, TokenBucket  # noqa: E402
from scalp_radar.core.models import TimeFrame  # noqa: E402
from scalp_radar.core.store import Database  # noqa: E402
from scalp_radar.exchange.factory import create_exchange  # noqa: E402
from scalp_radar.history.backfill import Backfiller, disable_ccxt_throttle  # noqa: E402
from scalp_radar.history.holes import find_holes  # noqa: E402
from scalp_radar.history.plan import DAY_MS, HISTORY, plan_backfill  # noqa: E402
from scalp_radar.history.types import BackfillRequest  # noqa: E402

SYMBOL = "BTC/USDT:USDT"
BITGET_RATE = 20.0  # documented per-IP req/s of candles and history-candles


class SimProcess:
    """`scalp-radar sim` in a subprocess on a free port."""

    def __init__(self, limits: bool) -> None:
        cmd = [sys.executable, "-m", "scalp_radar", "sim", "--port", "0", "--symbols", SYMBOL]
        if not limits:
            cmd.append("--no-limits")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            if match:
                self.url = match.group(1)
                break
        else:
            raise RuntimeError("simulator did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def run(args: argparse.Namespace, mode: str) -> None:
    limited = mode == "limited"
    sim_proc = sim = None
    if args.sim == "inprocess":
        from scalp_radar.sim import SimExchange, SimLimits

        sim = SimExchange(symbols=[SYMBOL], limits=SimLimits() if limited else SimLimits.off())
        await sim.start()
        url = sim.url
    else:
        sim_proc = SimProcess(limits=limited)
        url = sim_proc.url
    shipped = load_config().exchange
    bucket = shipped.rate_limits["market_data"]
    rate = (args.rate or bucket.requests_per_second) if limited else 1e6
    burst = (args.burst or bucket.burst) if limited else 1e6
    if limited and args.rate is None and args.burst is None:
        limiter = RateLimiter.from_exchange_config(shipped)  # exactly what the product runs
    else:
        limiter = RateLimiter({"market_data": TokenBucket(rate, burst, "market_data")})
    exchange = create_exchange(None, sim_url=url)
    disable_ccxt_throttle(exchange)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        await db.init()
        try:
            await exchange.load_markets()
            now = int(await exchange.fetch_time())
            # Warm-up request, untimed: first-use costs of the simulator and of ccxt.
            await exchange.fetch_ohlcv(SYMBOL, "1m", limit=10)
            await asyncio.sleep(1.0)  # let the simulator's 1-second bucket refill
            request = BackfillRequest((SYMBOL,), ("1m",), now - int(args.days * DAY_MS), now)
            plan = await plan_backfill(request, db, rate, now)
            history = sum(w.endpoint == HISTORY for w in plan.windows)
            print(
                f"[{mode}] {args.days:g} days of 1m {SYMBOL}: {plan.requests} requests "
                f"({history} history-candles, {plan.requests - history} candles), "
                f"{plan.expected_candles} candles; limiter {rate:g} req/s burst {burst:g}, "
                f"concurrency {args.concurrency}, sim {args.sim}"
            )
            backfiller = Backfiller(
                exchange, db, limiter, max_concurrency=args.concurrency, retries=8
            )
            t0 = time.perf_counter()
            cpu0 = time.process_time()
            result = await backfiller.run(plan)
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            closed = TimeFrame.M1.align(plan.now_ms)
            holes = await find_holes(db, SYMBOL, "1m", request.since_ms, closed)
        finally:
            await exchange.close()
            await db.close()
            if sim is not None:
                await sim.stop()
            if sim_proc is not None:
                sim_proc.stop()
    sent = backfiller.requests_sent
    print(f"[{mode}] {result.summary()}; holes after: {len(holes)}")
    print(
        f"[{mode}] requests sent {sent} in {elapsed:.2f} s = {sent / elapsed:.2f} req/s; "
        f"429s received {backfiller.rate_limited}; retries {backfiller.retries_done}"
    )
    if limited:
        print(
            f"[{mode}] achieved / allowed = {sent / elapsed:.2f} / {BITGET_RATE:g} = "
            f"{sent / elapsed / BITGET_RATE:.3f}  (target >= 0.9, 429s target 0)"
        )
    print(
        f"[{mode}] candles/s request -> SQLite: {result.candles_stored / elapsed:,.0f} "
        f"(Bitget's own history ceiling: 20 x 200 = 4,000/s)"
    )
    print(
        f"[{mode}] client CPU {cpu:.2f} s ({cpu / elapsed:.0%} of one core): client-side ceiling "
        f"~{result.candles_stored / max(cpu, 1e-9):,.0f} candles/s"
        + ("" if args.sim == "inprocess" else " (the simulator runs in its own process)")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("limited", "unlimited", "both"), default="both")
    parser.add_argument("--days", type=float, default=365.0, help="history depth (default 365)")
    parser.add_argument(
        "--rate", type=float, default=None, help="limiter req/s (limited; default: shipped config)"
    )
    parser.add_argument(
        "--burst", type=float, default=None, help="limiter burst (limited; default: shipped config)"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sim", choices=("subprocess", "inprocess"), default="subprocess")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    modes = ("limited", "unlimited") if args.mode == "both" else (args.mode,)
    for mode in modes:
        asyncio.run(run(args, mode))


if __name__ == "__main__":
    main()
