"""One markets download per start: the radar's REST instance loads them, and every candle and
ticker socket shares them (ccxt.pro instances, real simulator)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from scalp_radar.core.limiter import RateLimiter
from scalp_radar.core.snapshot import StreamState
from scalp_radar.engine.data_engine import DataEngine
from scalp_radar.engine.tickers import UniverseEngine
from scalp_radar.sim import SimExchange, SimLimits
from tests.engine_support import BTC, ETH, KEEPALIVE_MS, make_config

CONTRACT_REQUESTS_PER_LOAD = 6  # ccxt's load_markets asks once per product type


async def until(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_markets_are_downloaded_once_for_the_candle_and_ticker_sockets() -> None:
    base = make_config([BTC, ETH], ["1m"])
    ws = base.exchange.websocket.model_copy(update={"streams_per_connection": 1})
    universe_cfg = base.universe.model_copy(
        update={"channels_per_shard": 10, "dial_spacing_s": 0.05, "hot_count": 0}
    )
    config = base.model_copy(
        update={
            "exchange": base.exchange.model_copy(update={"websocket": ws}),
            "universe": universe_cfg,
        }
    )
    async with SimExchange([BTC, ETH], contracts=30, limits=SimLimits.off()) as sim:
        limiter = RateLimiter.from_exchange_config(config.exchange)
        universe = UniverseEngine(config, limiter, sim_url=sim.url, clock=sim.clock)
        engine = DataEngine(
            config,
            None,
            limiter,
            sim_url=sim.url,
            clock=sim.clock,
            exchange_options={"ws": {"keepAlive": KEEPALIVE_MS}},
            universe=universe,
        )
        await engine.start()
        try:
            await until(
                lambda: all(s.state is StreamState.LIVE for s in engine.streams),
                "candle streams live",
            )
            snap = universe.snapshot()
            await until(
                lambda: (s := universe.snapshot()).symbols == 30 and s.tickers_live == 30,
                f"tickers live ({snap.tickers_live}/{snap.symbols})",
            )
            assert len(engine.shards.shards) == 2 and len(universe.pool.shards) == 3
            assert sim.rest.counts["contracts"] == CONTRACT_REQUESTS_PER_LOAD
            # Shared, not copied: every socket's instance holds the REST instance's markets.
            markets = universe.pool.rest.markets
            sockets = [s.holder.exchange for s in engine.shards.shards]
            sockets += [s._exchange for s in universe.pool.shards]
            assert all(ex is not None and ex.markets is markets for ex in sockets)
        finally:
            await engine.stop()
