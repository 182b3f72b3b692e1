"""The demo's simulator in a child process: URL announced, clock mirrored, stopped and reaped,
never orphaned when the parent dies, and the engine runs against it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scalp_radar.app.demo import child_simulator_factory, start_child_simulator
from scalp_radar.core.snapshot import StreamState
from scalp_radar.engine.runner import EngineRunner, EngineTarget
from scalp_radar.exchange.factory import create_exchange
from tests.engine_support import BTC, ETH, KEEPALIVE_MS, make_config

pytestmark = pytest.mark.slow


def gone(pid: int) -> bool:
    """True once pid no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state


def wait_gone(pid: int, limit_s: float = 20.0) -> bool:
    deadline = time.monotonic() + limit_s
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


async def test_child_announces_its_url_and_the_clock_is_mirrored_exactly() -> None:
    child = await start_child_simulator([BTC], speed=60.0, contracts=40)
    try:
        assert child.url.startswith("http://127.0.0.1:") and not gone(child.pid)
        ex = create_exchange(None, child.url)
        try:
            for _ in range(3):
                before = child.clock.now_ms()
                server = await ex.fetch_time()
                after = child.clock.now_ms()
                # Both sides compute one formula over the system-wide monotonic clock.
                assert before <= server <= after
            markets = await ex.load_markets()
            assert len([m for m in markets.values() if m["swap"]]) == 40
            assert child.clock.speed == 60.0
        finally:
            await ex.close()
    finally:
        await child.stop()
    assert child.proc.returncode is not None and gone(child.pid)


def test_child_dies_with_its_parent(tmp_path: Path) -> None:
    # A parent that starts the child simulator, reports its pid, then is SIGKILLed: no cleanup
    # code runs in it, yet the child must not be left serving.
    script = textwrap.dedent(
        """
        import asyncio, sys
        from scalp_radar.app.demo import start_child_simulator

        async def main():
            child = await start_child_simulator(["BTC/USDT:USDT"], contracts=5)
            print(child.pid, flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert not gone(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_gone(child_pid), "the child simulator outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


def test_engine_runs_against_the_child_simulator_and_stop_reaps_it(tmp_path: Path) -> None:
    runner = EngineRunner(
        EngineTarget(
            make_config([BTC, ETH], ["1m"]),
            tmp_path / "runner.db",
            demo=True,
            simulator=child_simulator_factory(120.0, contracts=30),
        ),
        exchange_options={"ws": {"keepAlive": KEEPALIVE_MS}},
    )
    runner.start()
    try:
        sim = runner.sim
        assert sim is not None and sim.url is not None
        pid = sim.pid  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while {s.state for s in runner.snapshot().streams} != {StreamState.LIVE}:
            assert time.monotonic() < deadline, "streams never went live"
            time.sleep(0.05)
        snap = runner.snapshot()
        assert snap.connection.demo is True
        # The engine's clock is the child's: snapshot times are simulated (120x) time.
        assert abs(snap.taken_at_ms - sim.clock.now_ms()) < 120 * 5_000
    finally:
        runner.stop()
        assert runner.join(10)
    assert wait_gone(pid, 10)
