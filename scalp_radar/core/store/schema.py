"""The schema: versioned with `PRAGMA user_version`, grown only through `MIGRATIONS`, in order."""

from __future__ import annotations

import sqlite3

from scalp_radar.core.market_stats import MARKET_STATS_MIGRATION

# Each entry upgrades the schema by one version: MIGRATIONS[0] takes user_version 0 to 1, etc.
# Never edit a released entry; append a new one.
MIGRATIONS: list[tuple[str, ...]] = [
    # v1: the seed's four tables.
    (
        """CREATE TABLE IF NOT EXISTS candles (
            symbol TEXT NOT NULL,
            timeframe TEXT NOT NULL,
            timestamp INTEGER NOT NULL,
            open REAL NOT NULL,
            high REAL NOT NULL,
            low REAL NOT NULL,
            close REAL NOT NULL,
            volume REAL NOT NULL,
            vwap REAL,
            mark_price REAL,
            PRIMARY KEY (symbol, timeframe, timestamp)
        ) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS signals (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            timestamp TEXT NOT NULL,
            symbol TEXT NOT NULL,
            strategy TEXT NOT NULL,
            direction TEXT NOT NULL,
            strength TEXT NOT NULL,
            score REAL NOT NULL,
            entry_price REAL NOT NULL,
            tp_price REAL NOT NULL,
            sl_price REAL NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX IF NOT EXISTS idx_signals_symbol_ts ON signals (symbol, timestamp)",
        """CREATE TABLE IF NOT EXISTS trades (
            id TEXT PRIMARY KEY,
            symbol TEXT NOT NULL,
            direction TEXT NOT NULL,
            entry_price REAL NOT NULL,
            exit_price REAL NOT NULL,
            quantity REAL NOT NULL,
            leverage INTEGER NOT NULL,
            gross_pnl REAL NOT NULL,
            fee_cost REAL NOT NULL,
            slippage_cost REAL NOT NULL,
            net_pnl REAL NOT NULL,
            entry_time TEXT NOT NULL,
            exit_time TEXT NOT NULL,
            strategy TEXT,
            exit_reason TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS idx_trades_symbol_exit ON trades (symbol, exit_time)",
        """CREATE TABLE IF NOT EXISTS session_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            start_time TEXT NOT NULL,
            total_pnl REAL NOT NULL,
            total_trades INTEGER NOT NULL,
            wins INTEGER NOT NULL,
            losses INTEGER NOT NULL,
            max_drawdown REAL NOT NULL,
            kill_switch_triggered INTEGER NOT NULL,
            open_positions TEXT NOT NULL DEFAULT '[]',
            updated_at TEXT NOT NULL
        )""",
    ),
    # v2: the engine's incident log.
    (
        """CREATE TABLE IF NOT EXISTS incidents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at_ms INTEGER NOT NULL,
            kind TEXT NOT NULL,
            symbol TEXT,
            timeframe TEXT,
            message TEXT NOT NULL,
            duration_s REAL
        )""",
        "CREATE INDEX IF NOT EXISTS idx_incidents_at ON incidents (at_ms)",
    ),
    # v3: the radar's per-minute market stats (core/market_stats.py).
    MARKET_STATS_MIGRATION,
]
SCHEMA_VERSION = len(MIGRATIONS)
# Stamped in the file header by the first migration; "SRAD". A database stamped by another
# application is refused.
APPLICATION_ID = 0x53524144

Columns = tuple[tuple[str, str, int, str | None, int], ...]


def _reference_columns() -> list[dict[str, Columns]]:
    """Per schema version, each table's columns (name, type, notnull, default, pk) as SQLite
    reports them, built by running the migrations on an in-memory database."""
    conn = sqlite3.connect(":memory:")
    try:
        out: list[dict[str, Columns]] = [{}]
        for statements in MIGRATIONS:
            for statement in statements:
                conn.execute(statement)
            out.append({name: table_columns(conn, name) for name in table_names(conn)})
        return out
    finally:
        conn.close()


def table_names(conn: sqlite3.Connection) -> set[str]:
    """Names of the user tables (sqlite's own excluded)."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {str(r[0]) for r in rows}


def table_columns(conn: sqlite3.Connection, table: str) -> Columns:
    """(name, declared type, notnull, default, pk position) of each column of `table`."""
    rows = conn.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    return tuple((str(r[1]), str(r[2]).upper(), int(r[3]), r[4], int(r[5])) for r in rows)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# EXPECTED[v]: the tables (and their columns) a database at schema version v holds.
EXPECTED: list[dict[str, Columns]] = _reference_columns()
