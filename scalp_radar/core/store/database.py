"""Database: the SQLite store (aiosqlite, WAL) of candles, signals, trades, session, incidents
and per-minute market stats."""

from __future__ import annotations

from scalp_radar.core.store.candles import CandleQueries
from scalp_radar.core.store.market_stats import MarketStatsQueries
from scalp_radar.core.store.records import RecordQueries


class Database(CandleQueries, RecordQueries, MarketStatsQueries):
    """The SQLite store; `await init()` before use, `await close()` after (or `async with`).

    Opening decides ownership read-only first (core.store.ownership): another application's
    file, a corrupt one or a directory is refused with one line and left untouched.
    """
