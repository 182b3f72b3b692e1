"""Per-minute market stats: one executemany per minute in, rows by symbol and time out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

from scalp_radar.core.market_stats import INSERT_MARKET_STAT, SELECT_MARKET_STATS, MarketStatRow
from scalp_radar.core.store.connection import StoreConnection


class MarketStatsQueries(StoreConnection):
    """The `market_stats` table (schema v3)."""

    async def insert_market_stats(self, rows: Sequence[MarketStatRow]) -> int:
        """Store one minute's rows in one executemany; a (symbol, minute) stored twice keeps
        the later values. Returns rows written."""
        if not rows:
            return 0
        batch = [tuple(r) for r in rows]

        async def body(conn: aiosqlite.Connection) -> int:
            await conn.executemany(INSERT_MARKET_STAT, batch)
            return len(batch)

        return await self._write("insert market stats", body)

    async def get_market_stats(
        self, symbol: str | None = None, start: int | None = None, end: int | None = None
    ) -> list[MarketStatRow]:
        """Stored rows (of one symbol, or all) with start <= minute_ms < end, oldest first."""
        params: list[Any] = []
        where = []
        if symbol is not None:
            where.append("symbol = ?")
            params.append(symbol)
        if start is not None:
            where.append("minute_ms >= ?")
            params.append(int(start))
        if end is not None:
            where.append("minute_ms < ?")
            params.append(int(end))
        sql = SELECT_MARKET_STATS + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self._fetchall("get market stats", sql + " ORDER BY minute_ms, symbol", params)
        return [MarketStatRow(*r) for r in rows]
