"""The daemon's parts on their own: wire format, health verdicts, the engine lock, sd_notify,
socket paths, the --http value."""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import sys
import threading
from pathlib import Path

import msgspec
import pytest

from scalp_radar.app.arg_types import http_bind
from scalp_radar.app.loop_thread import LoopThread
from scalp_radar.app.sd_notify import Notifier
from scalp_radar.core.daemon_paths import SocketPathError, check_socket_path, socket_path_for
from scalp_radar.core.engine_lock import EngineLock, EngineLocked, EngineRole, holder_of
from scalp_radar.core.snapshot import (
    Incident,
    ShardSnapshot,
    ShardState,
    StreamState,
    UniverseSnapshot,
)
from scalp_radar.engine import wire
from scalp_radar.engine.health import Verdict, assess
from scalp_radar.history.types import BackfillPlan, BackfillProgress, BackfillRequest
from scalp_radar.tui.attached import format_uptime, marked_stale
from scalp_radar.tui.fixtures import degraded_snapshot, healthy_snapshot, many_symbols_snapshot


def _roundtrip(message):
    frame = wire.encode_frame(message)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    return frame[4:]


def test_a_whole_engine_snapshot_crosses_the_wire_unchanged():
    snap = many_symbols_snapshot()
    payload = _roundtrip(wire.SnapshotFrame(7, snap))
    back = wire.decode_server(payload)
    assert isinstance(back, wire.SnapshotFrame)
    assert back.seq == 7 and back.snapshot == snap
    assert back.snapshot.streams[0].state is snap.streams[0].state  # StrEnum, not str


def test_requests_cross_the_wire_unchanged():
    request = BackfillRequest(("BTC/USDT:USDT",), ("1m", "5m"), 1, 2, force=True)
    for message in (
        wire.Subscribe(4.0),
        wire.StartBackfill(3, BackfillPlan((), 0, 0.0)),
        wire.PlanBackfill(4, request),
        wire.CancelBackfill(3),
        wire.HistoryJob(1, "backfill", streams=(("BTC/USDT:USDT", ("1m",)),), days=2.0),
        wire.SetWatchlist(("ETH/USDT:USDT",)),
        wire.SparklineRequest(("ETH/USDT:USDT",), 30),
        wire.Pin("ETH/USDT:USDT"),
        wire.Unpin("ETH/USDT:USDT"),
        wire.Subscribe(4.0, deltas=True),
        wire.HealthRequest(),
    ):
        assert wire.decode_client(_roundtrip(message)) == message
    progress = wire.BackfillProgressed(3, BackfillProgress(1, 2, 200, 50.0, 1.0, "w"))
    assert wire.decode_server(_roundtrip(progress)) == progress


def test_garbage_is_a_protocol_error_not_a_crash():
    with pytest.raises(wire.ProtocolError):
        wire.decode_client(b"\xc1\x00garbage")
    with pytest.raises(wire.ProtocolError):
        wire.decode_server(_roundtrip(wire.Subscribe(1.0)))  # a request is no server message


def test_hello_accepts_any_minor_of_our_major_and_refuses_others_in_one_line():
    assert wire.check_hello(wire.hello_line()) is None
    assert wire.check_hello(f"scalp-radar-protocol {wire.PROTOCOL_MAJOR}.99\n".encode()) is None
    other = wire.check_hello(f"scalp-radar-protocol {wire.PROTOCOL_MAJOR + 1}.0\n".encode())
    assert other is not None and other.startswith("refused: ") and "\n" not in other
    assert wire.check_hello(b"GET / HTTP/1.1\r\n") is not None


def test_health_is_healthy_with_fresh_feeds_and_names_every_reason_when_degraded():
    healthy = assess(healthy_snapshot())
    assert healthy.verdict is Verdict.HEALTHY and healthy.exit_code == 0
    assert healthy.feeds_fresh == healthy.feeds_total > 0 and not healthy.reasons
    degraded = assess(degraded_snapshot())
    assert degraded.verdict is Verdict.DEGRADED and degraded.exit_code == 1
    assert any("candle streams stale or failed" in r for r in degraded.reasons)
    snap = healthy_snapshot()
    broken = msgspec.structs.replace(
        snap, connection=msgspec.structs.replace(snap.connection, database_ok=False)
    )
    assert assess(broken).reasons == ("database: writes failing",)


