"""The offline Bitget twin: a simulated exchange on 127.0.0.1 that real ccxt.pro talks to.

    async with SimExchange(symbols, seed=42, speed=60, limits=SimLimits()) as sim:
        ex = create_exchange(config, sim.url)          # scalp_radar.exchange.factory
        sim.truth("BTC/USDT:USDT", "5m", start, end)   # closed candles, [ts, o, h, l, c, v]
        sim.faults.inject("drop")                      # or .schedule(kind, at_s) / .random(kind)

The market-wide radar's universe (issue 12)::

    sim = SimExchange(symbols, seed=42, speed=1, contracts=500)  # symbols are always among them
    sim.market.specs        # inst_id -> SymbolSpec (status, spread_ticks, funding_rate, ...)
    sim.events              # planted MarketEvent(kind, symbol, inst_id, start_ms, end_ms, size),
                            # kinds trend|volume|funding|spread|oi, a new round every 2 h (sim time)
    sim.violations          # Counter: ws_msgs_per_s, ws_subscribes_per_hour,
                            # ws_channels_per_connection, ws_connections_open,
                            # ws_new_connections_per_5min, rest:<endpoint>
    sim.connections()       # open websockets: id, channels, tickers, subscribe_requests, ...
    sim.drop_connection(i)  # fault "dropone" (-1: a seeded random one); sim.recycle_connections()
                            # closes all at once (fault "recycle", Bitget's 24 h reconnect)
    sim.ticker_pushes       # ticker frames pushed so far

REST: /api/v2/mix/market/tickers, /ticker, /current-fund-rate, /funding-time, /open-interest.
Websocket `ticker` channel: pushed on change at most every `SimLimits.ticker_min_interval_s`
(0.1 s x 1-3) per symbol, busy contracts often, quiet ones rarely (sim/ws.py TickerFeed).

`SimLimits.off()` switches every limit off, `SimLimits.firehose()` also pushes candles as fast as
it can (benchmarks). Modules: market (the candle truth), universe, events, tickers, clock, rest,
ws, faults, limits, server. Never imports textual (the dashboard); ccxt is not needed to run it.
"""

from __future__ import annotations

from scalp_radar.sim.clock import SimClock
from scalp_radar.sim.faults import FAULT_KINDS, FaultInjector, FaultPlan, parse_fault_spec
from scalp_radar.sim.limits import SimLimits
from scalp_radar.sim.server import DEFAULT_SYMBOLS, SimExchange

__all__ = [
    "DEFAULT_SYMBOLS",
    "FAULT_KINDS",
    "FaultInjector",
    "FaultPlan",
    "SimClock",
    "SimExchange",
    "SimLimits",
    "parse_fault_spec",
]
