"""Snapshot deltas (protocol 1.1): a viewer rebuilds exactly the daemon's snapshots from one full
frame and deltas, on real snapshots of a real engine (candle streams and the radar's universe)
against the simulated Bitget, with symbols joining and leaving and viewers slower than the
engine; a 1.0 viewer keeps getting full frames; viewers on one base share one encoded delta."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec

from scalp_radar.app.daemon_server import DaemonServer
from scalp_radar.core.limiter import RateLimiter
from scalp_radar.core.snapshot import EngineSnapshot, Incident, TickerRow
from scalp_radar.engine import wire
from scalp_radar.engine.data_engine import DataEngine
from scalp_radar.engine.tickers import UniverseEngine
from scalp_radar.engine.wire_delta import (
    WireRow,
    apply_delta,
    make_delta,
    splice_of,
    ticker_row,
    wire_row,
)
from scalp_radar.sim import SimExchange, SimLimits
from scalp_radar.tui.attached import AttachedSource
from scalp_radar.tui.fixtures import _stream, healthy_snapshot, many_symbols_snapshot
from tests.engine_support import BTC, ETH, SPEED, make_config, wait_for

SYMBOLS = [BTC, ETH, *(f"U{i:03d}/USDT:USDT" for i in range(38))]
OUTSIDER = "U037/USDT:USDT"  # least traded of the simulated contracts: outside the top 12
_encode = msgspec.msgpack.encode


def same(a: EngineSnapshot, b: EngineSnapshot) -> bool:
    """Equal field for field, NaN included (the radar's rows carry NaN until metrics are known)."""
    return _encode(a) == _encode(b)


def over_the_wire(message: wire.ServerMessage) -> wire.ServerMessage:
    return wire.decode_server(wire.encode_frame(message)[4:])


def as_full_frame(snap: EngineSnapshot) -> EngineSnapshot:
    """What a full frame delivers (the fixtures put ints in some float fields; the wire's typed
    decoding makes them floats, for full frames and deltas alike)."""
    frame = over_the_wire(wire.SnapshotFrame(1, snap))
    assert isinstance(frame, wire.SnapshotFrame)
    return frame.snapshot


@asynccontextmanager
async def radar_engine() -> AsyncIterator[tuple[DataEngine, list[EngineSnapshot]]]:
    """A real engine (2 symbols x 2 timeframes, the top-12 radar with hot streams) on the
    simulator, and every snapshot it publishes."""
    cfg = make_config([BTC, ETH], ["1m", "5m"])
    universe_cfg = cfg.universe.model_copy(
        update={
            "mode": "top",
            "top": 12,
            "channels_per_shard": 6,
            "dial_spacing_s": 0.05,
            "hot_count": 2,
            "store_stats": False,
        }
    )
    cfg = type(cfg).model_construct(**dict(cfg.__dict__, universe=universe_cfg))
    sim = SimExchange(
        symbols=SYMBOLS, seed=3, speed=SPEED, limits=SimLimits.off(push_interval_s=0.05)
    )
    await sim.start()
    limiter = RateLimiter.from_exchange_config(cfg.exchange)
    universe = UniverseEngine(cfg, limiter, sim_url=sim.url, clock=sim.clock)
    engine = DataEngine(cfg, None, limiter, sim_url=sim.url, clock=sim.clock, universe=universe)
    published: list[EngineSnapshot] = []
    engine.on_snapshot(published.append)
    try:
        await engine.start()
        yield engine, published
    finally:
        await engine.stop()
        await sim.stop()


async def join_and_leave(engine: DataEngine, published: list[EngineSnapshot]) -> None:
    """Rows and streams come and go: a watched outsider joins the universe, a pinned symbol
    gets candle streams, then both leave again."""
    assert engine.universe is not None
    universe = engine.universe

    def rows() -> set[str]:
        return {r.symbol for r in engine.snapshot().universe.rows}

    await wait_for(lambda: len(rows()) == 12 and len(published) > 10, 60, "the radar's rows")
    assert OUTSIDER not in rows()
    universe.set_user_watchlist((OUTSIDER,))
    await wait_for(lambda: OUTSIDER in rows(), 60, "the outsider joining")
    await engine.pin(OUTSIDER)
    await wait_for(lambda: OUTSIDER in engine.snapshot().symbols, 60, "its candle streams")
    n = len(published)
    await wait_for(lambda: len(published) > n + 10, 60, "more snapshots")
    await engine.unpin(OUTSIDER)
    universe.set_user_watchlist(())
    await universe.refresh_markets()  # the hourly re-selection, now
    await wait_for(lambda: OUTSIDER not in rows(), 60, "the outsider leaving")
    n = len(published)
    await wait_for(lambda: len(published) > n + 10, 60, "more snapshots")


@asynccontextmanager
async def checking_meanwhile(check: Callable[[], object]) -> AsyncIterator[None]:
    """Call `check` every 20 ms while the block runs; an assertion it raises fails the test
    when the block ends."""

    async def keep_checking() -> None:
        while True:
            check()
            await asyncio.sleep(0.02)

    checking = asyncio.create_task(keep_checking())
    try:
        yield
    finally:
        checking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checking


def replay(published: list[EngineSnapshot], every: int) -> tuple[int, int]:
    """A viewer that gets one snapshot in `every`: full first, deltas after, each checked equal
    to the engine's. (delta rows sent, rows in those snapshots)."""
    sent = published[::every]
    first = over_the_wire(wire.SnapshotFrame(0, sent[0]))
    assert isinstance(first, wire.SnapshotFrame)
    seen, base_seq = first.snapshot, 0
    assert same(seen, sent[0])
    rows_sent = rows_total = 0
    for seq, snap in enumerate(sent[1:], start=1):
        frame = over_the_wire(make_delta(sent[seq - 1], base_seq, snap, seq))
        assert isinstance(frame, wire.DeltaFrame)
        seen, base_seq = apply_delta(seen, frame), seq
        assert same(seen, snap), f"snapshot {seq} rebuilt differently"
        rows_sent += len(frame.rows)
        rows_total += len(snap.universe.rows)
    return rows_sent, rows_total


async def test_deltas_rebuild_the_real_engines_snapshots_exactly_as_symbols_come_and_go():
    async with radar_engine() as (engine, published):
        await join_and_leave(engine, published)
    symbols_seen = [{r.symbol for r in s.universe.rows} for s in published]
    assert any(OUTSIDER in s for s in symbols_seen) and OUTSIDER not in symbols_seen[-1]
    assert any(OUTSIDER in s.symbols for s in published)  # its streams came and went
    assert OUTSIDER not in published[-1].symbols
    # The engine's rate, and two viewers slower than the engine.
    rows_sent, rows_total = replay(published, 1)
    assert rows_sent < rows_total  # at the engine's rate, unchanged rows stayed home
    for every in (3, 7):
        replay(published, every)
    # Candles: a delta carries the moved forming candle, not the stream's 60.
    a, b = published[-2], published[-1]
    delta = make_delta(a, 1, b, 2)
    moved = sum(len(p.candles.tail) + len(p.candles.head) for p in delta.streams)
    assert all(p.base >= 0 for p in delta.streams)
    assert moved < sum(len(s.recent_candles) for s in b.streams) / 4
    full, small = len(wire.encode_frame(wire.SnapshotFrame(2, b))), len(wire.encode_frame(delta))
    assert small < full / 2, (small, full)


def test_a_delta_of_joined_left_and_reordered_rows_and_streams():
    base = many_symbols_snapshot()
    assert len(base.incidents) >= 2
    rows = tuple(
        TickerRow(f"S{i}/USDT:USDT", *([float(i)] * 14), None, 1.0, 2.0, 3.0, 1000 + i)
        for i in range(6)
    )
    base = msgspec.structs.replace(base, universe=msgspec.structs.replace(base.universe, rows=rows))
    moved = msgspec.structs.replace(rows[4], last=99.0)
    joined = msgspec.structs.replace(rows[0], symbol="NEW/USDT:USDT")
    # S1 and S3 left, S4 moved first and changed, a new symbol joined; streams reversed, one gone.
    new_rows = (moved, rows[0], rows[2], joined, rows[5])
    news = (Incident(2, "gap", "S9/USDT:USDT", "1m", "new"), Incident(1, "heal", None, None, "x"))
    new = msgspec.structs.replace(
        base,
        incidents=(*news, *base.incidents[:-1]),  # two new on top, the oldest fell off
        streams=tuple(reversed(base.streams[1:])),
        universe=msgspec.structs.replace(base.universe, rows=new_rows, symbols=5),
    )
    frame = over_the_wire(make_delta(base, 4, new, 5))
    assert isinstance(frame, wire.DeltaFrame)
    assert frame.order == tuple(r.symbol for r in new_rows)
    assert {frame.rows[i].symbol for i in range(len(frame.rows))} == {
        moved.symbol,
        joined.symbol,
    }
    assert frame.incidents.head == news and frame.incidents.tail == ()
    assert same(apply_delta(as_full_frame(base), frame), as_full_frame(new))


def test_splices_cover_a_sliding_window_and_items_pushed_on_top():
    assert splice_of((1, 2, 3, 4), (2, 3, 4, 5)) == ((), 1, 4, (5,))
    assert splice_of((1, 2, 3, 4), (1, 2, 3, 9)) == ((), 0, 3, (9,))
    assert splice_of(("b", "a"), ("d", "c", "b")) == (("d", "c"), 0, 1, ())
    assert splice_of((1, 2), (7, 8)) == ((), 0, 0, (7, 8))
    assert splice_of((), (1,)) == ((), 0, 0, (1,))
    assert splice_of((1,), ()) == ((), 0, 0, ())


def test_every_splice_rebuilds_the_new_sequence_and_the_usual_step_sends_one_item():
    rng = random.Random(5)
    pool: list[object] = [float(i) for i in range(6)] + [math.nan, math.nan, "a", "b"]
    shapes = ("forming step", "slide", "push on top", "same", "anything")
    for _ in range(3000):
        base = tuple(rng.choice(pool) for _ in range(rng.randint(0, 7)))
        fresh = float(rng.randint(0, 9))  # equal to a pool item, never the same object
        shape = rng.choice(shapes)
        if shape == "forming step":
            new = (*base[:-1], fresh)
        elif shape == "slide":
            new = (*base[1:], rng.choice(pool), fresh)
        elif shape == "push on top":
            new = (fresh, *base)
        elif shape == "same":
            new = base
        else:
            new = tuple(rng.choice(pool) for _ in range(rng.randint(0, 7)))
        head, start, stop, tail = splice_of(base, new)
        rebuilt = (*head, *base[start:stop], *tail)
        assert len(rebuilt) == len(new), (shape, base, new)
        assert all(a is b or a == b for a, b in zip(rebuilt, new, strict=True)), (shape, base, new)
    window = tuple(float(i) for i in range(60))
    forming = 1e9
    assert splice_of(window, (*window[:-1], forming)) == ((), 0, 59, (forming,))
    assert splice_of(window, window) == ((), 0, 60, ())


def test_a_ticker_row_survives_its_array_form_on_the_wire():
    # Every field set, none to its default: a value in the wrong place or of the wrong type
    # (an int where a float was, a lost default) would not come back equal.
    values: dict[str, object] = {
        f.name: i + 0.5 for i, f in enumerate(msgspec.structs.fields(TickerRow))
    }
    values.update(symbol=BTC, next_funding_ms=7, updated_ms=9, source="rest", shard_id=3)
    row = TickerRow(**values)
    wired = msgspec.msgpack.decode(_encode(wire_row(row)), type=WireRow)
    assert WireRow.__struct_fields__ == tuple(f.name for f in msgspec.structs.fields(TickerRow))
    assert ticker_row(wired) == row
    assert type(ticker_row(wired).updated_ms) is int


# -- the server: who gets what -----------------------------------------------------------------


async def _serve(snapshots: Callable[[], EngineSnapshot]) -> DaemonServer:
    base = Path(tempfile.mkdtemp(prefix="sr-"))
    server = DaemonServer(snapshots, socket_path=base / "d.sock", db_path=base / "x.db", demo=True)
    await server.start()
    return server


async def _frames(conn: wire.DaemonConnection, n: int) -> list[wire.ServerMessage]:
    return [await asyncio.wait_for(conn.receive(), 10) for _ in range(n)]


async def test_a_1_0_viewer_gets_full_frames_and_delta_viewers_share_one_encoded_delta():
    snaps = [healthy_snapshot(), many_symbols_snapshot()]
    current = [snaps[0]]
    server = await _serve(lambda: current[0])
    path = str(server.socket_path)
    try:
        old = await wire.connect(path, hello=b"scalp-radar-protocol 1.0\n")
        # A 1.0 viewer's Subscribe has no `deltas` field at all.
        legacy = msgspec.msgpack.encode({"type": "subscribe", "rate_hz": 20.0})
        old.writer.write(len(legacy).to_bytes(4, "big") + legacy)
        new = [await wire.connect(path) for _ in range(2)]
        for conn in new:
            await conn.send(wire.Subscribe(20.0, deltas=True))
        await asyncio.sleep(0)
        await wait_for(lambda: server.attached() == 3, 10, "three subscribed viewers")
        server.pump()
        for conn in (old, *new):
            (first,) = await _frames(conn, 1)
            assert isinstance(first, wire.SnapshotFrame) and first.seq == 1
        encoded = server.frames_encoded
        current[0] = snaps[1]
        for viewer in server.viewers.values():
            viewer.next_due = 0.0
        server.pump()
        (full,) = await _frames(old, 1)
        assert isinstance(full, wire.SnapshotFrame)
        assert same(full.snapshot, as_full_frame(snaps[1]))
        for conn in new:
            (delta,) = await _frames(conn, 1)
            assert isinstance(delta, wire.DeltaFrame) and (delta.base, delta.seq) == (1, 2)
            rebuilt = apply_delta(as_full_frame(snaps[0]), delta)
            assert same(rebuilt, as_full_frame(snaps[1]))
        assert server.frames_encoded == encoded + 2  # one full frame, one delta for both
        for conn in (old, *new):
            await conn.close()
    finally:
        await server.stop()


async def test_attached_viewers_at_two_rates_see_exactly_the_engines_snapshots():
    """A real DaemonServer on a real engine, real AttachedSource viewers over the socket."""
    async with radar_engine() as (engine, published):
        server = DaemonServer(
            engine.snapshot,
            socket_path=Path(tempfile.mkdtemp(prefix="sr-")) / "d.sock",
            db_path=Path("x.db"),
            demo=True,
        )
        await server.start()
        engine.on_snapshot(server.publish)
        viewers = [
            AttachedSource(str(server.socket_path), rate_hz=rate, pulses=False, retry_s=0.1)
            for rate in (20, 3)
        ]
        try:
            for v in viewers:
                assert await asyncio.to_thread(v.start, 10)
            checked: list[set[int]] = [set(), set()]
            by_time: dict[int, EngineSnapshot] = {}

            def check() -> bool:
                by_time.update((s.taken_at_ms, s) for s in published[-50:])
                for i, v in enumerate(viewers):
                    seen = v.snapshot()
                    assert seen is not None
                    truth = by_time.get(seen.taken_at_ms)
                    if truth is not None and seen.taken_at_ms not in checked[i]:
                        assert same(seen, truth), f"viewer {i} differs from the engine"
                        checked[i].add(seen.taken_at_ms)
                return min(len(c) for c in checked) >= 15

            async with checking_meanwhile(check):
                await join_and_leave(engine, published)
                await wait_for(check, 60, "both viewers checked 15 times")
            assert all(v.attaches == 1 for v in viewers)  # no delta ever failed to apply
            assert server.frames_encoded < 2 * len(published)  # one per snapshot and base
        finally:
            for v in viewers:
                await asyncio.to_thread(v.stop)
            await server.stop()


def test_a_stream_without_its_candles_is_the_stream_with_empty_candles():
    stream = _stream("BTC/USDT:USDT", "1m", 4, reason="why", last_error="HTTP 503", tick_size=0.1)
    assert stream.recent_candles and stream.recent_closes
    stripped = stream.without_candles()
    assert stripped.recent_candles == () and stripped.recent_closes == ()
    assert msgspec.structs.replace(stripped, recent_candles=stream.recent_candles,
                                   recent_closes=stream.recent_closes) == stream  # fmt: skip


# sha256 (first 16 hex digits) of these frames as the dataclass snapshots of protocol 1.1's first
# release encoded them: the Struct snapshots must send the very same bytes, so a daemon and a
# dashboard of either release still understand each other.
WIRE_OF_THE_DATACLASS_RELEASE = {
    "healthy": "ba476de01cc0a751",
    "many_symbols": "47498e43c138eec8",
    "degraded": "28ce7b31534abd48",
    "delta healthy->degraded": "64ea282d01d1d523",
    "delta healthy->many_symbols": "cf429ec947dc18f6",
}


def test_snapshot_frames_are_byte_for_byte_those_of_the_dataclass_release():
    import hashlib

    from scalp_radar.tui.fixtures import degraded_snapshot

    snaps = {
        "healthy": healthy_snapshot(),
        "many_symbols": many_symbols_snapshot(),
        "degraded": degraded_snapshot(),
    }
    frames: dict[str, wire.ServerMessage] = {
        name: wire.SnapshotFrame(7, snap) for name, snap in snaps.items()
    }
    for name in ("degraded", "many_symbols"):
        frames[f"delta healthy->{name}"] = make_delta(snaps["healthy"], 3, snaps[name], 4)
    got = {
        name: hashlib.sha256(wire.encode_frame(frame)).hexdigest()[:16]
        for name, frame in frames.items()
    }
    assert got == WIRE_OF_THE_DATACLASS_RELEASE
