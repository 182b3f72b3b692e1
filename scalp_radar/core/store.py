"""Async SQLite store (aiosqlite, WAL): candles, signals, trades, session state and incidents.

The schema is versioned with `PRAGMA user_version` and grows only through `MIGRATIONS`, in order.
Incidents are written from any object with the `Incident` attributes and read back as
`scalp_radar.core.snapshot.Incident`, imported lazily so `core` never imports `market` at load.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import aiosqlite
from loguru import logger
from pydantic import ValidationError

from scalp_radar.core.models import Candle, SessionState, Signal, TimeFrame, Trade

if TYPE_CHECKING:
    from scalp_radar.core.snapshot import Incident

T = TypeVar("T")

SQLITE_HEADER = b"SQLite format 3\x00"

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
]
SCHEMA_VERSION = len(MIGRATIONS)
# Stamped in the file header by the first migration; "SRAD". A database stamped by another
# application is refused.
APPLICATION_ID = 0x53524144
_OUR_TABLES = {"candles", "signals", "trades", "session_state", "incidents"}

_INSERT_CANDLE = (
    "INSERT OR IGNORE INTO candles (symbol, timeframe, timestamp, open, high, low, close, volume,"
    " vwap, mark_price) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_REPLACE_CANDLE = "INSERT OR REPLACE" + _INSERT_CANDLE.removeprefix("INSERT OR IGNORE")
_CANDLE_COLS = "timestamp, open, high, low, close, volume, vwap, mark_price"


class DatabaseError(Exception):
    """A store failure; str() is one line naming the database path."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """What is stored for one (symbol, timeframe): first and last open time (ms) and row count."""

    symbol: str
    timeframe: TimeFrame | str
    first_ts: int
    last_ts: int
    count: int


class IncidentLike(Protocol):
    """Anything with the attributes of `market.snapshot.Incident`."""

    # Read-only members, so frozen dataclasses (Incident) match.
    @property
    def at_ms(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def symbol(self) -> str | None: ...
    @property
    def timeframe(self) -> str | None: ...
    @property
    def message(self) -> str: ...
    @property
    def duration_s(self) -> float | None: ...


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_we_disabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while bulk-building acyclic objects; nests across tasks and threads.

    Building 100k rows and models otherwise triggers hundreds of generational passes over a
    growing list (~40% of the time). Reference counting still frees everything meanwhile; the
    pause spans one fetch (other tasks run during it) and the deferred pass runs right after.
    """
    global _gc_pauses, _gc_we_disabled
    with _gc_lock:
        if _gc_pauses == 0 and gc.isenabled():
            gc.disable()
            _gc_we_disabled = True
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_we_disabled:
                _gc_we_disabled = False
                gc.enable()


_CANDLE_FIELDS = frozenset(Candle.model_fields)
_TF_TEXT: dict[TimeFrame, str] = {tf: tf.value for tf in TimeFrame}
_CANDLE_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume", "vwap", "mark_price")
_validated_candle: Callable[[dict[str, Any]], Candle] = (
    Candle.__pydantic_validator__.validate_python
)
_new = object.__new__
_set = object.__setattr__
_trusted_maker: Callable[[dict[str, Any]], Candle] | None = None


def _construct_candle(values: dict[str, Any]) -> Candle:
    """Candle.model_construct for a full dict of field values, minus its generic per-field loop.

    Sets the same four attributes model_construct sets for a model without aliases, extras or
    post-init hooks.
    """
    candle = _new(Candle)
    _set(candle, "__dict__", values)
    _set(candle, "__pydantic_fields_set__", set(_CANDLE_FIELDS))
    _set(candle, "__pydantic_extra__", None)
    _set(candle, "__pydantic_private__", None)
    return candle


