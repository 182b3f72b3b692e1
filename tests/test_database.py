"""SQLite store: real files in tmp_path, every table and method, and the safety of opening."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from scalp_radar.core.models import (
    Candle,
    Direction,
    MarketRegime,
    Position,
    SessionState,
    Signal,
    SignalStrength,
    TimeFrame,
    Trade,
)
from scalp_radar.core.snapshot import Incident
from scalp_radar.core.store import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    CoverageRow,
    Database,
    DatabaseError,
    codec,
)

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
T0 = 1_700_000_040_000  # aligned to 1m
MIN = 60_000


def make_candles(
    n: int, symbol: str = BTC, tf: TimeFrame = TimeFrame.M1, start: int = T0
) -> list[Candle]:
    """n consecutive valid candles, prices varying so rows are distinguishable."""
    step = tf.to_milliseconds()
    start = tf.align(start)
    out = []
    for i in range(n):
        o = 100.0 + i
        out.append(
            Candle(
                symbol=symbol,
                timeframe=tf,
                timestamp=start + i * step,
                open=o,
                high=o + 2,
                low=o - 1,
                close=o + 1,
                volume=10.0 + i,
                vwap=o + 0.5 if i % 2 else None,
                mark_price=o + 1 if i % 3 else None,
            )
        )
    return out


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def names(directory: Path) -> list[str]:
    """Sorted file names in a directory."""
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
async def db(tmp_path: Path):
    database = Database(tmp_path / "store.db")
    await database.init()
    yield database
    await database.close()


# ------------------------------------------------------------------ init and schema


async def test_init_creates_dirs_wal_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "radar.db"
    async with Database(path) as database:
        assert database.is_open
    assert not database.is_open
    con = raw(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"candles", "signals", "trades", "session_state", "incidents"} <= tables
    cols = lambda t: [r[1] for r in con.execute(f"PRAGMA table_info({t})")]  # noqa: E731
    assert len(cols("signals")) == 11 and "metadata" in cols("signals")
    assert len(cols("trades")) == 15
    assert cols("incidents")[1:] == [
        "at_ms",
        "kind",
        "symbol",
        "timeframe",
        "message",
        "duration_s",
    ]
    with pytest.raises(sqlite3.IntegrityError):
        con.execute(
            "INSERT INTO session_state VALUES (2, 'x', 0, 0, 0, 0, 0, 0, '[]', 'x')"
        )  # CHECK (id = 1)
    con.close()


async def test_reopen_is_idempotent_and_close_twice_is_safe(tmp_path: Path) -> None:
    path = tmp_path / "radar.db"
    async with Database(path) as database:
        await database.insert_candles_batch(make_candles(3))
        await database.init()  # already open: no-op
    await database.close()
    async with Database(str(path)) as database:
        assert len(await database.get_candles(BTC, "1m")) == 3


async def test_methods_before_init_raise_database_error(tmp_path: Path) -> None:
    database = Database(tmp_path / "x.db")
    with pytest.raises(DatabaseError, match="not open"):
        await database.get_candles(BTC, TimeFrame.M1)
    assert not (tmp_path / "x.db").exists()


# ------------------------------------------------------------------ candles


async def test_insert_dedupes_and_returns_rows_inserted(db: Database) -> None:
    candles = make_candles(10)
    assert await db.insert_candles_batch(candles) == 10
    assert await db.insert_candles_batch(candles) == 0
    overlap = make_candles(10, start=T0 + 5 * MIN)  # 5 stored already, 5 new
    assert await db.insert_candles_batch(overlap) == 5
    assert await db.insert_candles_batch([]) == 0
    assert len(await db.get_candles(BTC, TimeFrame.M1)) == 15


async def test_insert_ignores_duplicate_but_keeps_first_values(db: Database) -> None:
    first = make_candles(1)[0]
    changed = first.model_copy(update={"close": first.close + 0.5})
    await db.insert_candles_batch([first])
    assert await db.insert_candles_batch([changed]) == 0
    assert (await db.get_candles(BTC, "1m"))[0].close == first.close


async def test_get_candles_roundtrip_is_exact_and_typed(db: Database) -> None:
    candles = make_candles(20) + make_candles(20, ETH) + make_candles(5, BTC, TimeFrame.M5)
    await db.insert_candles_batch(candles)
    got = await db.get_candles(BTC, TimeFrame.M1)
    assert got == candles[:20]
    c = got[3]
    assert type(c) is Candle and c.timeframe is TimeFrame.M1
    assert hash(c) == hash(candles[3]) and c.model_dump() == candles[3].model_dump()
    assert c.close_time == c.timestamp + MIN
    with pytest.raises(ValidationError):
        c.close = 1.0  # still frozen
    assert await db.get_candles(BTC, "5m") == candles[40:]
    assert await db.get_candles(ETH, "1m", validate=True) == candles[20:40]


def test_fast_candle_construction_is_in_use_and_equivalent() -> None:
    # If a pydantic upgrade broke the shortcut, the store would fall back (slower): say so.
    assert codec.trusted_candle_maker() is codec._construct_candle
    values = make_candles(2)[1].model_dump()
    fast = codec._construct_candle(dict(values))
    assert fast == Candle(**values) and fast.model_fields_set == set(Candle.model_fields)
    assert fast.model_copy(update={"volume": 1.0}).volume == 1.0 and fast.volume == values["volume"]


async def test_get_candles_range_and_limit(db: Database) -> None:
    candles = make_candles(10)
    await db.insert_candles_batch(candles)
    got = await db.get_candles(BTC, "1m", start=T0 + 2 * MIN, end=T0 + 5 * MIN)
    assert [c.timestamp for c in got] == [T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN]
    assert [c.timestamp for c in await db.get_candles(BTC, "1m", end=T0 + MIN)] == [T0]
    assert len(await db.get_candles(BTC, "1m", start=T0 + 9 * MIN)) == 1
    oldest = await db.get_candles(BTC, "1m", limit=3)
    assert [c.timestamp for c in oldest] == [T0, T0 + MIN, T0 + 2 * MIN]
    newest = await db.get_candles(BTC, "1m", limit=3, newest=True)
    assert [c.timestamp for c in newest] == [T0 + 7 * MIN, T0 + 8 * MIN, T0 + 9 * MIN]
    assert await db.get_candles(BTC, "1m", start=T0 + 10 * MIN) == []
    assert await db.get_candles("NOPE/USDT:USDT", "1m") == []
    with pytest.raises(ValueError, match="unknown timeframe '7m'"):
        await db.get_candles(BTC, "7m")
    with pytest.raises(ValueError, match="limit must be >= 0"):
        await db.get_candles(BTC, "1m", limit=-1)


async def test_latest_timestamp_and_timestamps(db: Database) -> None:
    assert await db.get_latest_candle_timestamp(BTC, "1m") is None
    candles = make_candles(10)
    await db.insert_candles_batch([c for i, c in enumerate(candles) if i not in (3, 4, 7)])
    await db.insert_candles_batch(make_candles(3, ETH, start=T0 + 100 * MIN))
    assert await db.get_latest_candle_timestamp(BTC, TimeFrame.M1) == T0 + 9 * MIN
    assert await db.get_latest_candle_timestamp(ETH, "1m") == T0 + 102 * MIN
    assert await db.get_latest_candle_timestamp(BTC, "5m") is None
    ts = await db.get_candle_timestamps(BTC, "1m", T0 + MIN, T0 + 9 * MIN)
    assert ts == [T0 + k * MIN for k in (1, 2, 5, 6, 8)]


async def test_delete_candles_by_filters(db: Database) -> None:
    await db.insert_candles_batch(
        make_candles(10) + make_candles(10, ETH) + make_candles(4, BTC, TimeFrame.H1)
    )
    assert await db.delete_candles(BTC, "1m", start=T0 + 8 * MIN) == 2
    assert await db.delete_candles(BTC, TimeFrame.M1, end=T0 + 2 * MIN) == 2
    assert len(await db.get_candles(BTC, "1m")) == 6
    assert await db.delete_candles(timeframe="1h") == 4
    assert await db.delete_candles(symbol=ETH) == 10
    assert await db.delete_candles(symbol=ETH) == 0
    assert await db.delete_candles() == 6
    assert await db.get_coverage() == []


async def test_coverage_rows(db: Database) -> None:
    assert await db.get_coverage() == []
    await db.insert_candles_batch(
        make_candles(10)
        + make_candles(3, ETH, start=T0 + 60 * MIN)
        + make_candles(2, BTC, TimeFrame.H1)
    )
    cov = await db.get_coverage()
    h1_start = TimeFrame.H1.align(T0)
    assert cov == [  # by symbol, then timeframe duration (not text order, where "1h" < "1m")
        CoverageRow(BTC, TimeFrame.M1, T0, T0 + 9 * MIN, 10),
        CoverageRow(BTC, TimeFrame.H1, h1_start, h1_start + 3_600_000, 2),
        CoverageRow(ETH, TimeFrame.M1, T0 + 60 * MIN, T0 + 62 * MIN, 3),
    ]
    assert all(isinstance(r.timeframe, TimeFrame) for r in cov)


async def test_insert_rejects_non_candles_atomically(db: Database) -> None:
    good = make_candles(3)
    with pytest.raises(TypeError, match="expects Candle objects"):
        await db.insert_candles_batch([*good, {"symbol": BTC}])  # type: ignore[list-item]
    assert await db.get_candles(BTC, "1m") == []  # the good rows were rolled back too
    assert await db.insert_candles_batch(good) == 3  # connection still usable


async def test_corrupt_row_is_reported_when_validating(db: Database) -> None:
    await db.insert_candles_batch(make_candles(2))
    con = raw(db.path)
    con.execute("UPDATE candles SET high = 1.0 WHERE timestamp = ?", (T0 + MIN,))  # high < low
    con.close()
    with pytest.raises(DatabaseError) as err:
        await db.get_candles(BTC, "1m", validate=True)
    assert str(db.path) in str(err.value) and str(T0 + MIN) in str(err.value)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------ signals, trades, session


async def test_insert_signal_stores_columns_and_metadata(db: Database) -> None:
    ts = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    signal = Signal(
        symbol=BTC,
        strategy="vwap_rsi",
        timestamp=ts,
        direction=Direction.LONG,
        strength=SignalStrength.STRONG,
        score=0.8,
        entry_price=100.0,
        tp_price=101.0,
        sl_price=99.5,
        regime=MarketRegime.RANGING,
        timeframe=TimeFrame.M5,
        signals_detail={"rsi": 22.5, "volume_spike": True},
    )
    rowid = await db.insert_signal(signal)
    assert rowid == 1 and await db.insert_signal(signal) == 2
    con = raw(db.path)
    con.row_factory = sqlite3.Row
    row = dict(con.execute("SELECT * FROM signals WHERE id = 1").fetchone())
    con.close()
    assert row["symbol"] == BTC and row["strategy"] == "vwap_rsi"
    assert row["direction"] == "LONG" and row["strength"] == "STRONG"
    assert (row["score"], row["entry_price"], row["tp_price"], row["sl_price"]) == (
        0.8,
        100.0,
        101.0,
        99.5,
    )
    assert datetime.fromisoformat(row["timestamp"]) == ts
    assert json.loads(row["metadata"]) == {
        "regime": "RANGING",
        "timeframe": "5m",
        "signals_detail": {"rsi": 22.5, "volume_spike": True},
    }


def make_trade(trade_id: str = "t1") -> Trade:
    entry = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    return Trade(
        id=trade_id,
        symbol=ETH,
        direction=Direction.SHORT,
        entry_price=2000.0,
        exit_price=1990.0,
        quantity=0.5,
        leverage=10,
        gross_pnl=5.0,
        fee_cost=0.6,
        slippage_cost=0.4,
        net_pnl=4.0,
        entry_time=entry,
        exit_time=entry + timedelta(minutes=7),
        strategy="momentum",
        exit_reason="tp",
    )


async def test_insert_trade_stores_all_fields_and_refuses_duplicate_id(db: Database) -> None:
    trade = make_trade()
    await db.insert_trade(trade)
    con = raw(db.path)
    con.row_factory = sqlite3.Row
    row = dict(con.execute("SELECT * FROM trades").fetchone())
    con.close()
    stored = Trade.model_validate(row)  # every column maps back onto the model
    assert stored == trade
    with pytest.raises(DatabaseError, match="trade id 't1' is already stored"):
        await db.insert_trade(trade)
    await db.insert_trade(make_trade("t2"))  # connection still usable after the failure


async def test_session_state_save_load_overwrite(db: Database) -> None:
    assert await db.load_session_state() is None
    start = datetime(2026, 1, 1, tzinfo=UTC)
    position = Position(
        symbol=BTC,
        direction=Direction.LONG,
        entry_price=100.0,
        quantity=1.0,
        leverage=5,
        initial_margin=20.0,
        maintenance_margin=1.0,
        opened_at=start,
    )
    state = SessionState(
        start_time=start,
        total_pnl=12.5,
        total_trades=3,
        wins=2,
        losses=1,
        max_drawdown=1.5,
        open_positions=[position],
    )
    await db.save_session_state(state)
    assert await db.load_session_state() == state
    newer = state.model_copy(
        update={
            "total_pnl": -3.0,
            "total_trades": 4,
            "losses": 2,
            "kill_switch_triggered": True,
            "open_positions": [],
        }
    )
    await db.save_session_state(newer)
    loaded = await db.load_session_state()
    assert loaded == newer and loaded.kill_switch_triggered and loaded.open_positions == []
    con = raw(db.path)
    assert con.execute("SELECT COUNT(*) FROM session_state").fetchone()[0] == 1
    con.close()


# ------------------------------------------------------------------ incidents


async def test_incidents_roundtrip_newest_first(db: Database) -> None:
    assert await db.get_incidents() == []
    incidents = [
        Incident(T0, "disconnect", BTC, "1m", "socket closed"),
        Incident(T0 + 5_000, "reconnect", BTC, "1m", "back", duration_s=5.0),
        Incident(T0 + 5_000, "gap", ETH, "5m", "2 candles missing"),
        Incident(T0 + 1_000, "error", None, None, "rate limited"),
    ]
    assert await db.insert_incidents(incidents) == 4
    assert await db.insert_incidents([]) == 0
    got = await db.get_incidents()
    assert all(type(i) is Incident for i in got)
    # Newest first; equal times: the later insert first.
    assert got == [incidents[2], incidents[1], incidents[3], incidents[0]]
    assert await db.get_incidents(limit=2) == got[:2]


# ------------------------------------------------------------------ migrations and refusals


async def test_migration_from_v1_keeps_data_and_adds_incidents(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    con = raw(path)
    for statement in MIGRATIONS[0]:
        con.execute(statement)
    con.execute("PRAGMA user_version = 1")
    con.execute(
        "INSERT INTO candles VALUES (?, '1m', ?, 1.0, 2.0, 0.5, 1.5, 3.0, NULL, NULL)", (BTC, T0)
    )
    con.close()
    async with Database(path) as database:
        assert [c.timestamp for c in await database.get_candles(BTC, "1m")] == [T0]
        await database.insert_incidents([Incident(T0, "gap", BTC, "1m", "x")])
        assert len(await database.get_incidents()) == 1
    con = raw(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.close()


async def test_unversioned_seed_database_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "seed.db"
    con = raw(path)
    con.execute(MIGRATIONS[0][0])  # the seed's candles table, user_version still 0
    con.execute(
        "INSERT INTO candles VALUES (?, '5m', ?, 1.0, 2.0, 0.5, 1.5, 3.0, 1.2, 1.4)",
        (ETH, TimeFrame.M5.align(T0)),
    )
    con.close()
    async with Database(path) as database:
        got = await database.get_candles(ETH, "5m")
        assert len(got) == 1 and got[0].vwap == 1.2 and got[0].mark_price == 1.4
    con = raw(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.close()


async def test_newer_schema_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    con = raw(path)
    con.execute("CREATE TABLE candles (x)")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 7}")
    con.close()
    before = path.read_bytes()
    with pytest.raises(DatabaseError) as err:
        await Database(path).init()
    msg = str(err.value)
    assert str(path) in msg and f"schema version {SCHEMA_VERSION + 7}" in msg and "\n" not in msg
    assert path.read_bytes() == before
    assert names(path.parent) == ["future.db"]  # no -wal/-shm either


async def test_other_applications_database_is_refused_untouched(tmp_path: Path) -> None:
    foreign_tables = tmp_path / "places.sqlite"
    con = raw(foreign_tables)
    con.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    con.close()
    stamped = tmp_path / "stamped.db"
    con = raw(stamped)
    con.execute("PRAGMA application_id = 12345")
    con.close()
    for path, expected in ((foreign_tables, "moz_places"), (stamped, "application_id")):
        before = path.read_bytes()
        with pytest.raises(DatabaseError, match=expected) as err:
            await Database(path).init()
        assert str(path) in str(err.value)
        assert path.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [b"this is my trading journal, not a database\n" * 50, b"short", b"SQLite format 2\x00xxxx"],
)
async def test_non_database_file_is_refused_and_unchanged(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(DatabaseError) as err:
        await Database(path).init()
    msg = str(err.value)
    assert msg.startswith(f"{path}: not a SQLite database") and "\n" not in msg
    assert path.read_bytes() == content
    assert names(tmp_path) == ["notes.txt"]  # no -wal/-shm either


async def test_empty_file_is_accepted_as_new_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    async with Database(path) as database:
        assert await database.insert_candles_batch(make_candles(2)) == 2
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"


async def test_unwritable_location_gives_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "plainfile"
    blocker.write_text("keep me")
    path = blocker / "sub" / "radar.db"  # parent is a regular file: fails even for root
    with pytest.raises(DatabaseError) as err:
        await Database(path).init()
    msg = str(err.value)
    assert msg.startswith(f"{path}: cannot create directory") and "\n" not in msg
    assert blocker.read_text() == "keep me"
    directory = tmp_path / "adir"
    directory.mkdir()
    with pytest.raises(DatabaseError, match="it is a directory"):
        await Database(directory).init()


# ------------------------------------------------------------------ concurrency


async def test_reader_not_blocked_by_open_write_transaction(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    async with Database(path) as writer_db, Database(path) as reader:
        await writer_db.insert_candles_batch(make_candles(5))
        other = raw(path)
        other.execute("BEGIN IMMEDIATE")  # holds the write lock, uncommitted rows
        other.execute(
            "INSERT INTO candles VALUES (?, '1m', ?, 1.0, 2.0, 0.5, 1.5, 3.0, NULL, NULL)",
            (BTC, T0 + 50 * MIN),
        )
        # WAL: the reader neither waits nor sees uncommitted rows.
        assert len(await reader.get_candles(BTC, "1m")) == 5
        assert await reader.get_latest_candle_timestamp(BTC, "1m") == T0 + 4 * MIN
        other.execute("COMMIT")
        other.close()
        assert await reader.get_latest_candle_timestamp(BTC, "1m") == T0 + 50 * MIN


async def test_writer_waits_for_other_writer_via_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    async with Database(path) as database:
        locked = threading.Event()

        def hold_lock() -> None:
            con = raw(path)
            con.execute("BEGIN IMMEDIATE")
            con.execute(
                "INSERT INTO candles VALUES (?, '1m', ?, 1.0, 2.0, 0.5, 1.5, 3.0, NULL, NULL)",
                (ETH, T0),
            )
            locked.set()
            threading.Event().wait(0.3)
            con.execute("COMMIT")
            con.close()

        thread = threading.Thread(target=hold_lock)
        thread.start()
        await asyncio.to_thread(locked.wait)
        assert await database.insert_candles_batch(make_candles(4)) == 4
        await asyncio.to_thread(thread.join)
        cov = {(r.symbol, r.count) for r in await database.get_coverage()}
        assert cov == {(BTC, 4), (ETH, 1)}


async def test_concurrent_writers_on_one_database_and_cancellation(db: Database) -> None:
    batches = [make_candles(200, start=T0 + k * 200 * MIN) for k in range(5)]
    results = await asyncio.gather(*(db.insert_candles_batch(b) for b in batches))
    assert results == [200] * 5
    big = make_candles(20_000, ETH)
    task = asyncio.create_task(db.insert_candles_batch(big))
    await asyncio.sleep(0)  # let it start its (shielded) transaction
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The cancelled caller did not leave the connection inside a transaction: the batch commits
    # whole, and the next write works.
    assert await db.insert_candles_batch(make_candles(1, BTC, TimeFrame.H1)) == 1
    assert len(await db.get_candle_timestamps(ETH, "1m", 0, 2**62)) == 20_000


async def test_memory_database(tmp_path: Path) -> None:
    async with Database(":memory:") as database:
        assert await database.insert_candles_batch(make_candles(3)) == 3
        assert len(await database.get_candles(BTC, "1m")) == 3
    assert ":memory:" not in names(Path.cwd())


async def test_replace_candles_overwrites_stored_rows_in_one_transaction(db: Database) -> None:
    stored = make_candles(3)
    await db.insert_candles_batch(stored)
    later = [c.model_copy(update={"close": c.close + 0.5, "volume": c.volume + 1}) for c in stored]
    fresh = make_candles(1, start=T0 + 3 * MIN)[0]
    writes: list[str] = []
    real_write = db._write

    async def counting(what, body):
        writes.append(what)
        return await real_write(what, body)

    db._write = counting  # type: ignore[method-assign]
    assert await db.replace_candles([*later, fresh]) == 4
    assert writes == ["replace candles"]  # one transaction: a kill never leaves a candle deleted
    assert await db.get_candles(BTC, "1m") == [*later, fresh]
    assert await db.replace_candles([]) == 0
