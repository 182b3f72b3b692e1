"""The dashboard's `w` reaches the engine: a watched symbol outside the universe joins it."""

from __future__ import annotations

import asyncio

import pytest

from scalp_radar.sim import SimExchange
from tests.test_universe_sim import all_live, running, sim_options, until

__all__ = ["sim_options"]  # the `sim` fixture's options (60 contracts, Bitget's limits)

WATCHED = "U005/USDT:USDT"


@pytest.mark.slow
async def test_a_watched_symbol_joins_a_watchlist_universe_while_running(sim: SimExchange) -> None:
    async with running(sim, mode="watchlist") as engine:
        snap = await until(engine, all_live)
        assert WATCHED not in {r.symbol for r in snap.rows}
        # Called from the UI thread, as the dashboard does.
        said = await asyncio.to_thread(engine.set_user_watchlist, (WATCHED,))
        assert said == "adding 1 symbol(s) to the universe"
        snap = await until(
            engine, lambda s: any(r.symbol == WATCHED and r.source == "ws" for r in s.rows)
        )
        assert snap.limit_errors == 0 and not sim.violations
        assert engine.set_user_watchlist((WATCHED,)) == "tracked: it is in the radar's universe"


@pytest.mark.slow
async def test_with_mode_all_every_symbol_is_already_tracked(sim: SimExchange) -> None:
    async with running(sim) as engine:
        await until(engine, all_live)
        assert engine.set_user_watchlist((WATCHED,)) == "tracked: it is in the radar's universe"