def _trusted_candle_maker() -> Callable[[dict[str, Any]], Candle]:
    """The fast constructor if it behaves exactly like a validated Candle here, else model_construct.

    Checked once, so a future pydantic cannot silently break it.
    """
    global _trusted_maker
    if _trusted_maker is None:
        values: dict[str, Any] = {
            "symbol": "X",
            "timeframe": TimeFrame.M1,
            "timestamp": 60_000,
            "open": 2.0,
            "high": 3.0,
            "low": 1.0,
            "close": 2.5,
            "volume": 4.0,
            "vwap": 2.0,
            "mark_price": None,
        }
        reference = Candle(**values)
        fast = _construct_candle(dict(values))
        simple_model = not Candle.__pydantic_post_init__ and all(
            f.alias is None and f.validation_alias is None for f in Candle.model_fields.values()
        )
        if (
            simple_model
            and fast == reference
            and hash(fast) == hash(reference)
            and repr(fast) == repr(reference)
            and fast.model_dump() == reference.model_dump()
            and fast.model_fields_set == reference.model_fields_set
        ):
            _trusted_maker = _construct_candle
        else:  # pragma: no cover - depends on the pydantic version
            logger.debug("fast Candle construction unavailable; using model_construct")
            _trusted_maker = lambda v: Candle.model_construct(**v)  # noqa: E731
    return _trusted_maker


def _valid_row(symbol: str, tf: TimeFrame, row: Sequence[Any]) -> bool:
    try:
        Candle(symbol=symbol, timeframe=tf, **dict(zip(_CANDLE_COLUMNS, row, strict=True)))
    except ValidationError:
        return False
    return True


def _as_timeframe(timeframe: TimeFrame | str) -> TimeFrame:
    return timeframe if isinstance(timeframe, TimeFrame) else TimeFrame.from_string(timeframe)


