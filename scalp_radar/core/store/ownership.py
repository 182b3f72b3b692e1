"""Is this file ours to open? Decided read-only, before any statement that could write.

A path is usable when it is absent, an empty file, an empty SQLite database, or a sound SQLite
database holding exactly scalp-radar's tables. Anything else (a directory, a symlink loop, another
application's file, a corrupt file) is refused with one line naming the file and what was
expected, and its bytes stay as they were: the file is read through its header bytes and a
read-only (`mode=ro` or `immutable=1`) connection only.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from scalp_radar.core.store.errors import DatabaseError
from scalp_radar.core.store.schema import (
    APPLICATION_ID,
    EXPECTED,
    SCHEMA_VERSION,
    Columns,
    table_columns,
    table_names,
)

SQLITE_HEADER = b"SQLite format 3\x00"
_HEADER_SIZE = 100
_REFUSE = "refusing to modify it, choose another database path"


@dataclass(frozen=True, slots=True)
class Header:
    """The stamp in a SQLite file's header (sqlite.org/fileformat); a -wal may hold newer."""

    user_version: int
    application_id: int


def wal_path(path: Path) -> Path:
    """The write-ahead log beside `path`."""
    return path.with_name(path.name + "-wal")


def readonly_uri(path: Path) -> str:
    """A URI opening `path` read-only, creating no file and writing nothing.

    `mode=ro` when a -wal file exists (its committed pages must be read); otherwise
    `immutable=1`, which needs no -shm either, so it also works in a read-only directory.
    """
    mode = "mode=ro" if wal_path(path).exists() else "immutable=1"
    return f"{path.absolute().as_uri()}?{mode}"


def stamp_problem(path: Path, application_id: int, user_version: int) -> str | None:
    """Why the header's stamp makes the database not ours to open, or None."""
    if application_id not in (0, APPLICATION_ID):
        return (
            f"{path}: SQLite database of another application (application_id "
            f"{application_id:#x}); {_REFUSE}"
        )
    if user_version > SCHEMA_VERSION:
        return (
            f"{path}: schema version {user_version} is newer than this scalp-radar knows "
            f"({SCHEMA_VERSION}); upgrade scalp-radar or use another database"
        )
    return None


def _stat(path: Path) -> os.stat_result | None:
    """os.stat, None when absent; a symlink loop or an unreadable path is a DatabaseError."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None  # nothing there yet (creating its directory reports what blocks it)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DatabaseError(f"{path}: cannot use it as a database ({reason})") from None


def read_header(path: Path) -> Header | None:
    """The header of a SQLite file; None for an empty file; DatabaseError for anything else."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEADER_SIZE)
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not head:
        return None
    if head[:16] != SQLITE_HEADER:
        raise DatabaseError(
            f"{path}: not a SQLite database (header {head[:16]!r}); "
            "refusing to open it, choose another database path"
        )
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    sound = (
        len(head) == _HEADER_SIZE
        and 512 <= page_size <= 65536
        and page_size & (page_size - 1) == 0
        and head[18] in (1, 2)
        and head[19] in (1, 2)
        and head[21:24] == b"\x40\x20\x20"
    )
    if not sound:
        raise DatabaseError(
            f"{path}: not a sound SQLite database (damaged header); expected a scalp-radar "
            f"database, {_REFUSE}"
        )
    return Header(
        user_version=int.from_bytes(head[60:64], "big"),
        application_id=int.from_bytes(head[68:72], "big"),
    )


def structure_problem(
    path: Path, ours: bool, version: int, tables: dict[str, Columns]
) -> str | None:
    """Why these tables are not scalp-radar's schema `version`, or None.

    Unstamped files (application_id 0: the seed's databases) must hold only our tables, each
    with exactly our columns; a stamped one must hold at least its version's tables.
    """
    expected = EXPECTED[version] if version else EXPECTED[1]
    if not ours:
        foreign = sorted(set(tables) - set(expected))
        if foreign:
            return (
                f"{path}: SQLite database with unknown tables ({', '.join(foreign[:5])}); {_REFUSE}"
            )
    wanted = expected if version else {n: c for n, c in expected.items() if n in tables}
    for name, columns in wanted.items():
        found = tables.get(name)
        if found is None:
            return (
                f"{path}: table {name} of scalp-radar schema v{version} is missing; "
                f"expected a scalp-radar database, {_REFUSE}"
            )
        if found != columns:
            have = ", ".join(c[0] for c in found)
            want = ", ".join(c[0] for c in columns)
            return (
                f"{path}: table {name} has columns ({have}), not scalp-radar's ({want}); {_REFUSE}"
            )
    return None


