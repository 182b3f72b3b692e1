"""Opening decides ownership read-only: a file that is not ours, or not sound, is left untouched.

Regression tests for issue 10 item 1: a foreign `candles` table was adopted (our tables,
application_id, user_version and WAL added) and a corrupt file was switched to WAL before
"malformed" was reported.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from scalp_radar.core.store import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    Database,
    DatabaseError,
    check_database_file,
)

BTC = "BTC/USDT:USDT"
T0 = 1_700_000_040_000


def fingerprint(path: Path) -> tuple[str, int, list[str]]:
    """Hash and mtime of a file, and every name beside it (a -wal or -shm would show)."""
    return (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        path.stat().st_mtime_ns,
        sorted(p.name for p in path.parent.iterdir()),
    )


def foreign_candles_db(path: Path) -> Path:
    """Another tool's database with a table that happens to be called `candles`."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE candles(id INTEGER PRIMARY KEY, pair TEXT, price REAL)")
    con.execute("INSERT INTO candles (pair, price) VALUES ('BTCUSDT', 1.5)")
    con.commit()
    con.close()
    return path


def corrupt_db(path: Path) -> Path:
    """A scalp-radar database (rollback journal, several pages) with garbage in its middle."""
    con = sqlite3.connect(path, isolation_level=None)
    for statements in MIGRATIONS:
        for statement in statements:
            con.execute(statement)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO candles VALUES (?, '1m', ?, 1.0, 2.0, 0.5, 1.5, 3.0, NULL, NULL)",
        ((BTC, T0 + i * 60_000) for i in range(5000)),
    )
    con.execute("COMMIT")
    con.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 20 * page
    data[10 * page : 14 * page] = b"\xa5" * (4 * page)
    path.write_bytes(bytes(data))
    return path


async def test_foreign_candles_table_is_refused_untouched(tmp_path: Path) -> None:
    path = foreign_candles_db(tmp_path / "other.db")
    before = fingerprint(path)
    with pytest.raises(DatabaseError) as err:
        await Database(path).init()
    message = str(err.value)
    assert message.startswith(f"{path}: table candles has columns (id, pair, price)")
    assert "\n" not in message
    with pytest.raises(DatabaseError):
        check_database_file(path)
    with pytest.raises(DatabaseError):
        await Database(path, read_only=True).init()
    assert fingerprint(path) == before


async def test_corrupt_database_is_refused_before_anything_writes(tmp_path: Path) -> None:
    path = corrupt_db(tmp_path / "broken.db")
    before = fingerprint(path)
    for read_only in (False, True):
        with pytest.raises(DatabaseError) as err:
            await Database(path, read_only=read_only).init()
        message = str(err.value)
        assert message.startswith(f"{path}: not a sound SQLite database") and "\n" not in message
    assert fingerprint(path) == before  # still a rollback-journal file, no WAL switch


async def test_damaged_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hdr.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    before = fingerprint(path)
    with pytest.raises(DatabaseError, match="not a sound SQLite database"):
        await Database(path).init()
    assert fingerprint(path) == before


async def test_read_only_open_writes_nothing_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "mine.db"
    async with Database(path) as db:
        con = sqlite3.connect(path)
        con.execute(
            "INSERT INTO candles VALUES (?, '1m', ?, 1.0, 2.0, 0.5, 1.5, 3.0, NULL, NULL)",
            (BTC, T0),
        )
        con.commit()
        con.close()
        await db.get_coverage()
    assert not (tmp_path / "mine.db-wal").exists()  # the last close checkpointed
    before = fingerprint(path)
    async with Database(path, read_only=True) as ro:
        assert [c.timestamp for c in await ro.get_candles(BTC, "1m")] == [T0]
        with pytest.raises(DatabaseError, match="read-only"):
            await ro.delete_candles()
    assert fingerprint(path) == before


async def test_read_only_open_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no database there"):
        await Database(tmp_path / "none.db", read_only=True).init()
    assert os.listdir(tmp_path) == []


def test_symlink_loop_is_one_line(tmp_path: Path) -> None:
    loop = tmp_path / "loop.db"
    os.symlink(loop, loop)
    with pytest.raises(DatabaseError) as err:
        check_database_file(loop)
    assert str(err.value).startswith(f"{loop}: cannot use it as a database (Too many levels")
