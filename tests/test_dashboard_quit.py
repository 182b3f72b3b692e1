"""Quitting the dashboard: the engine stops and flushes first, then the process ends at once."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading

from scalp_radar.engine.runner import EngineRunner, EngineTarget
from tests.engine_support import BTC, make_config

# No database, no simulator: these tests only quit.
_TARGET = EngineTarget(make_config([BTC], ["1m"]), None)


class SlowStopRunner(EngineRunner):
    """A runner whose engine finishes its final flush only after `stop()` gave up joining."""

    def __init__(self) -> None:
        super().__init__(_TARGET)
        self.stop_returned = threading.Event()
        self.flushed = threading.Event()

    def stop(self, timeout_s: float = 0.9) -> None:
        super().stop(timeout_s)
        self.stop_returned.set()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        self._started.set()
        await self._stop_event.wait()
        await asyncio.to_thread(self.stop_returned.wait, 10)
        await asyncio.sleep(0.2)  # the final flush, still running after stop() returned
        self.flushed.set()


class QuitAtOnceApp:
    """The app's quit path without a terminal: `q` starts the stop on a helper thread and exits."""

    return_code = 0

    def __init__(self, source) -> None:
        self.source = source
        self._stop_thread: threading.Thread | None = None

    def run(self) -> None:
        self.stop_source()  # the user pressed q: the screen closes at once

    def stop_source(self) -> None:
        if self._stop_thread is None:
            self._stop_thread = threading.Thread(target=self.source.stop, daemon=True)
            self._stop_thread.start()

    def wait_source_stopped(self, timeout_s: float = 2.0) -> bool:
        self.stop_source()
        self._stop_thread.join(timeout_s)
        return not self._stop_thread.is_alive()


def _patch_dashboard(monkeypatch, runner: EngineRunner) -> None:
    import scalp_radar.engine.runner as runner_module
    import scalp_radar.tui.app as app_module

    monkeypatch.setattr(runner_module, "EngineRunner", lambda *a, **kw: runner)
    monkeypatch.setattr(app_module, "make_app", lambda source, **kw: QuitAtOnceApp(source))


def test_quitting_the_dashboard_waits_for_the_engine_final_flush(monkeypatch):
    from scalp_radar.app.dashboard import run_dashboard

    runner = SlowStopRunner()
    _patch_dashboard(monkeypatch, runner)
    assert run_dashboard(_TARGET) == 0
    # Returning means the process exits: the daemon engine thread must have finished first.
    assert runner.flushed.is_set()
    assert runner._thread is None


def test_quitting_with_a_stuck_engine_is_bounded_and_warns(monkeypatch):
    from loguru import logger

    import scalp_radar.app.dashboard as run_module

    runner = SlowStopRunner()
    runner.stop_returned = threading.Event()  # never set: the engine never finishes
    runner.stop = lambda timeout_s=0.9: EngineRunner.stop(runner, timeout_s)  # type: ignore
    _patch_dashboard(monkeypatch, runner)
    monkeypatch.setattr(run_module, "ENGINE_EXIT_WAIT_S", 0.3)
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING")
    try:
        assert run_module.run_dashboard(_TARGET) == 0
    finally:
        logger.remove(sink)
        runner.stop_returned.set()
        runner.join(5)
    assert any("did not finish stopping" in m for m in messages)


def test_the_process_ends_only_after_the_engine_flushed(monkeypatch):
    from scalp_radar.app.dashboard import run_dashboard

    runner = SlowStopRunner()
    _patch_dashboard(monkeypatch, runner)
    seen: list[tuple[int, bool]] = []

    class Exited(Exception):
        pass

    def exit_process(code: int):
        seen.append((code, runner.flushed.is_set()))
        raise Exited

    with contextlib.suppress(Exited):
        run_dashboard(_TARGET, exit_process=exit_process)
    assert seen == [(0, True)]


def test_exit_now_flushes_the_logs_and_skips_interpreter_teardown(tmp_path):
    log = tmp_path / "app.log"
    code = (
        "import atexit\n"
        "from loguru import logger\n"
        "from scalp_radar.app.dashboard import exit_now\n"
        f"logger.add({str(log)!r}, buffering=1 << 16)\n"
        "logger.info('final words')\n"
        "atexit.register(lambda: print('teardown ran'))\n"
        "print('still buffered', end='')\n"
        "exit_now(3)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 3
    assert "final words" in log.read_text()
    assert proc.stdout == "still buffered"  # flushed; the atexit teardown never ran
