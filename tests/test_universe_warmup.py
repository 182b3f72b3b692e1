"""The radar's change windows are filled at start (issue 12 follow-up): from Bitget's 1m candles
over REST, or on a restart from the stored per-minute stats without any REST call for the
symbols they cover. Real ccxt.pro against the simulator, real SQLite."""

from __future__ import annotations

import math
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from scalp_radar.core.market_stats import MarketStatRow
from scalp_radar.core.snapshot import UniverseSnapshot
from scalp_radar.core.store import Database
from scalp_radar.engine.metrics import SLOT_MS
from scalp_radar.engine.tickers import UniverseEngine
from scalp_radar.sim import SimClock, SimExchange, SimLimits
from scalp_radar.sim.events import ROUND_MS
from tests.universe_support import running_universe, until

MINUTE = 60_000
WATCHED = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
CONTRACTS = 40


def history_sim() -> SimExchange:
    """40 contracts (events planted), its clock 20 minutes into a round that began in the past:
    a hard trend is under way and every symbol has hours of history."""
    round_start = (int(time.time() * 1000) // ROUND_MS - 1) * ROUND_MS
    clock = SimClock(start_ms=round_start + 20 * MINUTE)
    return SimExchange(
        WATCHED,
        clock=clock,
        contracts=CONTRACTS,
        limits=SimLimits(ticker_min_interval_s=0.5),
    )


def running(
    sim: SimExchange, db: Database | None = None
) -> AbstractAsyncContextManager[UniverseEngine]:
    """The radar on the simulator, storing stats when given a database."""
    return running_universe(
        sim, db, channels_per_shard=20, dial_spacing_s=0.1, store_stats=db is not None
    )


def blank_15m(snap: UniverseSnapshot) -> str:
    blank = [r.symbol for r in snap.rows if r.change_15m != r.change_15m]
    return f"{len(snap.rows)} rows, blank 15m: {blank[:5]}"


def filled(snap: UniverseSnapshot, n: int, column: str = "change_15m") -> bool:
    rows = snap.rows
    return len(rows) == n and all(getattr(r, column) == getattr(r, column) for r in rows)


def reference_close(sim: SimExchange, symbol: str, updated_ms: int, back_slots: int) -> float:
    """The price the change should compare with: the newest 1m close at or before the end of
    the slot `back_slots` before the row's own (never a later one: the window stays full)."""
    end = (updated_ms // SLOT_MS - back_slots + 1) * SLOT_MS
    open_ms = end // MINUTE * MINUTE - MINUTE
    rows = sim.truth(symbol, "1m", open_ms, open_ms + MINUTE)
    return float(rows[0][4])


@pytest.mark.slow
async def test_changes_are_filled_within_seconds_and_the_planted_trend_leads_movers() -> None:
    async with history_sim() as sim, running(sim) as engine:
        snap = await until(
            engine,
            lambda s: all(
                filled(s, CONTRACTS, c) for c in ("change_5m", "change_15m", "change_1h")
            ),
            explain=blank_15m,
        )
        trend = next(e for e in sim.events if e.kind == "trend" and e.active(sim.clock.now_ms()))
        assert snap.preset("movers", limit=1)[0].symbol == trend.symbol
        # The volume surge too: its hour of quote volume is rebuilt from the candles.
        assert filled(snap, CONTRACTS, "volume_surge")
        # Every symbol's candles were asked for once, through the limiter, at no limit's cost.
        assert sim.rest.counts["candles"] == CONTRACTS and engine.warmup.from_rest == CONTRACTS
        assert not sim.violations
        # The seeded changes are the exchange's own prices, over at least the full window.
        btc = next(r for r in snap.rows if r.symbol == "BTC/USDT:USDT")
        # Regression: 61 candles (60 closed) reached back 59-60 min, so 1h stayed blank at start.
        for column, slots in (("change_5m", 60), ("change_15m", 180), ("change_1h", 720)):
            then = reference_close(sim, btc.symbol, btc.updated_ms, slots)
            assert math.isclose(getattr(btc, column), (btc.last / then - 1) * 100, rel_tol=1e-9)
        # Candles carry no open interest: its 15 min change stays blank until measured.
        assert all(r.oi_change_15m != r.oi_change_15m for r in snap.rows)


def stored_rows(sim: SimExchange, symbols: list[str], now_ms: int) -> list[MarketStatRow]:
    """What a daemon that ran the last hour stored: one row per symbol per minute."""
    rows = []
    last_minute = now_ms // MINUTE * MINUTE - MINUTE
    for symbol in symbols:
        inst = symbol.split("/")[0] + "USDT"
        truth = sim.truth(symbol, "1m", last_minute - 62 * MINUTE, last_minute + MINUTE)
        for ts, _o, _h, _l, close, *_ in truth:
            oi = float(sim.tickers.open_interest(inst, ts + MINUTE))
            rows.append(MarketStatRow(symbol, ts, close, None, None, None, None, None, oi, 1e6))
    return rows


@pytest.mark.slow
async def test_a_restart_seeds_from_stored_stats_without_rest_for_those_symbols(
    tmp_path: Path,
) -> None:
    async with history_sim() as sim:
        db = Database(tmp_path / "radar.db")
        await db.init()
        try:
            symbols = sorted(sim.symbols)
            unstored = symbols[:3]
            await db.insert_market_stats(stored_rows(sim, symbols[3:], sim.clock.now_ms()))
            async with running(sim, db) as engine:
                snap = await until(engine, lambda s: filled(s, CONTRACTS), explain=blank_15m)
                # Only the symbols the table lacks went to REST.
                assert sim.rest.counts["candles"] == len(unstored)
                assert engine.warmup.from_table == CONTRACTS - len(unstored)
                # Open interest history exists only in the table: its change is filled there.
                by_symbol = {r.symbol: r for r in snap.rows}
                assert all(
                    by_symbol[s].oi_change_15m == by_symbol[s].oi_change_15m for s in symbols[3:]
                )
        finally:
            await db.close()
