"""A real `scalp-radar --headless --demo` daemon subprocess for tests, and small socket helpers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from scalp_radar.app.status_cmd import fetch_health
from scalp_radar.core.config import packaged_config_dir
from scalp_radar.engine.health import Health

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def short_dir() -> Path:
    """A private directory with a short path (a Unix socket path has at most 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="sr-"))


@functools.cache
def daemon_config_dir() -> Path:
    """The packaged config without hot movers: their candle streams come and go with the
    ranking, so the tests' stream and feed counts would race the demo market's movers."""
    target = short_dir() / "config"
    shutil.copytree(packaged_config_dir(), target)
    assets = target / "assets.yaml"
    text = assets.read_text()
    assert "  hot_count: 10 " in text, "the packaged assets.yaml changed: update this helper"
    assets.write_text(text.replace("  hot_count: 10 ", "  hot_count: 0 "))
    return target


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This checkout on PYTHONPATH, no user config, no systemd variables unless given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SCALP_RADAR_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(extra or {})
    return env


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
    """`scalp-radar ARGS` to completion: CompletedProcess with text output."""
    return subprocess.run(
        [sys.executable, "-m", "scalp_radar.app.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(env),
        timeout=timeout,
    )


def wait_for(what: str, probe: Callable[[], T | None], limit_s: float = 30.0) -> T:
    """Poll `probe` until it returns something truthy (the condition, not a duration, is tested)."""
    deadline = time.monotonic() + limit_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Daemon:
    """One daemon process on `db` listening on `socket`."""

    dir: Path
    db: Path
    socket: Path
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    log: Path | None = None

    def start(self) -> Daemon:
        self.log = self.dir / f"daemon-{time.monotonic_ns()}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "scalp_radar.app.cli",
                    "--headless",
                    "--demo",
                    "--db",
                    str(self.db),
                    "--socket",
                    str(self.socket),
                    # The embedded simulator in fast-forward; a --sim-url one has its own speed.
                    *(() if "--sim-url" in self.args else ("--sim-speed", "60")),
                    "--status-interval",
                    "1",
                    *(() if "--config" in self.args else ("--config", str(daemon_config_dir()))),
                    "--log-dir",
                    str(self.dir / "logs"),
                    *self.args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=self.dir,
                env=cli_env(self.env),
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text() if self.log is not None else ""

    def health(self) -> Health | None:
        try:
            return asyncio.run(fetch_health(self.socket))
        except (OSError, TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            return None

    def wait_ready(self, limit_s: float = 90.0) -> Health:
        def ready() -> Health | None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited {self.proc.returncode}: {self.output()[-3000:]}"
                )
            health = self.health()
            return health if health is not None and health.ready else None

        return wait_for("the daemon to be ready", ready, limit_s)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@contextlib.contextmanager
def running_daemon(
    base: Path | None = None, *args: str, env: dict[str, str] | None = None
) -> Iterator[Daemon]:
    """A started, ready daemon; stopped (SIGTERM) afterwards."""
    base = base or short_dir()
    daemon = Daemon(base, base / "d.db", base / "run" / "d.sock", args, env or {}).start()
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.stop()
