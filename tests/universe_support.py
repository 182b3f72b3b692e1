"""Shared by the radar's simulator tests: a UniverseEngine started on a simulator with chosen
`universe:` settings, and a bounded poll of its snapshot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from scalp_radar.core.config import AppConfig, load_config
from scalp_radar.core.limiter import RateLimiter
from scalp_radar.core.snapshot import UniverseSnapshot
from scalp_radar.engine.tickers import StatsStore, UniverseEngine
from scalp_radar.sim import SimExchange


def universe_config(**settings: Any) -> AppConfig:
    """The shipped config with these `universe:` settings."""
    config = load_config()
    return config.model_copy(update={"universe": config.universe.model_copy(update=settings)})


@asynccontextmanager
async def running_universe(
    sim: SimExchange, db: StatsStore | None = None, **settings: Any
) -> AsyncIterator[UniverseEngine]:
    """A started UniverseEngine on the simulator, stopped on exit."""
    config = universe_config(**settings)
    engine = UniverseEngine(
        config,
        RateLimiter.from_exchange_config(config.exchange),
        sim_url=sim.url,
        clock=sim.clock,
        db=db,
    )
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


def _shards(snap: UniverseSnapshot) -> str:
    shards = [(s.shard_id, s.state.value, s.reason) for s in snap.shards]
    return f"live {snap.tickers_live}/{snap.symbols} {shards} {snap.problem}"


async def until(
    engine: UniverseEngine,
    check: Callable[[UniverseSnapshot], bool],
    timeout_s: float = 20.0,
    explain: Callable[[UniverseSnapshot], str] = _shards,
) -> UniverseSnapshot:
    """Poll the engine's snapshot until `check(snapshot)` (a bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while True:
        snap = engine.snapshot()
        if check(snap):
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {explain(snap)}")
        await asyncio.sleep(0.1)
