"""Support for the engine tests: fast configs, a running engine on a simulator, truth checks.

A plain module (not a test file, not fixtures): the tests call these with their own arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalp_radar.core.config import load_config
from scalp_radar.core.limiter import RateLimiter
from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.snapshot import StreamState
from scalp_radar.core.store import Database
from scalp_radar.engine.data_engine import DataEngine
from scalp_radar.sim import SimExchange, SimLimits

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"

SPEED = 120.0  # a 1m candle closes every half second
KEEPALIVE_MS = 1000  # ccxt ping period: a missing pong is seen after ~2 s


def make_config(
    symbols: list[str],
    timeframes: list[str],
    *,
    stale_min_s: float = 1.0,
    flush_interval_s: float = 0.2,
    enable_websocket: bool = True,
    **engine: Any,
) -> Any:
    """The shipped config narrowed to `symbols` x `timeframes`, with fast engine timings."""
    base = load_config()
    template = base.assets[0]
    assets = [
        template.model_copy(update={"symbol": s, "timeframes": [TimeFrame(t) for t in timeframes]})
        for s in symbols
    ]
    engine_cfg = base.engine.model_copy(
        update={
            "stale_min_s": stale_min_s,
            "flush_interval_s": flush_interval_s,
            "snapshot_hz": 20.0,
            **engine,
        }
    )
    ws = base.exchange.websocket.model_copy(
        update={"reconnect_delay_s": 0.05, "max_reconnect_delay_s": 0.5, "stable_after_s": 2.0}
    )
    exchange = base.exchange.model_copy(update={"websocket": ws})
    secrets = base.secrets.model_copy(update={"enable_websocket": enable_websocket})
    # model_construct: strategies.yaml names assets these tests leave out on purpose.
    cfg = type(base).model_construct(
        **dict(base.__dict__, assets=assets, engine=engine_cfg, exchange=exchange, secrets=secrets)
    )
    return cfg


@dataclass
class Rig:
    """A simulator, a database file and an engine wired together."""

    sim: SimExchange
    db: Database
    engine: DataEngine
    db_path: Path

    def states(self) -> dict[str, StreamState]:
        return {s.key: s.state for s in self.engine.streams}

    def visited(self) -> dict[str, set[StreamState]]:
        return {s.key: set(s.state_log) for s in self.engine.streams}


def new_engine(
    cfg: Any, db: Database | None, sim: SimExchange, *, on_sim_clock: bool = True, **kw: Any
) -> DataEngine:
    """An engine pointed at `sim` with a short ccxt keepalive.

    On the simulator's clock (as the demo runs), or with `on_sim_clock=False` on the wall clock,
    measuring the simulator's (as `--sim-url` runs).
    """
    return DataEngine(
        cfg,
        db,
        RateLimiter.from_exchange_config(cfg.exchange),
        sim_url=sim.url,
        clock=sim.clock if on_sim_clock else None,
        exchange_options={"ws": {"keepAlive": KEEPALIVE_MS}},
        **kw,
    )


@contextlib.asynccontextmanager
async def rig(
    tmp_path: Path,
    cfg: Any,
    *,
    sim_symbols: list[str] | None = None,
    limits: SimLimits | None = None,
    seed: int = 7,
    db_name: str = "engine.db",
    **kw: Any,
) -> AsyncIterator[Rig]:
    """Start a simulator, a database and an engine; stop all three afterwards."""
    sim = SimExchange(
        symbols=sim_symbols or list(cfg.symbols),
        seed=seed,
        speed=SPEED,
        limits=limits or SimLimits.off(push_interval_s=0.05),
    )
    await sim.start()
    db = Database(tmp_path / db_name)
    await db.init()
    engine = new_engine(cfg, db, sim, **kw)
    try:
        await engine.start()
        yield Rig(sim, db, engine, tmp_path / db_name)
    finally:
        await engine.stop()
        await db.close()
        await sim.stop()


async def wait_for(
    cond: Callable[[], bool], limit_s: float = 15.0, what: str = "condition"
) -> None:
    """Poll `cond` every 20 ms until true; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def all_live(engine: DataEngine, exclude: set[str] = frozenset()) -> bool:
    return all(s.state is StreamState.LIVE for s in engine.streams if s.key not in exclude)


