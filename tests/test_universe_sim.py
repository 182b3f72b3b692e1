"""The radar against the simulated Bitget with real ccxt.pro: every ticker live inside the
limits (the simulator counts violations), a drop or recycle of every connection at once
recovered without 30006/30007, a stale shard covered by REST and re-dialled alone, a refused
symbol leaving only its shard, stats rows stored once per symbol per minute."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from scalp_radar.core.snapshot import ShardState, UniverseSnapshot
from scalp_radar.core.store import Database
from scalp_radar.engine.tickers import StatsStore, UniverseEngine
from scalp_radar.sim import SimExchange, SimLimits
from tests.universe_support import running_universe, until

SYMBOLS = [f"U{i:03d}/USDT:USDT" for i in range(57)] + [
    "BTC/USDT:USDT",
    "ETH/USDT:USDT",
    "SOL/USDT:USDT",
]
SHARD = 10  # 60 symbols -> 6 shards


@pytest.fixture
def sim_options() -> dict[str, Any]:
    # Bitget's documented limits on (10 msg/s, 240 subscribes/h, 100 open and 300 new
    # connections, ...); tickers at most every 0.5 s per symbol to keep the test light.
    return {"symbols": SYMBOLS, "limits": SimLimits(ticker_min_interval_s=0.5)}


# Small shards, quick stale/fallback/dial timings, so recoveries take seconds.
SETTINGS: dict[str, Any] = {
    "channels_per_shard": SHARD,
    "stale_after_s": 5.0,
    "rest_fallback_s": 1.0,
    "dial_spacing_s": 0.1,
}


def running(
    sim: SimExchange, db: StatsStore | None = None, **keys: Any
) -> AbstractAsyncContextManager[UniverseEngine]:
    """A started UniverseEngine on the simulator with SETTINGS (and `keys` over them)."""
    return running_universe(sim, db, **{**SETTINGS, **keys})


def all_live(snap: UniverseSnapshot) -> bool:
    return snap.symbols > 0 and snap.tickers_live == snap.symbols


@pytest.mark.slow
async def test_every_ticker_goes_live_in_batched_shards_within_the_limits(sim: SimExchange) -> None:
    async with running(sim) as engine:
        snap = await until(engine, all_live)
        assert snap.symbols == len(SYMBOLS) and len(snap.shards) == 6
        assert all(s.channels == SHARD and s.state is ShardState.LIVE for s in snap.shards)
        # One socket and ONE subscribe frame per shard, nothing refused or closed by the server.
        assert [s.connects for s in snap.shards] == [1] * 6
        assert [s.subscribe_messages_hour for s in snap.shards] == [1] * 6
        assert sim.hub.connections_total == 6 and sim.hub.refused == 0
        assert snap.limit_errors == 0 and not sim.violations
        assert [c.tickers for c in sim.connections()] == [SHARD] * 6
        assert {r.symbol for r in snap.rows} == set(SYMBOLS)
        btc = next(r for r in snap.rows if r.symbol == "BTC/USDT:USDT" and r.source == "ws")
        truth = sim.tickers.ws("BTCUSDT", btc.updated_ms)
        assert btc.last == float(truth["lastPr"]) and btc.open_interest > 0
        assert btc.funding_rate == float(truth["fundingRate"])
        assert btc.bid < btc.last < btc.ask and btc.spread_bps > 0
    assert all(s.state is ShardState.STOPPED for s in engine.snapshot().shards)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["recycle", "drop"])
async def test_every_connection_lost_at_once_recovers_paced_without_30006(
    sim: SimExchange, fault: str
) -> None:
    async with running(sim, dial_spacing_s=0.2) as engine:
        await until(engine, all_live)
        # Bitget's daily recycle closes every socket at once; a network drop aborts them all.
        await sim.hub.apply_fault(fault, {})
        await until(engine, lambda s: any(x.state is not ShardState.LIVE for x in s.shards), 5.0)
        snap = await until(engine, lambda s: all_live(s) and all(x.connects == 2 for x in s.shards))
        assert snap.limit_errors == 0 and sim.hub.refused == 0 and not sim.violations
        assert sim.hub.connections_total == 12
        assert engine.pool.gate.total_dials == 12 and engine.pool.gate.open == 6
        # Re-dials went through the gate one at a time: never two closer than the spacing.
        dials = list(engine.pool.gate._dials)
        assert all(b - a >= 0.2 - 1e-6 for a, b in zip(dials, dials[1:], strict=False))


@pytest.mark.slow
async def test_a_stale_shard_is_covered_by_rest_and_redialled_alone(sim: SimExchange) -> None:
    async with running(sim, stale_after_s=3.0) as engine:
        await until(engine, all_live)
        # The first picture came from REST (which also covered shards still connecting).
        assert engine.rest_polls >= 1
        polls = engine.cover_polls
        victim = next(iter(sim.hub.sessions))
        covered = {engine.pool.symbol_of_id[sub.inst] for sub in victim.subs.values()}
        await victim.apply_fault("stale", {"duration": 30})
        await until(engine, lambda _: engine.cover_polls > polls)
        # The moment the shard failed, one REST call covered its symbols (and only those).
        assert engine.last_cover == covered
        snap = await until(engine, lambda s: sum(x.connects for x in s.shards) == 7 and all_live(s))
        assert len([s for s in snap.shards if s.connects == 2]) == 1  # only its own shard
        assert snap.limit_errors == 0 and not sim.violations


@pytest.mark.slow
async def test_a_symbol_the_exchange_refuses_leaves_only_its_shard_and_the_universe(
    sim: SimExchange,
) -> None:
    async with running(sim) as engine:
        await until(engine, all_live)
        victim = next(iter(sim.hub.sessions))
        refused = engine.pool.symbol_of_id[next(iter(victim.subs.values())).inst]
        # 30001 "instId:... doesn't exist": ccxt rejects every watcher of that socket.
        await victim.apply_fault("error", {"code": 30001})
        snap = await until(
            engine,
            lambda s: (
                refused in s.rejected
                and sum(x.connects for x in s.shards) == 7
                and s.tickers_live == s.symbols == 59
            ),
        )
        shard = next(x for x in snap.shards if x.connects == 2)
        assert shard.channels == SHARD - 1
        assert all(x.connects == 1 for x in snap.shards if x is not shard)
        # The next markets reload keeps it out while the exchange still lists it.
        await engine.refresh_markets()
        assert refused not in engine.symbols and len(engine.symbols) == 59
        assert engine.snapshot().limit_errors == 0


@pytest.mark.slow
async def test_stats_rows_are_stored_once_per_symbol_per_minute(tmp_path: Path) -> None:
    symbols = SYMBOLS[:12]
    # 120x market time: a market minute every half real second.
    limits = SimLimits(ticker_min_interval_s=0.2)
    async with SimExchange(symbols, speed=120.0, limits=limits) as sim:
        db = Database(tmp_path / "stats.db")
        await db.init()
        async with running(sim, db) as engine:
            await until(engine, all_live)
            await until(engine, lambda _: engine.stats_written >= len(symbols) * 4)
        rows = await db.get_market_stats()
        await db.close()
    minutes = sorted({r.minute_ms for r in rows})
    assert len(minutes) >= 4 and all(m % 60_000 == 0 for m in minutes)
    assert all(b - a == 60_000 for a, b in zip(minutes, minutes[1:], strict=False))
    per_key: dict[tuple[str, int], int] = {}
    for r in rows:
        per_key[(r.symbol, r.minute_ms)] = per_key.get((r.symbol, r.minute_ms), 0) + 1
    assert set(per_key.values()) == {1}
    for minute in minutes[1:]:  # the first minute may predate some symbols' first ticker
        assert {r.symbol for r in rows if r.minute_ms == minute} == set(symbols)
    btc = [r for r in rows if r.symbol == "BTC/USDT:USDT"]
    assert all(r.last > 0 and r.mark and r.bid and r.ask for r in btc)
    assert all(r.funding_rate is not None and r.open_interest for r in btc)
    assert len(rows) == engine.stats_written


def subscribed(sim: SimExchange) -> set[str]:
    """The exchange ids whose ticker channel some socket holds, as the simulator sees it."""
    return {sub.inst for session in sim.hub.sessions for sub in session.subs.values()}


@pytest.mark.slow
async def test_a_symbol_leaving_the_universe_is_unsubscribed_on_its_live_socket(
    sim: SimExchange,
) -> None:
    extra = ("U000/USDT:USDT", "U001/USDT:USDT")
    async with running(sim, mode="watchlist") as engine:
        await until(engine, all_live)
        engine.set_user_watchlist(extra)
        await until(engine, lambda s: all_live(s) and s.symbols == 5)
        leaving = "U001USDT"  # its exchange id
        assert leaving in subscribed(sim)
        (before,) = engine.snapshot().shards
        engine.set_user_watchlist(extra[:1])
        await engine.refresh_markets()  # the hourly re-selection: it leaves the universe
        # One unsubscribe frame on the same socket: no re-dial, counted like a subscribe.
        await until(engine, lambda s: leaving not in subscribed(sim) and s.symbols == 4, 5.0)
        (after,) = engine.snapshot().shards
        assert after.connects == before.connects == 1 and after.state is ShardState.LIVE
        assert after.subscribe_messages_hour == before.subscribe_messages_hour + 1
        assert engine.pool.shards[0].unsubscribes == 1
        # Its row and metrics are gone.
        assert extra[1] not in engine.book.series
        assert extra[1] not in {r.symbol for r in engine.snapshot().rows}
        # Back in the universe: subscribed again on the same socket.
        engine.set_user_watchlist(extra)
        await until(engine, lambda s: all_live(s) and s.symbols == 5)
        assert leaving in subscribed(sim) and engine.snapshot().shards[0].connects == 1
        assert engine.snapshot().limit_errors == 0 and not sim.violations
