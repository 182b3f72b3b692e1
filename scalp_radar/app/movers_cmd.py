"""`scalp-radar movers`: a one-shot ranking of the universe from REST tickers, optionally after
a short websocket window, then exit.

With `--window 0` (the default) only what one REST `tickers` call tells is known: 24 h change,
spread, funding, basis, 24 h volume. Changes over minutes, volume surge and OI change need a
window of history (`--window S`; 5 min changes need S >= 300) and show as n/a before that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from scalp_radar.app.context import RunContext
from scalp_radar.core.config_models import AppConfig
from scalp_radar.core.snapshot import RANKED_BY_SIZE, TickerRow, UniverseSnapshot, rank_rows

# --by value -> TickerRow column (ranked by size for a column in RANKED_BY_SIZE)
MOVERS_BY: dict[str, str] = {
    "change_5m": "change_5m",
    "change_1h": "change_1h",
    "change_24h": "change_24h",
    "surge": "volume_surge",
    "funding": "funding_rate",
    "spread": "spread_bps",
    "oi_change": "oi_change_15m",
}
# Market seconds of history a column needs before it has values.
_NEEDS_WINDOW_S = {"change_5m": 300, "change_1h": 3600, "volume_surge": 900, "oi_change_15m": 900}


async def collect(config: AppConfig, *, sim_url: str | None, window_s: float) -> UniverseSnapshot:
    """The universe's rows after one REST call (and `window_s` seconds of websocket tickers)."""
    from scalp_radar.core.limiter import RateLimiter
    from scalp_radar.engine.tickers import UniverseEngine

    engine = UniverseEngine(
        config, RateLimiter.from_exchange_config(config.exchange), sim_url=sim_url, db=None
    )
    try:
        if window_s > 0:
            await engine.start()
            await engine.wait_ready(30.0)
            await asyncio.sleep(window_s)
        else:
            await engine.refresh_markets()
        if engine.rest_polls == 0:
            await engine.poll_rest()  # raises: a ranking without the REST picture is no ranking
        return engine.snapshot()
    finally:
        if window_s > 0:
            await engine.stop()
        else:
            await engine.pool.stop()


def movers_rows(snap: UniverseSnapshot, by: str, limit: int) -> list[TickerRow]:
    """The ranking (NaN last)."""
    column = MOVERS_BY[by]
    return rank_rows(snap.rows, column, absolute=column in RANKED_BY_SIZE, limit=limit)


def _cell(value: float, fmt: str) -> str:
    return "n/a" if value != value else format(value, fmt)


def print_movers(
    rows: list[TickerRow], by: str, *, demo: bool, as_json: bool, out: TextIO = sys.stdout
) -> None:
    """A table (or JSON) of the ranking; says DEMO for simulated prices."""
    column = MOVERS_BY[by]
    if as_json:
        doc: dict[str, Any] = {
            "mode": "DEMO" if demo else "REAL",
            "by": by,
            "rows": [
                {
                    "symbol": r.symbol,
                    "last": r.last,
                    **{
                        k: (None if getattr(r, k) != getattr(r, k) else getattr(r, k))
                        for k in (
                            "change_5m",
                            "change_1h",
                            "change_24h",
                            "volume_surge",
                            "spread_bps",
                            "funding_rate",
                            "oi_change_15m",
                            "basis_bps",
                            "quote_volume_24h",
                        )
                    },
                    "source": r.source,
                    "updated_ms": r.updated_ms,
                }
                for r in rows
            ],
        }
        out.write(json.dumps(doc) + "\n")
        return
    if demo:
        out.write("DEMO: simulated prices, not real\n")
    out.write(
        f"{'symbol':<18} {'last':>12} {'5m %':>7} {'1h %':>7} {'24h %':>7} {'surge':>6} "
        f"{'spread':>7} {'funding %':>9} {'OI 15m %':>8}\n"
    )
    for r in rows:
        out.write(
            f"{r.symbol:<18} {r.last:>12.6g} {_cell(r.change_5m, '+.2f'):>7} "
            f"{_cell(r.change_1h, '+.2f'):>7} {_cell(r.change_24h, '+.2f'):>7} "
            f"{_cell(r.volume_surge, '.2f'):>6} {_cell(r.spread_bps, '.1f'):>7} "
            f"{_cell(r.funding_rate * 100, '+.4f'):>9} {_cell(r.oi_change_15m, '+.2f'):>8}\n"
        )
    if rows and all(getattr(r, column) != getattr(r, column) for r in rows):
        need = _NEEDS_WINDOW_S.get(column)
        hint = f" (needs --window {need} or more)" if need else ""
        out.write(f"{by}: no values yet{hint}\n")


def run_movers(args: argparse.Namespace, ctx: RunContext) -> int:
    """The command (app/cli.py parsed and bounded the options and resolved the context)."""
    from scalp_radar.engine.universe import apply_universe_override

    config = ctx.config
    if args.universe is not None:
        config = apply_universe_override(config, args.universe)
    snap = asyncio.run(_collect_with_target(config, ctx, args.window))
    rows = movers_rows(snap, args.by, args.limit)
    print_movers(rows, args.by, demo=ctx.demo, as_json=args.json)
    return 0


async def _collect_with_target(
    config: AppConfig, ctx: RunContext, window_s: float
) -> UniverseSnapshot:
    """`collect` against the configured target; --demo starts the demo simulator for it."""
    if ctx.sim_url is not None or not ctx.demo:
        return await collect(config, sim_url=ctx.sim_url, window_s=window_s)
    from scalp_radar.app.demo import start_child_simulator

    sim = await start_child_simulator(config.symbols)
    try:
        return await collect(config, sim_url=sim.url, window_s=window_s)
    finally:
        await sim.stop()
