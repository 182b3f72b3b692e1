"""`scalp-radar` (dashboard mode): start the engine thread, run the app, always stop the engine."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from loguru import logger

if TYPE_CHECKING:
    from scalp_radar.engine.runner import EngineTarget

# Textual repaints dirty widgets on a timer of 1/TEXTUAL_FPS (default 60): that timer alone adds
# up to 17 ms to every key press. 120 measured p50 20 -> 14 ms key->frame in a pty; the cost is
# nil at rest because the timer only runs while something is dirty (we refresh at a few Hz).
DEFAULT_TEXTUAL_FPS = "120"
# Longest wait, after the screen closed, for the engine thread to stop and flush before exiting.
ENGINE_EXIT_WAIT_S = 3.0


def configure_textual_env() -> None:
    """Set Textual's frame-rate cap unless the user chose one; call before importing textual."""
    os.environ.setdefault("TEXTUAL_FPS", DEFAULT_TEXTUAL_FPS)


def run_dashboard(
    target: EngineTarget,
    *,
    refresh_hz: float = 4.0,
    attach: bool | str | None = None,
    no_attach: bool = False,
    socket_option: str | None = None,
    exit_process: Callable[[int], NoReturn] | None = None,
) -> int:
    """Run the dashboard on `target` until the user quits; returns the process exit code.

    Attached to the database's daemon when one runs (or `attach` forces it), else standalone.
    With `exit_process` (the command line passes `exit_now`), the process ends through it once
    the engine has stopped (or the dashboard detached), instead of returning.
    """
    configure_textual_env()
    if not no_attach:
        code = _run_attached(target.db_path, attach, socket_option, target.demo, refresh_hz)
        if code is not None:
            return _finish(code, exit_process)
    from scalp_radar.engine.runner import EngineRunner
    from scalp_radar.tui.app import make_app
    from scalp_radar.tui.source import EngineSource

    runner = EngineRunner(target)
    runner.start()
    source = EngineSource(runner)
    app = make_app(source, demo=target.demo, refresh_hz=refresh_hz, freeze_heap=True)
    try:
        app.run()
    finally:
        # Quitting started the stop on a helper thread (the terminal is already restored);
        # after a crash nothing did: either way the engine must be stopped before we return.
        # That stop gives up joining the engine thread after under a second, and the thread is a
        # daemon: wait for it here, or exiting would kill it in the middle of its final flush.
        deadline = time.monotonic() + ENGINE_EXIT_WAIT_S
        app.wait_source_stopped(ENGINE_EXIT_WAIT_S)
        if not runner.join(deadline - time.monotonic()):
            logger.warning(
                "engine did not finish stopping within {:.0f} s (final flush may be lost);"
                " exiting anyway",
                ENGINE_EXIT_WAIT_S,
            )
        logger.info("dashboard closed")
    return _finish(app.return_code or 0, exit_process)


def _run_attached(
    db_path: Path | str | None,
    attach: bool | str | None,
    socket_option: str | None,
    demo: bool,
    refresh_hz: float,
) -> int | None:
    """Run the dashboard on the daemon's socket; None if no daemon runs and none was demanded."""
    from scalp_radar.app.daemon_client import AttachError, daemon_socket
    from scalp_radar.tui.app import make_app
    from scalp_radar.tui.attached import AttachedSource

    if isinstance(attach, str):
        path = Path(attach).expanduser()
    elif db_path is not None:
        path = daemon_socket(Path(db_path), socket_option)
    else:
        return None
    source = AttachedSource(str(path), rate_hz=refresh_hz)
    if not source.start():
        source.stop()
        if source.refusal:
            raise AttachError(f"{path}: {source.refusal}")
        if attach is None:
            return None  # nobody to attach to: run the engine here
        raise AttachError(
            f"--attach: no daemon listens on {path}; start one with `scalp-radar --headless`"
        )
    welcome = source.welcome
    logger.info(
        "attached to the daemon on {} (pid {})", path, welcome.pid if welcome else "unknown"
    )
    app = make_app(
        source,
        demo=demo or bool(welcome and welcome.demo),
        refresh_hz=refresh_hz,
        freeze_heap=True,
    )
    try:
        app.run()
    finally:
        app.wait_source_stopped(1.0)  # detaching only: the daemon keeps running
        logger.info("dashboard closed (the daemon keeps running)")
    return app.return_code or 0


def _finish(code: int, exit_process: Callable[[int], NoReturn] | None) -> int:
    """Return `code`, or end the process with it through `exit_process`."""
    if exit_process is not None:
        exit_process(code)
    return code


def exit_now(code: int) -> NoReturn:
    """End the process at once, once the engine has stopped: flush the logs and stdio, then exit.

    Interpreter teardown (garbage-collecting ccxt, pydantic and Textual) took ~0.5 s after the
    screen had closed; everything worth keeping is written by then (the engine's final flush,
    the database closed, the logs flushed here), so the shell prompt need not wait for it.
    """
    logger.remove()  # flushes and closes every sink
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
