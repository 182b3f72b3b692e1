"""The daemon over its life: killed and restarted, stuck viewers, systemd notifications, a dead
exchange (degraded status)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from typing import Any

import pytest

from scalp_radar.core.snapshot import StreamState
from scalp_radar.engine import wire
from scalp_radar.sim import SimExchange, SimLimits
from scalp_radar.tui.attached import AttachedSource
from tests.daemon_support import Daemon, cli_env, run_cli, running_daemon, short_dir, wait_for


@pytest.fixture
def sim_options() -> dict[str, Any]:
    # The assets' 3 symbols at the demo's speed, Bitget's limits on: both daemons of the
    # reattach test share it, and are ready without the demo's 500-contract radar.
    return {"symbols": None, "speed": 60, "limits": SimLimits()}


@pytest.mark.slow
def test_viewer_keeps_a_stale_picture_when_the_daemon_dies_and_reattaches_when_it_returns(
    sim_thread: SimExchange,
):
    base = short_dir()
    market = ("--sim-url", sim_thread.url)
    first = Daemon(base, base / "d.db", base / "run" / "d.sock", market).start()
    viewer = AttachedSource(str(first.socket), rate_hz=10, retry_s=0.1)
    try:
        first.wait_ready()
        assert viewer.start(wait_s=10)
        assert viewer.attaches == 1
        first.stop(signal.SIGKILL)  # no goodbye: the lock and the socket are left to the kernel
        wait_for("the viewer to notice", lambda: not viewer.connected)
        stale = viewer.snapshot()
        assert stale is not None and len(stale.streams) == 12
        assert all(s.state is StreamState.STALE for s in stale.streams)
        assert all("daemon gone since" in (s.reason or "") for s in stale.streams)
        assert "daemon lost" in (viewer.header_note() or "")
        assert "STALE" in (viewer.header_note() or "")

        second = Daemon(base, base / "d.db", base / "run" / "d.sock", market).start()
        try:
            second.wait_ready()
            wait_for("the viewer to re-attach", lambda: viewer.connected and viewer.attaches == 2)
            assert viewer.welcome is not None and viewer.welcome.pid == second.pid
            wait_for(
                "live streams again",
                lambda: (
                    (s := viewer.snapshot()) is not None
                    and all(x.state is StreamState.LIVE for x in s.streams)
                ),
            )
            assert (viewer.header_note() or "").startswith("attached · daemon up")
        finally:
            assert second.stop() == 0
    finally:
        viewer.stop()
        first.stop()


def _stuck_viewer(path: str) -> socket.socket:
    """Attach, ask for 20 snapshots a second, then never read."""
    raw = socket.socket(socket.AF_UNIX)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(path)
    raw.sendall(wire.hello_line() + wire.encode_frame(wire.Subscribe(20)))
    return raw


@pytest.mark.slow
def test_a_stuck_viewer_is_dropped_and_does_not_grow_the_daemon():
    with running_daemon(None, "--viewer-timeout", "1") as daemon:
        healthy = AttachedSource(str(daemon.socket), rate_hz=10, retry_s=0.1)
        assert healthy.start(wait_s=10)
        rss_before = daemon.rss_kib()
        stuck = _stuck_viewer(str(daemon.socket))
        try:
            wait_for("two viewers", lambda: (h := daemon.health()) and h.viewers == 2)
            # Meanwhile the loop is not stalled: the healthy viewer keeps getting new pictures.
            seen = healthy.snapshot()
            assert seen is not None
            wait_for(
                "a newer snapshot for the healthy viewer",
                lambda: (s := healthy.snapshot()) is not None and s.taken_at_ms > seen.taken_at_ms,
            )
            wait_for(
                "the stuck viewer to be dropped", lambda: "dropped: read nothing" in daemon.output()
            )
            wait_for("one viewer", lambda: (h := daemon.health()) and h.viewers == 1)
            growth_mib = (daemon.rss_kib() - rss_before) / 1024
            assert growth_mib < 40, f"daemon RSS grew {growth_mib:.1f} MiB"
            assert healthy.connected
            # The stuck viewer's connection was cut: reading it ends (EOF or reset).
            stuck.settimeout(5)
            try:
                while stuck.recv(1 << 16):
                    pass
            except ConnectionResetError:
                pass
        finally:
            stuck.close()
            healthy.stop()


class _NotifyCollector:
    """systemd's side of NOTIFY_SOCKET: a datagram socket read on a thread, like the manager."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def index(self, line: str) -> int | None:
        """Position of the first message with `line`, or None."""
        for i, message in enumerate(list(self.messages)):
            if line in message.splitlines():
                return i
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_systemd_notifications_and_degraded_status_when_the_exchange_dies():
    base = short_dir()
    port = _free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "scalp_radar.app.cli", "sim", "--port", str(port), "--speed", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=base,
        env=cli_env(),
    )
    notify = _NotifyCollector(str(base / "notify.sock"))
    env = {"NOTIFY_SOCKET": str(base / "notify.sock"), "WATCHDOG_USEC": "200000"}
    daemon = Daemon(
        base, base / "d.db", base / "run" / "d.sock", ("--sim-url", f"http://127.0.0.1:{port}"), env
    )
    try:
        daemon.start()
        wait_for("READY=1", lambda: notify.index("READY=1") is not None, 40)
        wait_for("WATCHDOG=1", lambda: notify.index("WATCHDOG=1") is not None)
        # No ping before every stream was live.
        assert notify.index("WATCHDOG=1") > notify.index("READY=1")  # type: ignore[operator]
        health = daemon.health()
        assert health is not None and health.ready
        healthy = run_cli(
            "status", "--db", str(daemon.db), "--socket", str(daemon.socket), cwd=base
        )
        assert healthy.returncode == 0, healthy.stdout

        sim.kill()  # the exchange goes away: feeds stop being fresh
        sim.wait()
        wait_for("degraded health", lambda: (h := daemon.health()) and h.verdict == "degraded", 30)
        degraded = run_cli(
            "status", "--db", str(daemon.db), "--socket", str(daemon.socket), cwd=base
        )
        assert degraded.returncode == 1, degraded.stdout
        assert "DEGRADED" in degraded.stdout and "stale or failed" in degraded.stdout
        wait_for(
            "the watchdog ping withheld",
            lambda: "withholding the systemd watchdog ping: no feed is fresh" in daemon.output(),
        )
        withheld_from = len(notify.messages)
        assert daemon.stop() == 0
        tail = notify.messages[withheld_from:]
        assert "WATCHDOG=1" not in tail and any("STOPPING=1" in m for m in tail), tail
    finally:
        daemon.stop()
        if sim.poll() is None:
            sim.kill()
        notify.close()


@pytest.mark.slow
def test_status_demo_finds_the_demo_daemon_by_its_database():
    """No --db, no --socket: both sides derive the socket from the database the options select."""
    base = short_dir()
    env = {
        "XDG_DATA_HOME": str(base / "data"),
        "XDG_STATE_HOME": str(base / "state"),
        "XDG_RUNTIME_DIR": str(base / "run"),
    }
    daemon = subprocess.Popen(
        [sys.executable, "-m", "scalp_radar.app.cli", "--headless", "--demo"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=base,
        env=cli_env(env),
    )
    try:
        demo = wait_for(
            "the demo daemon",
            lambda: (r := run_cli("status", "--demo", cwd=base, env=env)).returncode == 0 and r,
            60,
        )
        assert f"socket: {base / 'run' / 'scalp-radar'}" in demo.stdout
        assert "DEMO" in demo.stdout
        real = run_cli("status", cwd=base, env=env)  # the real database has no daemon
        assert real.returncode == 2 and "no daemon for" in real.stdout
    finally:
        daemon.terminate()
        daemon.wait(20)