async def settle(engine: DataEngine, limit_s: float = 15.0) -> None:
    """Wait until every non-failed stream is live and no heal or verification is in flight."""
    await wait_for(
        lambda: (
            all(s.state in (StreamState.LIVE, StreamState.FAILED) for s in engine.streams)
            and engine.pending_repairs == 0
            and all(s.gaps_open == 0 for s in engine.streams)
        ),
        limit_s,
        "streams live and repairs done",
    )


async def closes_after(engine: DataEngine, n: int, limit_s: float = 15.0) -> None:
    """Wait until the fastest streams closed `n` more candles and every other live stream updated."""
    t0 = engine.clock.now_ms()
    live = [s for s in engine.streams if s.state is not StreamState.FAILED]
    fastest = min(s.timeframe.to_milliseconds() for s in live)
    start = {s.key: s.buffer.last_closed_ts or 0 for s in live}

    def done() -> bool:
        for s in live:
            if s.state is StreamState.FAILED:
                continue
            step = s.timeframe.to_milliseconds()
            if step == fastest:
                if (s.buffer.last_closed_ts or 0) < start[s.key] + n * step:
                    return False
            elif (s.last_update_ms or 0) <= t0:
                return False
        return True

    await wait_for(done, limit_s, f"{n} more closed candles")


async def assert_store_matches_truth(
    db: Database, sim: SimExchange, symbol: str, tf: str, *, min_rows: int = 10
) -> int:
    """Stored candles are contiguous (no hole, no duplicate) and equal the simulator's truth."""
    rows = await db.get_candles(symbol, tf)
    assert len(rows) >= min_rows, f"{symbol} {tf}: only {len(rows)} candles stored"
    step = TimeFrame(tf).to_milliseconds()
    stamps = [c.timestamp for c in rows]
    holes = [(a, b) for a, b in zip(stamps, stamps[1:], strict=False) if b - a != step]
    assert not holes, f"{symbol} {tf}: holes or duplicates at {holes[:3]}"
    truth = sim.truth(symbol, tf, stamps[0], stamps[-1] + 1)
    got = [[c.timestamp, c.open, c.high, c.low, c.close, c.volume] for c in rows]
    assert len(got) == len(truth), f"{symbol} {tf}: {len(got)} stored vs {len(truth)} in truth"
    diff = [(g, t) for g, t in zip(got, truth, strict=True) if g != t]
    assert not diff, f"{symbol} {tf}: {len(diff)} candle(s) differ from truth, first {diff[0]}"
    return len(got)


async def assert_all_match_truth(rig_: Rig, *, skip: set[str] = frozenset()) -> None:
    """Every configured stream's store equals the truth (read back from the file after stop)."""
    async with Database(rig_.db_path) as db:
        for s in rig_.engine.streams:
            if s.key in skip:
                continue
            await assert_store_matches_truth(db, rig_.sim, s.symbol, s.timeframe.value)


# ----- driving one stream by hand: scripted rows, no simulator

STEP = 60_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % STEP


def row(
    i: int, *, c: float = 100.5, v: float = 10.0, h: float = 101.0, lo: float = 99.0
) -> list[Any]:
    """The i-th BTC 1m row after T0, as ccxt returns it."""
    return [T0 + i * STEP, 100.0, h, lo, c, v]


def candle(i: int, **kw: float) -> Candle:
    """The i-th BTC 1m candle after T0."""
    ts, o, h, lo, c, v = row(i, **kw)
    return Candle(
        symbol=BTC, timeframe=TimeFrame.M1, timestamp=ts, open=o, high=h, low=lo, close=c, volume=v
    )


class FakeExchange:
    """Just enough of a ccxt.pro exchange for one stream: scripted batches, then silence."""

    def __init__(self, batches: list[list[list]] | None = None) -> None:
        self.markets = {BTC: {"id": "BTCUSDT"}}
        self.batches = list(batches or [])

    async def watch_ohlcv(self, symbol: str, timeframe: str) -> list[list]:
        if self.batches:
            return self.batches.pop(0)
        await asyncio.Event().wait()
        return []

    async def close(self) -> None:
        pass


def scripted_engine(
    db: Database | None = None, ex: FakeExchange | None = None, **kw: Any
) -> DataEngine:
    """A one-stream (BTC 1m) engine on a `FakeExchange`, closes not verified unless asked."""
    cfg = make_config([BTC], ["1m"])
    fake = ex or FakeExchange()
    return DataEngine(
        cfg,
        db,
        RateLimiter.from_exchange_config(cfg.exchange),
        exchange_factory=lambda: fake,
        **{"verify_closes": False, **kw},
    )