def _iso(dt: datetime) -> str:
    """ISO 8601 in UTC; naive datetimes are taken as UTC."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.isoformat()


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


def check_database_file(path: Path) -> None:
    """Raise DatabaseError unless path is absent, empty or starts with the SQLite header.

    Reads at most 16 bytes and never opens the file with sqlite, which could write to it.
    """
    if not path.exists():
        return
    if path.is_dir():
        raise DatabaseError(f"{path}: not a SQLite database (it is a directory)")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if head and head != SQLITE_HEADER:
        raise DatabaseError(
            f"{path}: not a SQLite database (header {head[:16]!r}); "
            "refusing to open it, choose another database path"
        )


class Database:
    """The SQLite store; `await init()` before use, `await close()` after (or `async with`).

    Use one instance from one event loop. Writes are serialised by a lock, each in its own
    transaction; other processes and instances may read (WAL) and write (busy_timeout) too.
    """

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 5000) -> None:
        self.memory = str(path) == ":memory:"
        self.path = Path(path) if not self.memory else Path(":memory:")
        self.busy_timeout_ms = int(busy_timeout_ms)
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r}, open={self._conn is not None})"

    async def __aenter__(self) -> Database:
        await self.init()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---------------------------------------------------------------- lifecycle

    async def init(self) -> None:
        """Open (creating directories and file), enable WAL and bring the schema up to date."""
        if self._conn is not None:
            return
        if not self.memory:
            self._prepare_path()
        try:
            conn = await aiosqlite.connect(str(self.path), isolation_level=None)
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.path}: cannot open database: {exc}") from exc
        try:
            await self._setup(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        logger.debug("database {} open (schema v{})", self.path, SCHEMA_VERSION)

    def _prepare_path(self) -> None:
        path = self.path
        check_database_file(path)
        parent = path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(
                f"{path}: cannot create directory {parent}: {exc.strerror or exc}"
            ) from exc
        if not parent.is_dir():
            raise DatabaseError(f"{path}: {parent} is not a directory")

    async def _setup(self, conn: aiosqlite.Connection) -> None:
        try:
            await conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            # Every check reads only, before anything that could write: a database this code
            # must not touch is left exactly as it was.
            version = await self._check_ownership(conn)
            if not self.memory:
                cur = await conn.execute("PRAGMA journal_mode = WAL")
                row = await cur.fetchone()
                if row is None or str(row[0]).lower() != "wal":
                    raise DatabaseError(f"{self.path}: cannot enable WAL (got {row and row[0]})")
            # NORMAL is durable across application crashes in WAL mode (only power loss can drop
            # the last commits), and much faster than FULL.
            await conn.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                await self._migrate(conn)
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.path}: cannot open database: {exc}") from exc

    async def _pragma_int(self, conn: aiosqlite.Connection, name: str) -> int:
        cur = await conn.execute(f"PRAGMA {name}")
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _check_ownership(self, conn: aiosqlite.Connection) -> int:
        """Return the schema version; refuse a newer schema or another application's database."""
        version = await self._pragma_int(conn, "user_version")
        app_id = await self._pragma_int(conn, "application_id")
        if app_id not in (0, APPLICATION_ID):
            raise DatabaseError(
                f"{self.path}: SQLite database of another application (application_id "
                f"{app_id:#x}); refusing to modify it, choose another database path"
            )
        if version > SCHEMA_VERSION:
            raise DatabaseError(
                f"{self.path}: schema version {version} is newer than this scalp-radar knows "
                f"({SCHEMA_VERSION}); upgrade scalp-radar or use another database"
            )
        if version == 0:
            # Unversioned: empty, or the seed's tables. Anything else belongs to someone else.
            rows = await conn.execute_fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
            foreign = sorted({r[0] for r in rows} - _OUR_TABLES)
            if foreign:
                raise DatabaseError(
                    f"{self.path}: SQLite database with unknown tables ({', '.join(foreign[:5])}); "
                    "refusing to modify it, choose another database path"
                )
        return version

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        # IMMEDIATE takes the write lock first, so two processes starting together cannot both
        # migrate; the version is re-read under the lock.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            version = await self._check_ownership(conn)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target - 1]:
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {target}")
            if version < SCHEMA_VERSION:
                await conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        if version == 0:
            logger.info("database {}: schema v{} created", self.path, SCHEMA_VERSION)
        elif version < SCHEMA_VERSION:
            logger.info(
                "database {}: schema migrated from v{} to v{}", self.path, version, SCHEMA_VERSION
            )

    async def close(self) -> None:
        """Wait for pending writes, then close; safe to call twice."""
        if self._conn is None:
            return
        async with self._write_lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()

    @property
    def is_open(self) -> bool:
        """True between init() and close()."""
        return self._conn is not None

    def _db(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise DatabaseError(f"{self.path}: database is not open (call await db.init())")
        return self._conn

    # ---------------------------------------------------------------- plumbing

    async def _write(self, what: str, body: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run body in one transaction under the write lock; return its result.

        Shielded: a cancelled caller must not leave the shared connection inside a transaction,
        so the transaction finishes (committed or rolled back) before the cancellation goes on;
        a caller that stops cancelled knows its write is settled (the backfill relies on it).
        """
        task = asyncio.ensure_future(self._locked_write(what, body))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(self._log_orphan_failure)
            await asyncio.wait({task})  # a second cancellation leaves it to finish on its own
            raise

    @staticmethod
    def _log_orphan_failure(task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.warning(
                "database write finished after its caller was cancelled: {}", task.exception()
            )

    async def _locked_write(
        self, what: str, body: Callable[[aiosqlite.Connection], Awaitable[T]]
    ) -> T:
        async with self._write_lock:
            conn = self._db()
            try:
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    result = await body(conn)
                    await conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        await conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise DatabaseError(f"{self.path}: {what} failed: {exc}") from exc
            return result

    async def _fetchall(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        conn = self._db()
        try:
            return list(await conn.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.path}: {what} failed: {exc}") from exc

    # ---------------------------------------------------------------- candles

    async def insert_candles_batch(self, candles: Sequence[Candle]) -> int:
        """Store candles in one transaction, ignoring ones already stored; return rows inserted."""
        return await self._write_candles(
            candles, _INSERT_CANDLE, "insert candles", "insert_candles_batch"
        )

    async def replace_candles(self, candles: Sequence[Candle]) -> int:
        """Store candles in one transaction, replacing stored rows of the same key (a later,
        authoritative state of a candle); return rows written. Atomic: a crash leaves either
        the old rows or the new ones, never neither."""
        return await self._write_candles(
            candles, _REPLACE_CANDLE, "replace candles", "replace_candles"
        )

    async def _write_candles(
        self, candles: Sequence[Candle], sql: str, what: str, name: str
    ) -> int:
        """Run `sql` over candles in one transaction (`what` names it in errors); rows changed."""
        if not candles:
            return 0
        # Attribute access only (no model_dump): candles are validated frozen models already.
        # Timeframes bound as exact str (a StrEnum goes through sqlite3's adapter lookup: +20%).
        # A generator, consumed by executemany on the connection's thread: each tuple dies right
        # after binding, so no big list for the cyclic GC to walk and no event-loop stall.
        tf_text = _TF_TEXT
        rows = (
            (
                c.symbol,
                tf_text[c.timeframe],
                c.timestamp,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
                c.vwap,
                c.mark_price,
            )
            for c in candles
        )

        async def body(conn: aiosqlite.Connection) -> int:
            before = conn.total_changes
            await conn.executemany(sql, rows)
            return conn.total_changes - before

        try:
            return await self._write(what, body)
        except (AttributeError, KeyError) as exc:
            # Raised by the row generator: the batch (rolled back) held something else.
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
        tf = _as_timeframe(timeframe)
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        params: list[Any] = [symbol, tf.value]
        sql = f"SELECT {_CANDLE_COLS} FROM candles WHERE symbol = ? AND timeframe = ?"
        sql += _range_clause(start, end, params)
        sql += " ORDER BY timestamp DESC" if newest else " ORDER BY timestamp ASC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with _gc_paused():
            rows = await self._fetchall("get candles", sql, params)
            if newest:
                rows.reverse()
            return self._to_candles(symbol, tf, rows, validate)

    def _to_candles(
        self, symbol: str, tf: TimeFrame, rows: list[Any], validate: bool
    ) -> list[Candle]:
        """Candle models from (timestamp, o, h, l, c, v, vwap, mark) rows."""
        make = _validated_candle if validate else _trusted_candle_maker()
        try:
            return [
                make(
                    {
                        "symbol": symbol,
                        "timeframe": tf,
                        "timestamp": r[0],
                        "open": r[1],
                        "high": r[2],
                        "low": r[3],
                        "close": r[4],
                        "volume": r[5],
                        "vwap": r[6],
                        "mark_price": r[7],
                    }
                )
                for r in rows
            ]
        except ValidationError as exc:
            bad = next(r for r in rows if not _valid_row(symbol, tf, r))
            raise DatabaseError(
                f"{self.path}: stored candle {symbol} {tf.value} {bad[0]} is invalid: "
                f"{exc.errors()[0]['msg']}"
            ) from exc

    async def get_latest_candle_timestamp(
        self, symbol: str, timeframe: TimeFrame | str
    ) -> int | None:
        """Open time (ms) of the newest stored candle, or None."""
        tf = _as_timeframe(timeframe)
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
        tf = _as_timeframe(timeframe)
        params: list[Any] = [symbol, tf.value]
        sql = "SELECT timestamp FROM candles WHERE symbol = ? AND timeframe = ?"
        sql += _range_clause(start, end, params) + " ORDER BY timestamp ASC"
        rows = await self._fetchall("get candle timestamps", sql, params)
        return [r[0] for r in rows]

    async def delete_candles(
        self,
        symbol: str | None = None,
        timeframe: TimeFrame | str | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> int:
        """Delete candles matching every given filter (none given: all); return rows deleted."""
        params: list[Any] = []
        sql = "DELETE FROM candles WHERE 1 = 1"
        if symbol is not None:
            sql += " AND symbol = ?"
            params.append(symbol)
        if timeframe is not None:
            sql += " AND timeframe = ?"
            params.append(_as_timeframe(timeframe).value)
        sql += _range_clause(start, end, params)

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
                symbol=r[0],
                timeframe=known.get(r[1], r[1]),
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

    # ---------------------------------------------------------------- signals and trades

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
            _iso(signal.timestamp),
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
            _iso(trade.entry_time),
            _iso(trade.exit_time),
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
            _iso(state.start_time),
            state.total_pnl,
            state.total_trades,
            state.wins,
            state.losses,
            state.max_drawdown,
            int(state.kill_switch_triggered),
            positions,
            _iso(datetime.now(UTC)),
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

    async def insert_incidents(self, incidents: Iterable[IncidentLike]) -> int:
        """Append incidents (any objects with Incident's attributes); return how many."""
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
        # Lazy import: core must not depend on market at import time (layering).
        from scalp_radar.core.snapshot import Incident

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
