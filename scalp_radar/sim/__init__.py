"""The offline Bitget twin: a simulated exchange on 127.0.0.1 that real ccxt.pro talks to.

    async with SimExchange(symbols, seed=42, speed=60, limits=SimLimits()) as sim:
        ex = create_exchange(config, sim.url)          # scalp_radar.exchange.factory
        sim.truth("BTC/USDT:USDT", "5m", start, end)   # closed candles, [ts, o, h, l, c, v]
        sim.faults.inject("drop")                      # or .schedule(kind, at_s) / .random(kind)

`SimLimits.off()` switches every limit off, `SimLimits.firehose()` also pushes as fast as it can
(benchmarks). Modules: market (the candle truth), clock, rest, ws, faults, limits, server, cli.
Never imports textual (the dashboard); ccxt is not needed to run it.
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
