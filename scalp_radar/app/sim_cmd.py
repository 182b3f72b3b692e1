"""`scalp-radar sim`: run the simulated Bitget standalone until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys

from scalp_radar.sim.faults import FAULT_KINDS, parse_fault_spec
from scalp_radar.sim.symbols import parse_symbol

DEFAULT_PORT = 8765
_LOOPBACK = ("127.0.0.1", "localhost", "::1")

_FAULTS_HELP = (
    "faults to inject, comma-separated KIND[:KEY=VALUE]...[@WHEN], WHEN = SECONDS | "
    "SECONDS/PERIOD | random[/MEAN] (real seconds after start); e.g. "
    "'drop@10,stale:duration=20@30,gap:random,rest429:count=5@5/60'. Kinds: "
    + ", ".join(FAULT_KINDS)
)


def add_sim_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `scalp-radar sim`."""
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port, 0 = any free one (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="loopback address to bind (only 127.0.0.1, localhost, ::1)",
    )
    parser.add_argument("--seed", type=int, default=42, help="market seed (default 42)")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second, e.g. 60 closes a 1m candle every second",
    )
    parser.add_argument(
        "--symbols",
        default=None,
        help="comma-separated symbols, e.g. BTC/USDT:USDT,ETH/USDT:USDT (default: BTC, ETH, SOL)",
    )
    parser.add_argument("--faults", default=None, metavar="SPEC", help=_FAULTS_HELP)
    parser.add_argument(
        "--no-limits", action="store_true", help="switch off every rate limit and connection limit"
    )
    parser.add_argument(
        "--push-interval",
        type=float,
        default=None,
        metavar="S",
        help="real seconds between two pushes of a channel (default 0.25; 0 = firehose)",
    )


class _ArgError(Exception):
    """A bad command-line value (one line)."""


def _build(args: argparse.Namespace):
    """The SimExchange described by args (raises _ArgError on bad input)."""
    from scalp_radar.sim.limits import SimLimits
    from scalp_radar.sim.server import DEFAULT_SYMBOLS, SimExchange

    if args.host not in _LOOPBACK:
        raise _ArgError(f"--host: only a loopback address is allowed, got {args.host!r}")
    if not 0 <= args.port <= 65535:
        raise _ArgError(f"--port: expected 0..65535, got {args.port}")
    if not math.isfinite(args.speed) or args.speed <= 0:
        raise _ArgError(f"--speed: expected a positive number, got {args.speed}")
    symbols = list(DEFAULT_SYMBOLS)
    if args.symbols:
        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        for s in symbols:
            try:
                parse_symbol(s)
            except ValueError as exc:
                raise _ArgError(f"--symbols: {exc}") from None
        if not symbols:
            raise _ArgError("--symbols: expected at least one symbol")
    plans = []
    if args.faults:
        try:
            plans = parse_fault_spec(args.faults)
        except ValueError as exc:
            raise _ArgError(str(exc)) from None
    limits = SimLimits.off() if args.no_limits else SimLimits()
    if args.push_interval is not None:
        if args.push_interval < 0:
            raise _ArgError(f"--push-interval: expected >= 0, got {args.push_interval}")
        from dataclasses import replace

        limits = replace(limits, push_interval_s=args.push_interval)
    sim = SimExchange(
        symbols=symbols,
        seed=args.seed,
        speed=args.speed,
        port=args.port,
        host=args.host,
        limits=limits,
    )
    for plan in plans:
        sim.faults.add_plan(plan)
    return sim


async def _serve(sim) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await sim.start()
    try:
        print(f"simulated Bitget listening on {sim.url}", flush=True)
        print(f"  websocket: {sim.ws_url}", flush=True)
        print(
            f"  symbols: {', '.join(s.symbol for s in sim.market.specs.values())} | "
            f"seed {sim.seed} | speed {sim.clock.speed:g}x",
            flush=True,
        )
        print(f"  use it with: scalp-radar --sim-url {sim.url}   (Ctrl-C to stop)", flush=True)
        await stop.wait()
    finally:
        await sim.stop()


def run_sim(args: argparse.Namespace) -> int:
    """Run until SIGINT/SIGTERM; 0 on a clean stop, 2 on bad arguments."""
    try:
        sim = _build(args)
    except _ArgError as exc:
        print(f"scalp-radar sim: error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(sim))
    except OSError as exc:
        print(
            f"scalp-radar sim: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        pass
    print("simulator stopped", flush=True)
    return 0