def test_health_counts_only_the_last_hours_incidents():
    snap = healthy_snapshot()
    now = snap.taken_at_ms
    incidents = (
        Incident(now - 1_000, "gap", "BTC/USDT:USDT", "1m", "gap healed"),
        Incident(now - 3_000_000, "reconnect", None, None, "reconnected"),
        Incident(now - 4_000_000, "reconnect", None, None, "old"),
    )
    health = assess(msgspec.structs.replace(snap, incidents=incidents))
    assert health.incidents_last_hour == 2
    assert health.incident_kinds == {"gap": 1, "reconnect": 1}
    assert health.last_incident == "gap healed"


def test_one_feed_of_twenty_stale_is_tolerated_three_are_not():
    snap = many_symbols_snapshot()
    streams = list(snap.streams[:20])
    assert assess(msgspec.structs.replace(snap, streams=tuple(streams))).verdict is Verdict.HEALTHY
    for i in range(3):
        streams[i] = msgspec.structs.replace(streams[i], state=StreamState.STALE)
    verdict = assess(msgspec.structs.replace(snap, streams=tuple(streams)))
    assert verdict.verdict is Verdict.DEGRADED and verdict.feeds_fresh == 17


def test_ticker_shards_are_feeds_too():
    snap = healthy_snapshot()
    shards = (
        ShardSnapshot(0, ShardState.LIVE, 50, 1, 1, 0.3),
        ShardSnapshot(1, ShardState.RECONNECTING, 50, 2, 3, 75.0, reason="HTTP 503"),
    )
    universe = UniverseSnapshot(mode="all", symbols=100, shards=shards, tickers_live=50)
    health = assess(msgspec.structs.replace(snap, universe=universe))
    assert health.verdict is Verdict.DEGRADED
    shard_feeds = [f for f in health.feeds if f.kind == "shard"]
    assert [(f.name, f.fresh, f.reason) for f in shard_feeds] == [
        ("tickers #0 (50 symbols)", True, None),
        ("tickers #1 (50 symbols)", False, "HTTP 503"),
    ]
    assert any("tickers #1" in r for r in health.reasons)
    assert health.universe_symbols == 100 and health.tickers_live == 50


def test_engine_lock_refuses_a_second_engine_and_says_how_to_attach(tmp_path):
    db = tmp_path / "x.db"
    assert holder_of(db) is None
    first = EngineLock(db, EngineRole.DAEMON).acquire()
    try:
        with pytest.raises(EngineLocked) as refused:
            EngineLock(db, EngineRole.DASHBOARD).acquire()
        text = str(refused.value)
        assert "\n" not in text and "daemon" in text and "run `scalp-radar` to attach" in text
        assert holder_of(db) == (__import__("os").getpid(), EngineRole.DAEMON)
    finally:
        first.release()
    dashboard = EngineLock(db, EngineRole.DASHBOARD).acquire()
    try:
        with pytest.raises(EngineLocked, match="quit it first"):
            EngineLock(db, EngineRole.DAEMON).acquire()
    finally:
        dashboard.release()
    assert holder_of(db) is None


def test_socket_path_is_one_per_database_in_the_runtime_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    a = socket_path_for(tmp_path / "a.db")
    assert a.parent == tmp_path / "run" / "scalp-radar" and a.name.startswith("a-")
    assert a == socket_path_for(tmp_path / "." / "a.db")  # the same database, the same socket
    assert a != socket_path_for(tmp_path / "sub" / "a.db")
    with pytest.raises(SocketPathError, match="too long"):
        check_socket_path(tmp_path / ("x" * 120))


