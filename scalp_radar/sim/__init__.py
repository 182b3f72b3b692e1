"""The offline Bitget twin: a simulated exchange on 127.0.0.1 that real ccxt.pro talks to.

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
