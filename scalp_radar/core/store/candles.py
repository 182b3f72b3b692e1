"""Candle storage: batched writes (ignore, replace or update-if-changed), range reads, coverage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite
from pydantic import ValidationError

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.store.codec import (
    CANDLE_COLS,
    as_timeframe,
    candle_rows,
    first_invalid,
    to_candles,
)
from scalp_radar.core.store.connection import StoreConnection
from scalp_radar.core.store.errors import DatabaseError

_INSERT = (
    "INSERT OR IGNORE INTO candles (symbol, timeframe, timestamp, open, high, low, close, volume,"
    " vwap, mark_price) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_REPLACE = "INSERT OR REPLACE" + _INSERT.removeprefix("INSERT OR IGNORE")
# Rewrites a stored row only when a value differs (IS NOT: NULL-aware), so the number of rows
# it changes is the number of stored candles that were wrong.
_UPDATE_CHANGED = (
    "UPDATE candles SET open = ?4, high = ?5, low = ?6, close = ?7, volume = ?8, vwap = ?9,"
    " mark_price = ?10 WHERE symbol = ?1 AND timeframe = ?2 AND timestamp = ?3"
    " AND (open, high, low, close, volume, vwap, mark_price)"
    " IS NOT (?4, ?5, ?6, ?7, ?8, ?9, ?10)"
)


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """What is stored for one (symbol, timeframe): first and last open time (ms) and row count."""

    symbol: str
    timeframe: TimeFrame | str
    first_ts: int
    last_ts: int
    count: int


@dataclass(frozen=True, slots=True)
class CandleWrites:
    """What an update-if-changed write did: new candles inserted, stored candles changed."""

    inserted: int = 0
    changed: int = 0


def _range_clause(start: int | None, end: int | None, params: list[Any]) -> str:
    """SQL for start <= timestamp < end, appending to params."""
    sql = ""
    if start is not None:
        sql += " AND timestamp >= ?"
        params.append(int(start))
    if end is not None:
        sql += " AND timestamp < ?"
        params.append(int(end))
    return sql


class CandleQueries(StoreConnection):
    """The candle table's reads and writes."""

    async def insert_candles_batch(self, candles: Sequence[Candle]) -> int:
        """Store candles in one transaction, ignoring ones already stored; return rows inserted."""
        return await self._write_candles(candles, _INSERT, "insert candles")

    async def replace_candles(self, candles: Sequence[Candle]) -> int:
        """Store candles in one transaction, replacing stored rows of the same key (a later,
        authoritative state of a candle); return rows written. Atomic: a crash leaves either
        the old rows or the new ones, never neither."""
        return await self._write_candles(candles, _REPLACE, "replace candles")

    async def update_candles(self, candles: Sequence[Candle]) -> CandleWrites:
        """Store candles in one transaction: new ones inserted, stored ones whose values differ
        rewritten, equal ones untouched; say how many of each."""
        if not candles:
            return CandleWrites()

        async def body(conn: aiosqlite.Connection) -> CandleWrites:
            before = conn.total_changes
            await conn.executemany(_INSERT, candle_rows(candles))
            inserted = conn.total_changes - before
            await conn.executemany(_UPDATE_CHANGED, candle_rows(candles))
            return CandleWrites(inserted, conn.total_changes - before - inserted)

        try:
            return await self._write("update candles", body)
        except (AttributeError, KeyError) as exc:
            raise TypeError(
                f"update_candles expects Candle objects ({exc}); nothing was stored"
            ) from exc

    async def _write_candles(self, candles: Sequence[Candle], sql: str, what: str) -> int:
        """Run `sql` over candles in one transaction (`what` names it in errors); rows changed."""
        if not candles:
            return 0

        async def body(conn: aiosqlite.Connection) -> int:
            before = conn.total_changes
            await conn.executemany(sql, candle_rows(candles))
            return conn.total_changes - before

        try:
            return await self._write(what, body)
        except (AttributeError, KeyError) as exc:
            # Raised by the row generator: the batch (rolled back) held something else.
            name = what.replace(" ", "_")
            name = "insert_candles_batch" if name == "insert_candles" else name
            raise TypeError(f"{name} expects Candle objects ({exc}); nothing was stored") from exc

    async def get_candles(
        self,
        symbol: str,
        timeframe: TimeFrame | str,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
        *,
        newest: bool = False,
        validate: bool = False,
    ) -> list[Candle]:
        """Candles in [start, end) ascending; `limit` keeps the oldest, or the newest if asked.

        Rows are built without re-validation (they were validated Candles when inserted, the only
        way in); `validate=True` re-checks every row, ~3x slower, e.g. for a database check.
        """
        tf = as_timeframe(timeframe)
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        params: list[Any] = [symbol, tf.value]
        sql = f"SELECT {CANDLE_COLS} FROM candles WHERE symbol = ? AND timeframe = ?"
        sql += _range_clause(start, end, params)
        sql += " ORDER BY timestamp DESC" if newest else " ORDER BY timestamp ASC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = await self._fetchall("get candles", sql, params)
        if newest:
            rows.reverse()
        try:
            return to_candles(symbol, tf, rows, validate)
        except ValidationError as exc:
            bad = first_invalid(symbol, tf, rows)
            raise DatabaseError(
                f"{self.path}: stored candle {symbol} {tf.value} {bad[0]} is invalid: "
                f"{exc.errors()[0]['msg']}"
            ) from exc

    async def get_latest_candle_timestamp(
        self, symbol: str, timeframe: TimeFrame | str
    ) -> int | None:
        """Open time (ms) of the newest stored candle, or None."""
        tf = as_timeframe(timeframe)
        rows = await self._fetchall(
            "get latest candle",
            "SELECT MAX(timestamp) FROM candles WHERE symbol = ? AND timeframe = ?",
            (symbol, tf.value),
        )
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    async def get_candle_timestamps(
        self, symbol: str, timeframe: TimeFrame | str, start: int, end: int
    ) -> list[int]:
        """Stored open times (ms) in [start, end), ascending; for finding holes."""
        tf = as_timeframe(timeframe)
        params: list[Any] = [symbol, tf.value]
        sql = "SELECT timestamp FROM candles WHERE symbol = ? AND timeframe = ?"
        sql += _range_clause(start, end, params) + " ORDER BY timestamp ASC"
        rows = await self._fetchall("get candle timestamps", sql, params)
        return [int(r[0]) for r in rows]

    async def delete_candles(
        self,
        symbol: str | None = None,
        timeframe: TimeFrame | str | None = None,
        start: int | None = None,
        end: int | None = None,
        *,
        timestamps: Sequence[int] | None = None,
    ) -> int:
        """Delete candles matching every given filter (none given: all); return rows deleted.

        `timestamps` (with symbol and timeframe) deletes exactly those open times.
        """
        params: list[Any] = []
        sql = "DELETE FROM candles WHERE 1 = 1"
        if symbol is not None:
            sql += " AND symbol = ?"
            params.append(symbol)
        if timeframe is not None:
            sql += " AND timeframe = ?"
            params.append(as_timeframe(timeframe).value)
        sql += _range_clause(start, end, params)
        if timestamps is not None:
            sql += f" AND timestamp IN ({', '.join('?' * len(timestamps)) or 'NULL'})"
            params.extend(int(ts) for ts in timestamps)

        async def body(conn: aiosqlite.Connection) -> int:
            before = conn.total_changes
            await conn.execute(sql, params)
            return conn.total_changes - before

        return await self._write("delete candles", body)

    async def get_coverage(self) -> list[CoverageRow]:
        """First/last open time and count per stored (symbol, timeframe); by symbol, then duration."""
        rows = await self._fetchall(
            "get coverage",
            "SELECT symbol, timeframe, MIN(timestamp), MAX(timestamp), COUNT(*) FROM candles"
            " GROUP BY symbol, timeframe",
        )
        known = {tf.value: tf for tf in TimeFrame}
        out = [
            CoverageRow(
                symbol=str(r[0]),
                timeframe=known.get(r[1], str(r[1])),
                first_ts=int(r[2]),
                last_ts=int(r[3]),
                count=int(r[4]),
            )
            for r in rows
        ]
        # "1m" before "5m" before "1h", not text order; unknown timeframes last.
        out.sort(
            key=lambda c: (
                c.symbol,
                c.timeframe.to_milliseconds() if isinstance(c.timeframe, TimeFrame) else 1 << 62,
                str(c.timeframe),
            )
        )
        return out