def test_http_binds_loopback_unless_a_host_is_given():
    assert http_bind("9100") == ("127.0.0.1", 9100)
    assert http_bind("127.0.0.1:9100") == ("127.0.0.1", 9100)
    assert http_bind("0.0.0.0:9100") == ("0.0.0.0", 9100)
    assert http_bind("[::1]:9100") == ("::1", 9100)
    for bad in ("", "x:9100", "127.0.0.1:0", "127.0.0.1:70000", "host:port"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected"):
            http_bind(bad)


def test_sd_notify_never_blocks_when_nobody_reads(tmp_path):
    """Regression: a blocking sendto on a full datagram socket froze the daemon's loop."""
    path = str(tmp_path / "notify")
    unread = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unread.bind(path)
    notifier = Notifier(path)
    sent: list[bool] = []

    def flood() -> None:
        sent.extend(notifier.notify("WATCHDOG=1") for _ in range(5000))

    worker = threading.Thread(target=flood, daemon=True)
    worker.start()
    worker.join(30)
    try:
        assert not worker.is_alive(), "sd_notify blocked on a full socket"
        assert sent[0] is True and sent[-1] is False  # the queue filled; later pings were dropped
        assert unread.recv(100) == b"WATCHDOG=1"
    finally:
        notifier.close()
        unread.close()


def test_sd_notify_is_a_no_op_outside_systemd():
    assert Notifier(None).notify("READY=1") is False
    assert Notifier("@abstract-name").address == "\0abstract-name"


def test_a_lost_daemons_picture_is_marked_stale_with_the_reason():
    snap = healthy_snapshot()
    stale = marked_stale(snap, "daemon gone since 12:00:00")
    assert all(s.state is StreamState.STALE for s in stale.streams)
    assert all(s.reason == "daemon gone since 12:00:00" for s in stale.streams)
    assert [s.last_candle for s in stale.streams] == [s.last_candle for s in snap.streams]


def test_uptime_reads_in_its_largest_unit():
    assert [format_uptime(x) for x in (5, 75, 7300, 3 * 86400 + 5)] == [
        "5 s",
        "1 min",
        "2 h",
        "3 d",
    ]


def test_a_fast_demo_clock_needs_its_own_database(tmp_path):
    """Regression: `--demo --sim-speed 60` wrote fast-clock candles into the shared demo db."""
    from tests.daemon_support import run_cli

    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state")}
    out = run_cli("--headless", "--demo", "--sim-speed", "60", cwd=tmp_path, env=env, timeout=20)
    assert out.returncode == 2, out.stderr[-500:]
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "--sim-speed" in lines[0] and "--db PATH" in lines[0]
    assert not list(tmp_path.rglob("*.db"))
    remote = run_cli(
        "--headless", "--sim-url", "http://127.0.0.1:9", "--sim-speed", "60", "--db",
        str(tmp_path / "x.db"), cwd=tmp_path, env=env, timeout=20,
    )  # fmt: skip
    assert remote.returncode == 2 and "embedded --demo simulator only" in remote.stderr


def test_the_socket_path_is_the_same_before_and_after_the_daemon_creates_its_directory(
    tmp_path, monkeypatch
):
    """Regression: the runtime dir was created 0755, failed the XDG check (0700) afterwards, and
    later processes looked for the socket elsewhere."""
    import stat as stat_module

    from scalp_radar.core.daemon_paths import private_socket_dir

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run" / "user"))
    before = socket_path_for(tmp_path / "a.db")
    private_socket_dir(before)
    assert socket_path_for(tmp_path / "a.db") == before
    for directory in (tmp_path / "run", tmp_path / "run" / "user", before.parent):
        assert stat_module.S_IMODE(directory.stat().st_mode) == 0o700, directory


async def test_the_socket_server_stops_while_snapshots_keep_coming():
    """Regression: stop() cancelled the pump inside wait_for while the engine woke it; Python
    3.11's wait_for can swallow that cancellation, and the daemon's SIGTERM never finished.
    Here a delta viewer is attached, so every publish wakes the pump and a delta is sent."""
    import asyncio
    import tempfile
    from pathlib import Path

    from scalp_radar.app.daemon_server import DaemonServer

    snaps = [healthy_snapshot(), many_symbols_snapshot()]
    current = [snaps[0]]
    base = Path(tempfile.mkdtemp(prefix="sr-"))
    for round_ in range(30):
        server = DaemonServer(
            lambda: current[0],
            socket_path=base / f"{round_}.sock",
            db_path=base / "x.db",
            demo=True,
        )
        await server.start()
        conn = await wire.connect(str(server.socket_path))
        await conn.send(wire.Subscribe(20.0, deltas=True))
        while not isinstance(await asyncio.wait_for(conn.receive(), 5), wire.SnapshotFrame):
            pass  # the Welcome, then the first snapshot: attached
        stop_publishing = asyncio.Event()

        async def engine(server: DaemonServer = server, stop: asyncio.Event = stop_publishing):
            for i in itertools.count():
                if stop.is_set():
                    return
                current[0] = snaps[i % 2]
                server.publish(current[0])  # as the engine does with every snapshot, no pause
                await asyncio.sleep(0)

        task = asyncio.create_task(engine())
        await asyncio.sleep(0.01)
        try:
            await asyncio.wait_for(server.stop(), 5)  # hung forever before the fix
        finally:
            stop_publishing.set()
            await task
            await conn.close()
        assert server.frames_encoded > 0
        assert not (base / f"{round_}.sock").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the OS thread name is Linux's")
def test_the_socket_loop_thread_is_named_where_top_and_proc_show_it():
    serving = LoopThread("daemon-socket")
    serving.start()
    try:
        tid = serving.submit(_native_id()).result(5)
        comm = Path(f"/proc/{os.getpid()}/task/{tid}/comm").read_text().strip()
    finally:
        serving.stop()
    assert comm == "daemon-socket"


async def _native_id() -> int:
    return threading.get_native_id()
