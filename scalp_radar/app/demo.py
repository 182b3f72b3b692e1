"""Demo wiring: the only place that starts a simulated exchange for the engine.

`--demo` runs the simulator in a child process (`python -m scalp_radar sim`), so serving hundreds of
contracts never competes with the dashboard for the GIL; the engine's clock mirrors the child's.
The in-process factory stays for tests that reach into `sim.clock` or `sim.faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Sequence

from loguru import logger

from scalp_radar.core.sim_identity import IDENTITY_PATH, SimIdentity
from scalp_radar.engine.runner import Simulator, SimulatorFactory
from scalp_radar.sim.clock import SimClock

DEMO_CONTRACTS = 500  # the market-wide radar's universe in --demo
READY_TIMEOUT_S = 60.0  # a loaded 2-core machine needs a few seconds to import and bind
STOP_TIMEOUT_S = 5.0
_READY = "SIM-READY "

# The embedded simulator (`--demo`): default seed, clock on the wall clock.
EMBEDDED = SimIdentity()


def simulated_history(sim_url: str | None) -> SimIdentity:
    """The identity of the simulated history: asked of the simulator at sim_url, else the
    embedded one's. ValueError (one line) when the simulator does not answer it."""
    if not sim_url:
        return EMBEDDED
    url = sim_url.rstrip("/") + IDENTITY_PATH
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return SimIdentity.from_json(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} on {IDENTITY_PATH}; is it a `scalp-radar sim`?"
    except urllib.error.URLError as exc:
        reason = f"{exc.reason}; start it with `scalp-radar sim` first"
    except (OSError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
    raise ValueError(
        f"cannot ask the simulator at {sim_url} which history it serves ({reason}), "
        "or pass --db PATH"
    )


def simulator_factory(speed: float = 1.0, contracts: int | None = None) -> SimulatorFactory:
    """A factory that starts the simulator in this process on 127.0.0.1 (any free port)."""

    async def start(symbols: Sequence[str]) -> Simulator:
        from scalp_radar.sim import SimExchange

        sim = SimExchange(symbols=list(symbols), speed=speed, port=0, contracts=contracts)
        await sim.start()
        logger.warning("DEMO: simulated market at {} — prices are not real", sim.url)
        return sim

    return start


class ChildSimulator:
    """A simulator running in a child process: its URL, a clock that mirrors its clock, stop()."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, clock: SimClock) -> None:
        self.proc = proc
        self._url = url
        self._clock = clock
        self._drains: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        """Base URL of the child's REST API."""
        return self._url

    @property
    def clock(self) -> SimClock:
        """The child's simulated clock, computed here (monotonic time is system-wide)."""
        return self._clock

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; always reaped."""
        try:
            await _end(self.proc)
        except asyncio.CancelledError:
            # The caller gave up waiting (EngineStack bounds the stop): no child may outlive it.
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            raise
        for task in self._drains:
            task.cancel()
        await asyncio.gather(*self._drains, return_exceptions=True)


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def _drain(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    """Keep reading a child's pipe (a full pipe would block it), remembering the last lines."""
    while line := await stream.readline():
        tail.append(line.decode(errors="replace").rstrip())


async def start_child_simulator(
    symbols: Sequence[str], speed: float = 1.0, contracts: int | None = DEMO_CONTRACTS
) -> ChildSimulator:
    """Spawn `python -m scalp_radar sim --port 0 ...` and wait for its SIM-READY line.

    The child stops by itself when this process dies (PR_SET_PDEATHSIG plus a parent-pid watch),
    and only then or by `stop()`: terminal signals reach this process, not it.
    """
    argv = [sys.executable, "-m", "scalp_radar", "sim", "--port", "0", "--speed", repr(speed)]
    argv += ["--announce", "--parent-pid", str(os.getpid())]
    if symbols:
        argv += ["--symbols", ",".join(symbols)]
    if contracts is not None:
        argv += ["--contracts", str(contracts)]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,  # never onto the dashboard's screen
        # Its own session: a Ctrl-C in the terminal signals the whole foreground group, and a
        # simulator that died first turned the engine's shutdown into "cannot reach the
        # exchange" incidents, stored as history. This process stops it after the engine.
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors: deque[str] = deque(maxlen=5)
    err_task = asyncio.create_task(_drain(proc.stderr, errors))
    try:
        ready = await asyncio.wait_for(_ready_line(proc.stdout), READY_TIMEOUT_S)
    except (TimeoutError, EOFError) as exc:
        await _end(proc)
        await asyncio.gather(err_task, return_exceptions=True)
        why = "timed out" if isinstance(exc, TimeoutError) else f"exited ({proc.returncode})"
        detail = f": {errors[-1]}" if errors else ""
        raise RuntimeError(f"demo simulator {why} before listening{detail}") from None
    except BaseException:
        await _end(proc)
        err_task.cancel()
        raise
    clock = SimClock.following(ready["base_ms"], ready["base_monotonic"], ready["speed"])
    child = ChildSimulator(proc, ready["url"], clock)
    child._drains = [err_task, asyncio.create_task(_drain(proc.stdout, deque(maxlen=5)))]
    logger.warning(
        "DEMO: simulated market at {} (child process {}, {} contracts) — prices are not real",
        child.url,
        child.pid,
        ready.get("contracts"),
    )
    return child


async def _ready_line(stdout: asyncio.StreamReader) -> dict:
    while line := await stdout.readline():
        text = line.decode(errors="replace").strip()
        if text.startswith(_READY):
            return dict(json.loads(text[len(_READY) :]))
    raise EOFError


def child_simulator_factory(
    speed: float = 1.0, contracts: int | None = DEMO_CONTRACTS
) -> SimulatorFactory:
    """The `--demo` factory: the simulator in a child process, `contracts` perpetuals."""

    async def start(symbols: Sequence[str]) -> Simulator:
        return await start_child_simulator(symbols, speed, contracts)

    return start
