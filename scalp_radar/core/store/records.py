"""Records besides candles: signals, closed trades, the session state and the incident log."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

import aiosqlite
from pydantic import ValidationError

from scalp_radar.core.models import SessionState, Signal, Trade
from scalp_radar.core.snapshot import Incident
from scalp_radar.core.store.codec import iso
from scalp_radar.core.store.connection import StoreConnection
from scalp_radar.core.store.errors import DatabaseError


class RecordQueries(StoreConnection):
    """Signals, trades, session state and incidents."""

    async def insert_signal(self, signal: Signal) -> int:
        """Store a signal; return its row id. Regime, timeframe and details go to metadata JSON."""
        metadata = json.dumps(
            {
                "regime": signal.regime.value if signal.regime else None,
                "timeframe": signal.timeframe.value if signal.timeframe else None,
                "signals_detail": signal.signals_detail,
            },
            default=str,
        )
        params = (
            iso(signal.timestamp),
            signal.symbol,
            signal.strategy,
            signal.direction.value,
            signal.strength.value,
            signal.score,
            signal.entry_price,
            signal.tp_price,
            signal.sl_price,
            metadata,
        )

        async def body(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(
                "INSERT INTO signals (timestamp, symbol, strategy, direction, strength, score,"
                " entry_price, tp_price, sl_price, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            return int(cur.lastrowid or 0)

        return await self._write("insert signal", body)

    async def insert_trade(self, trade: Trade) -> None:
        """Store a closed trade; a trade id already stored is an error."""
        params = (
            trade.id,
            trade.symbol,
            trade.direction.value,
            trade.entry_price,
            trade.exit_price,
            trade.quantity,
            trade.leverage,
            trade.gross_pnl,
            trade.fee_cost,
            trade.slippage_cost,
            trade.net_pnl,
            iso(trade.entry_time),
            iso(trade.exit_time),
            trade.strategy,
            trade.exit_reason,
        )

        async def body(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO trades (id, symbol, direction, entry_price, exit_price, quantity,"
                " leverage, gross_pnl, fee_cost, slippage_cost, net_pnl, entry_time, exit_time,"
                " strategy, exit_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )

        try:
            await self._write("insert trade", body)
        except DatabaseError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise DatabaseError(
                    f"{self.path}: trade id {trade.id!r} is already stored"
                ) from exc
            raise

    # ---------------------------------------------------------------- session state

    async def save_session_state(self, state: SessionState) -> None:
        """Store the session state, replacing the previous one (there is only ever one row)."""
        positions = json.dumps([p.model_dump(mode="json") for p in state.open_positions])
        params = (
            iso(state.start_time),
            state.total_pnl,
            state.total_trades,
            state.wins,
            state.losses,
            state.max_drawdown,
            int(state.kill_switch_triggered),
            positions,
            iso(datetime.now(UTC)),
        )

        async def body(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO session_state (id, start_time, total_pnl, total_trades, wins, losses,"
                " max_drawdown, kill_switch_triggered, open_positions, updated_at)"
                " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET start_time = excluded.start_time,"
                " total_pnl = excluded.total_pnl, total_trades = excluded.total_trades,"
                " wins = excluded.wins, losses = excluded.losses,"
                " max_drawdown = excluded.max_drawdown,"
                " kill_switch_triggered = excluded.kill_switch_triggered,"
                " open_positions = excluded.open_positions, updated_at = excluded.updated_at",
                params,
            )

        await self._write("save session state", body)

    async def load_session_state(self) -> SessionState | None:
        """The stored session state, or None when none was saved."""
        rows = await self._fetchall(
            "load session state",
            "SELECT start_time, total_pnl, total_trades, wins, losses, max_drawdown,"
            " kill_switch_triggered, open_positions FROM session_state WHERE id = 1",
        )
        if not rows:
            return None
        r = rows[0]
        try:
            return SessionState.model_validate(
                {
                    "start_time": r[0],
                    "total_pnl": r[1],
                    "total_trades": r[2],
                    "wins": r[3],
                    "losses": r[4],
                    "max_drawdown": r[5],
                    "kill_switch_triggered": bool(r[6]),
                    "open_positions": json.loads(r[7]),
                }
            )
        except (ValidationError, ValueError) as exc:
            raise DatabaseError(f"{self.path}: stored session state is invalid: {exc}") from exc

    # ---------------------------------------------------------------- incidents

    async def insert_incidents(self, incidents: Iterable[Incident]) -> int:
        """Append incidents; return how many."""
        rows = [
            (
                int(i.at_ms),
                str(i.kind),
                i.symbol,
                None if i.timeframe is None else str(i.timeframe),
                str(i.message),
                None if i.duration_s is None else float(i.duration_s),
            )
            for i in incidents
        ]
        if not rows:
            return 0

        async def body(conn: aiosqlite.Connection) -> int:
            await conn.executemany(
                "INSERT INTO incidents (at_ms, kind, symbol, timeframe, message, duration_s)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            return len(rows)

        return await self._write("insert incidents", body)

    async def get_incidents(self, limit: int = 100) -> list[Incident]:
        """The newest incidents first, at most `limit`."""
        rows = await self._fetchall(
            "get incidents",
            "SELECT at_ms, kind, symbol, timeframe, message, duration_s FROM incidents"
            " ORDER BY at_ms DESC, id DESC LIMIT ?",
            (int(limit),),
        )
        return [
            Incident(
                at_ms=r[0], kind=r[1], symbol=r[2], timeframe=r[3], message=r[4], duration_s=r[5]
            )
            for r in rows
        ]
