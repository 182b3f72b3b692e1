"""`scalp-radar sim`: run the simulated Bitget standalone until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import math
import os
import signal
import sys

from scalp_radar.app.arg_types import MAX_SIM_SPEED, MIN_SIM_SPEED
from scalp_radar.app.errors import ExitCode, UsageError, print_error
from scalp_radar.app.signals import on_stop_signals
from scalp_radar.sim import SimExchange
from scalp_radar.sim.faults import parse_fault_spec
from scalp_radar.sim.symbols import parse_symbol

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_PR_SET_PDEATHSIG = 1


def _build(args: argparse.Namespace) -> SimExchange:
    """The SimExchange described by args (raises UsageError on bad input)."""
    from scalp_radar.sim.limits import SimLimits
    from scalp_radar.sim.server import DEFAULT_SYMBOLS

    if args.host not in _LOOPBACK:
        raise UsageError(f"--host: only a loopback address is allowed, got {args.host!r}")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: expected 0..65535, got {args.port}")
    # The parser checks too; callers that build a Namespace themselves get the same bound.
    if not (math.isfinite(args.speed) and MIN_SIM_SPEED <= args.speed <= MAX_SIM_SPEED):
        raise UsageError(
            f"--speed: expected simulated seconds per real second in "
            f"[{MIN_SIM_SPEED:g}, {MAX_SIM_SPEED:g}], got {args.speed:g}"
        )
    if args.contracts is not None and not 1 <= args.contracts <= 5000:
        raise UsageError(f"--contracts: expected 1..5000, got {args.contracts}")
    symbols = list(DEFAULT_SYMBOLS)
    if args.symbols:
        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        for s in symbols:
            try:
                parse_symbol(s)
            except ValueError as exc:
                raise UsageError(f"--symbols: {exc}") from None
        if not symbols:
            raise UsageError("--symbols: expected at least one symbol")
    plans = []
    if args.faults:
        try:
            plans = parse_fault_spec(args.faults)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    limits = SimLimits.off() if args.no_limits else SimLimits()
    if args.push_interval is not None:
        if args.push_interval < 0:
            raise UsageError(f"--push-interval: expected >= 0, got {args.push_interval}")
        from dataclasses import replace

        limits = replace(limits, push_interval_s=args.push_interval)
    sim = SimExchange(
        symbols=symbols,
        seed=args.seed,
        speed=args.speed,
        port=args.port,
        host=args.host,
        limits=limits,
        contracts=args.contracts,
    )
    for plan in plans:
        sim.faults.add_plan(plan)
    return sim


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """Set stop once the parent is gone (re-parented), wherever prctl is not available."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def _serve(sim: SimExchange, announce: bool = False, parent_pid: int | None = None) -> None:
    stop = asyncio.Event()
    with on_stop_signals(stop.set):
        watcher = None
        if parent_pid is not None:
            _die_with_parent()
            watcher = asyncio.create_task(_watch_parent(parent_pid, stop))
        try:
            await _serve_until(sim, stop, announce)
        finally:
            if watcher is not None:
                watcher.cancel()


async def _serve_until(sim: SimExchange, stop: asyncio.Event, announce: bool = False) -> None:
    await sim.start()
    try:
        if announce:
            ready = {"url": sim.url, "ws_url": sim.ws_url, "contracts": len(sim.market.specs)}
            print("SIM-READY " + json.dumps({**ready, **sim.clock.state()}), flush=True)
        print(f"simulated Bitget listening on {sim.url}", flush=True)
        print(f"  websocket: {sim.ws_url}", flush=True)
        names = [s.symbol for s in sim.market.specs.values()]
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        print(f"  symbols: {shown} | seed {sim.seed} | speed {sim.clock.speed:g}x", flush=True)
        print(f"  use it with: scalp-radar --sim-url {sim.url}   (Ctrl-C to stop)", flush=True)
        await stop.wait()
    finally:
        await sim.stop()


def run_sim(args: argparse.Namespace) -> int:
    """Run until SIGINT/SIGTERM; 0 on a clean stop, 2 on bad arguments."""
    try:
        sim = _build(args)
    except UsageError as exc:
        print_error(exc)
        return ExitCode.USAGE
    try:
        asyncio.run(_serve(sim, args.announce, args.parent_pid))
    except OSError as exc:
        print(
            f"scalp-radar sim: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return ExitCode.INCOMPLETE
    except KeyboardInterrupt:
        pass
    print("simulator stopped", flush=True)
    return ExitCode.OK
