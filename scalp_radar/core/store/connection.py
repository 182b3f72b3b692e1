"""The store's connection: opening (ownership first), WAL, migrations, and one-transaction writes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import aiosqlite
from loguru import logger

from scalp_radar.core.store.errors import DatabaseError
from scalp_radar.core.store.ownership import check_database_file, readonly_uri, stamp_problem
from scalp_radar.core.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

T = TypeVar("T")
Body = Callable[[aiosqlite.Connection], Awaitable[T]]


class StoreConnection:
    """One aiosqlite connection; `await init()` before use, `await close()` after (or `async with`).

    Use one instance from one event loop. Writes are serialised by a lock, each in its own
    transaction; other processes and instances may read (WAL) and write (busy_timeout) too.
    `read_only=True` opens an existing database without writing anything to it (no WAL switch,
    no migration), also when the file or its directory is read-only.
    """

    def __init__(
        self, path: Path | str, *, busy_timeout_ms: int = 5000, read_only: bool = False
    ) -> None:
        self.memory = str(path) == ":memory:"
        self.path = Path(path) if not self.memory else Path(":memory:")
        self.busy_timeout_ms = int(busy_timeout_ms)
        self.read_only = read_only
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, open={self._conn is not None})"

    async def __aenter__(self) -> Self:
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
        """Open; read-write also creates directories and file, enables WAL and migrates."""
        if self._conn is not None:
            return
        target = ":memory:"
        if not self.memory:
            # Ownership and soundness are decided read-only, before any statement that writes.
            version = await asyncio.to_thread(check_database_file, self.path)
            if self.read_only:
                if version is None:
                    raise DatabaseError(
                        f"{self.path}: no database there; expected an existing scalp-radar "
                        "database (`scalp-radar backfill` or a run creates one)"
                    )
                target = readonly_uri(self.path)
            else:
                self._prepare_directory()
                target = str(self.path)
        try:
            conn = await aiosqlite.connect(target, isolation_level=None, uri=self.read_only)
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.path}: cannot open database: {exc}") from exc
        try:
            await self._setup(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        logger.debug("database {} open (schema v{})", self.path, SCHEMA_VERSION)

    def _prepare_directory(self) -> None:
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(
                f"{self.path}: cannot create directory {parent}: {exc.strerror or exc}"
            ) from exc
        if not parent.is_dir():
            raise DatabaseError(f"{self.path}: {parent} is not a directory")

    async def _setup(self, conn: aiosqlite.Connection) -> None:
        try:
            await conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            if self.read_only:
                return
            version = await self._check_stamp(conn)
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

    async def _check_stamp(self, conn: aiosqlite.Connection) -> int:
        """The schema version, re-read on this connection (another process may have migrated)."""
        version = await self._pragma_int(conn, "user_version")
        problem = stamp_problem(self.path, await self._pragma_int(conn, "application_id"), version)
        if problem:
            raise DatabaseError(problem)
        return version

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        # IMMEDIATE takes the write lock first, so two processes starting together cannot both
        # migrate; the version is re-read under the lock.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            version = await self._check_stamp(conn)
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

    async def _write(self, what: str, body: Body[T]) -> T:
        """Run body in one transaction under the write lock; return its result.

        Shielded: a cancelled caller must not leave the shared connection inside a transaction,
        so the transaction finishes (committed or rolled back) before the cancellation goes on;
        a caller that stops cancelled knows its write is settled (the backfill relies on it).
        """
        if self.read_only:
            raise DatabaseError(f"{self.path}: {what}: database opened read-only")
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

    async def _locked_write(self, what: str, body: Body[T]) -> T:
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

    async def _fetchall(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        conn = self._db()
        try:
            return list(await conn.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.path}: {what} failed: {exc}") from exc