# Files found sound in this process, by (path, size, mtime) of the file and its -wal: a file
# opened twice (the CLI checks before the engine opens) is quick-checked once.
_sound: set[tuple[object, ...]] = set()
_sound_lock = threading.Lock()


def _identity(path: Path, st: os.stat_result) -> tuple[object, ...]:
    wal = _stat(wal_path(path))
    wal_key = (wal.st_size, wal.st_mtime_ns) if wal is not None else None
    return (str(path.absolute()), st.st_ino, st.st_size, st.st_mtime_ns, wal_key)


def _pragma_int(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute(f"PRAGMA {name}").fetchone()
    return int(row[0]) if row else 0


def _inspect(path: Path, key: tuple[object, ...]) -> int:
    """Open read-only and check stamp, tables, columns and soundness; return the version."""
    try:
        conn = sqlite3.connect(readonly_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise DatabaseError(f"{path}: cannot open database read-only: {exc}") from exc
    try:
        # The stamp again, through SQLite: a -wal may hold a newer one than the header bytes.
        version = _pragma_int(conn, "user_version")
        app_id = _pragma_int(conn, "application_id")
        problem = stamp_problem(path, app_id, version)
        if problem:
            raise DatabaseError(problem)
        ours = app_id == APPLICATION_ID
        names = table_names(conn)
        if not names and not ours and version == 0:
            return 0  # an empty SQLite database: ours to fill
        tables = {name: table_columns(conn, name) for name in names}
        problem = structure_problem(path, ours, version, tables)
        if problem:
            raise DatabaseError(problem)
        with _sound_lock:
            known = key in _sound
        if not known:
            # Reads every page once (~0.1 s per million candles): a damaged file is refused
            # before anything is written to it, not reported halfway through a run.
            verdict = conn.execute("PRAGMA quick_check").fetchone()
            if verdict is None or verdict[0] != "ok":
                detail = verdict[0] if verdict else "no answer"
                raise DatabaseError(
                    f"{path}: not a sound SQLite database (quick_check: {detail}); "
                    f"expected a scalp-radar database, {_REFUSE}"
                )
            with _sound_lock:
                _sound.add(key)
        return version
    except sqlite3.Error as exc:
        raise DatabaseError(
            f"{path}: not a sound SQLite database ({exc}); expected a scalp-radar database, "
            f"{_REFUSE}"
        ) from exc
    finally:
        conn.close()


def _checked_header(path: Path) -> tuple[os.stat_result, Header] | None:
    """The file's stat and header stamp; DatabaseError for a directory, a device, another's stamp."""
    st = _stat(path)
    if st is None:
        return None
    if stat.S_ISDIR(st.st_mode):
        raise DatabaseError(f"{path}: not a SQLite database (it is a directory)")
    if not stat.S_ISREG(st.st_mode):
        raise DatabaseError(f"{path}: not a regular file; expected a SQLite database file")
    header = read_header(path)
    if header is None:
        return None
    problem = stamp_problem(path, header.application_id, header.user_version)
    if problem:
        raise DatabaseError(problem)
    return st, header


def check_database_header(path: Path) -> None:
    """The cheap half of check_database_file: kind of file and header stamp, no SQLite opened.

    For commands that only name the database (`status` finds its daemon by it): reading every
    page of a large history just to print the daemon's health would cost seconds.
    """
    _checked_header(path)


def check_database_file(path: Path) -> int | None:
    """Raise DatabaseError unless `path` is absent, empty or a sound scalp-radar database.

    Returns the schema version found (None when there is no database yet). Never writes: only
    the header bytes and a read-only connection are used.
    """
    checked = _checked_header(path)
    if checked is None:
        return None
    return _inspect(path, _identity(path, checked[0]))
