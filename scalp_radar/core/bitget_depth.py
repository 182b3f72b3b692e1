"""Bitget's documented depth of the recent `/candles` endpoint (contract Get-Candle-Data).

One table for the planner (which endpoint a window goes to) and the simulator (what it serves).
"""

from __future__ import annotations

# Days back from now the recent endpoint serves, per ccxt timeframe. Absent = undocumented:
# the planner then follows ccxt alone, the simulator serves without a depth limit.
RECENT_CANDLES_DEPTH_DAYS: dict[str, int] = {
    "1m": 30,
    "3m": 30,
    "5m": 30,
    "15m": 52,
    "30m": 62,
    "1h": 83,
    "2h": 120,
    "4h": 240,
    "6h": 360,
}
