"""Per-minute market stats: one row per symbol per minute (funding and OI history for backtests).

The table is created by the store's migration path (core/store.py MIGRATIONS appends
`MARKET_STATS_MIGRATION`); writes are one executemany per minute.
"""

from __future__ import annotations

from typing import NamedTuple

MARKET_STATS_MIGRATION: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS market_stats (
        symbol TEXT NOT NULL,
        minute_ms INTEGER NOT NULL,
        last REAL NOT NULL,
        mark REAL,
        idx REAL,
        bid REAL,
        ask REAL,
        funding_rate REAL,
        open_interest REAL,
        quote_volume_24h REAL,
        PRIMARY KEY (symbol, minute_ms)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS idx_market_stats_minute ON market_stats (minute_ms)",
)

INSERT_MARKET_STAT = (
    "INSERT OR REPLACE INTO market_stats (symbol, minute_ms, last, mark, idx, bid, ask,"
    " funding_rate, open_interest, quote_volume_24h) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_MARKET_STATS = (
    "SELECT symbol, minute_ms, last, mark, idx, bid, ask, funding_rate, open_interest,"
    " quote_volume_24h FROM market_stats"
)


class MarketStatRow(NamedTuple):
    """One symbol's state at the end of one minute (None where the exchange gave nothing)."""

    symbol: str
    minute_ms: int
    last: float
    mark: float | None
    index_price: float | None
    bid: float | None
    ask: float | None
    funding_rate: float | None
    open_interest: float | None
    quote_volume_24h: float | None
