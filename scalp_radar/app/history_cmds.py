"""`scalp-radar backfill` and `scalp-radar data list|repair`.

The lead's `scalp_radar.app.cli` builds the parsers (adding --config/--db/--log-* itself) and calls
`run_backfill(args)` / `run_data(args)` with these attributes on `args`:
  app_config  loaded AppConfig                         (set by cli._with_config)
  db_path     Path of the SQLite file                  (set by cli._resolve_paths)
  sim_url     str | None, simulator URL                (flag, else config.exchange.sim_url)
  demo        bool, start an in-process simulator
and the options added below (symbol, timeframe, days, since, until, force, concurrency, retries;
data: data_command). Missing optional attributes fall back to their defaults.

Exit codes: 0 complete; 1 incomplete (windows named) or failed; 2 bad input (one line, before
any candle request); 130 cancelled with Ctrl-C (what was written is valid; rerun to complete).
ccxt is imported lazily: `--help` must stay fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scalp_radar.core.models import TimeFrame
from scalp_radar.history.plan import DAY_MS, describe_plan, format_duration
from scalp_radar.history.types import (
    BackfillPlan,
    BackfillProgress,
    BackfillRequest,
    BackfillResult,
)

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130
DEFAULT_DAYS = 30.0
_SYMBOL_RE = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+:[A-Z0-9]+$")


class InputError(Exception):
    """Bad user input: printed as one line, exit 2, before any candle request."""


# ------------------------------------------------------------------------------ arguments


def _add_exchange_args(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS defaults: `scalp-radar --demo backfill` and `scalp-radar backfill --demo` both work.
    parser.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS,
        help="run against an embedded simulated Bitget (prices are NOT real)",
    )
    parser.add_argument(
        "--sim-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="use a simulator started elsewhere (`scalp-radar sim`)",
    )


def _add_run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--symbol",
        action="append",
        metavar="SYMBOL",
        help="ccxt perpetual symbol, e.g. BTC/USDT:USDT (repeatable; default: all configured)",
    )
    parser.add_argument(
        "--timeframe",
        action="append",
        metavar="TF",
        help="1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w (repeatable; default: configured ones)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=6,
        metavar="N",
        help="requests in flight (default 6; the market_data rate limit still governs)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=5,
        metavar="N",
        help="retries per window on network errors, 429 and 5xx (default 5)",
    )
    _add_exchange_args(parser)


def add_backfill_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `scalp-radar backfill` (the caller adds --config/--db/--log-*)."""
    _add_run_args(parser)
    parser.add_argument(
        "--days",
        type=float,
        metavar="N",
        help=f"history depth in days back from --until (default {DEFAULT_DAYS:g})",
    )
    parser.add_argument(
        "--since", metavar="WHEN", help="start, UTC: 2026-01-01 or 2026-01-01T12:00 (inclusive)"
    )
    parser.add_argument("--until", metavar="WHEN", help="end, UTC (exclusive; default now)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="fetch everything again (default: resume, fetching only what is missing)",
    )
    parser.add_argument(
        "--yes", "-y", action="store_true", help="accepted for scripts; the plan never prompts"
    )


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """`scalp-radar data list` and `scalp-radar data repair`."""
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="stored history: first, last, count, holes, coverage")
    listing.add_argument("--symbol", action="append", metavar="SYMBOL", help="only this symbol")
    listing.add_argument("--timeframe", action="append", metavar="TF", help="only this timeframe")
    listing.add_argument("--holes", action="store_true", help="also print every hole's time range")
    repair = sub.add_parser("repair", help="fetch exactly the holes between first and last")
    _add_run_args(repair)
    for p in (listing, repair):
        p.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help="SQLite file")


# ------------------------------------------------------------------------------ input checks


def parse_when(text: str, option: str) -> int:
    """ISO date or datetime (naive = UTC) -> epoch ms; InputError naming `option` otherwise."""
    raw = text.strip()
    value = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{option}: expected an ISO date or datetime in UTC such as 2026-01-31 or "
            f"2026-01-31T12:00, got {text!r}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def check_symbol(text: str) -> str:
    """Upper-cased ccxt perpetual symbol, or InputError."""
    symbol = text.strip().upper()
    if not _SYMBOL_RE.match(symbol):
        raise InputError(
            f"--symbol: expected a ccxt perpetual symbol BASE/QUOTE:SETTLE such as "
            f"BTC/USDT:USDT, got {text!r}"
        )
    return symbol


def check_timeframe(text: str) -> str:
    """Timeframe value ("1m", ...), or InputError listing the valid ones."""
    try:
        return TimeFrame.from_string(text).value
    except ValueError as exc:
        raise InputError(f"--timeframe: {exc}") from None


@dataclass(frozen=True, slots=True)
class Selection:
    """Which (symbol, timeframes) the user asked for."""

    streams: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols in order."""
        return tuple(s for s, _ in self.streams)


def select_streams(args: argparse.Namespace, config: Any) -> Selection:
    """Symbols x timeframes from flags, defaulting to the configured assets and their timeframes."""
    configured: dict[str, list[str]] = {}
    for asset in config.assets:
        configured[asset.symbol] = [TimeFrame.from_string(str(t)).value for t in asset.timeframes]
    symbols = [check_symbol(s) for s in (getattr(args, "symbol", None) or [])]
    tfs = [check_timeframe(t) for t in (getattr(args, "timeframe", None) or [])]
    if not symbols:
        symbols = list(configured)
    if not symbols:
        raise InputError("--symbol: none given and no assets configured")
    all_configured = list(dict.fromkeys(t for ts in configured.values() for t in ts)) or ["1m"]
    streams = []
    for symbol in dict.fromkeys(symbols):
        chosen = tfs or configured.get(symbol) or all_configured
        streams.append((symbol, tuple(dict.fromkeys(chosen))))
    return Selection(tuple(streams))


def resolve_range(args: argparse.Namespace, now_ms: int) -> tuple[int, int]:
    """[since, until) in ms from --days/--since/--until; InputError if bad or inverted."""
    days = getattr(args, "days", None)
    since_text = getattr(args, "since", None)
    until_text = getattr(args, "until", None)
    if days is not None and since_text is not None:
        raise InputError("--days and --since: give one of them, not both")
    if days is not None and not (0 < days <= 36500):
        raise InputError(f"--days: expected a number of days > 0, got {days:g}")
    until = parse_when(until_text, "--until") if until_text else now_ms
    until = min(until, now_ms)
    if since_text is not None:
        since = parse_when(since_text, "--since")
    else:
        since = until - int((days if days is not None else DEFAULT_DAYS) * DAY_MS)
    if since >= now_ms:
        raise InputError(f"--since: {since_text} is in the future")
    if since >= until:
        raise InputError(
            f"--since/--until: since ({_fmt(since)}) must be before until ({_fmt(until)})"
        )
    return since, until


def _check_run_args(args: argparse.Namespace) -> None:
    concurrency = getattr(args, "concurrency", 6)
    if not 1 <= concurrency <= 32:
        raise InputError(f"--concurrency: expected 1..32, got {concurrency}")
    retries = getattr(args, "retries", 5)
    if not 0 <= retries <= 20:
        raise InputError(f"--retries: expected 0..20, got {retries}")


def _fmt(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _error(message: str) -> int:
    print(f"scalp-radar: error: {message}", file=sys.stderr)
    return EXIT_USAGE


# ------------------------------------------------------------------------------ session


class _Session:
    """Simulator (in demo), exchange, limiter and database for one command; closed in order."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.config = args.app_config
        self.sim: Any = None
        self.exchange: Any = None
        self.db: Any = None
        self.limiter: Any = None

    async def open_db(self) -> Any:
        from scalp_radar.core.store import Database

        self.db = Database(Path(self.args.db_path))
        await self.db.init()
        return self.db

    async def open_exchange(self) -> Any:
        from scalp_radar.core.limiter import RateLimiter
        from scalp_radar.exchange.factory import create_exchange
        from scalp_radar.history.backfill import disable_ccxt_throttle

        sim_url = getattr(self.args, "sim_url", None)
        if getattr(self.args, "demo", False) and not sim_url:
            from scalp_radar.sim import SimExchange

            self.sim = SimExchange(symbols=list(self.config.symbols))
            await self.sim.start()
            sim_url = self.sim.url
            print(f"DEMO: simulated Bitget at {sim_url} - prices are NOT real")
        elif sim_url:
            print(f"using simulator at {sim_url}")
        self.exchange = create_exchange(self.config, sim_url=sim_url)
        # This instance runs no websocket watchers, so ccxt's own throttle can go: the shared
        # RateLimiter governs every request (see disable_ccxt_throttle).
        disable_ccxt_throttle(self.exchange)
        self.limiter = RateLimiter.from_exchange_config(self.config.exchange)
        await self.limiter.acquire("market_data")
        await self.exchange.load_markets()
        return self.exchange

    async def server_now_ms(self) -> int:
        """The exchange's clock (a simulator's may run faster than the wall clock)."""
        from scalp_radar.exchange.clock_sync import follow_server_clock

        await self.limiter.acquire("market_data")
        local = int(time.time() * 1000)
        try:
            server = int(await self.exchange.fetch_time())
        except Exception:
            return local
        if abs(server - local) > 60_000:
            # ccxt clamps endTime to its own clock: let it follow the exchange's.
            follow_server_clock(self.exchange, server - local)
        return server

    def check_markets(self, symbols: Sequence[str]) -> None:
        markets = self.exchange.markets or {}
        unknown = [s for s in symbols if s not in markets]
        if unknown:
            known = ", ".join(sorted(s for s in markets if markets[s].get("swap"))[:8])
            raise InputError(
                f"--symbol: {', '.join(unknown)} not listed on the exchange "
                f"(e.g. {known or 'none listed'})"
            )

    def listed_ms(self, symbol: str) -> int | None:
        created = (self.exchange.markets or {}).get(symbol, {}).get("created")
        return int(created) if created else None

    async def close(self) -> None:
        for closer in (
            self.exchange.close if self.exchange is not None else None,
            self.db.close if self.db is not None else None,
            self.sim.stop if self.sim is not None else None,
        ):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()


# ------------------------------------------------------------------------------ running


async def _plan_for(
    selection: Selection,
    since: int,
    until: int,
    force: bool,
    session: _Session,
    now_ms: int,
) -> BackfillPlan:
    """One plan over every symbol; each symbol's range starts no earlier than its listing."""
    from scalp_radar.history.backfill import plan_backfill

    rate = session.limiter.bucket("market_data").rate_per_s
    windows: list = []
    expected = stored = 0
    for symbol, tfs in selection.streams:
        start = since
        listed = session.listed_ms(symbol)
        if listed is not None and listed > start:
            start = listed  # nothing to fetch before the listing
        if start >= until:
            continue
        request = BackfillRequest((symbol,), tfs, start, until, force)
        plan = await plan_backfill(request, session.db, rate, now_ms)
        windows.extend(plan.windows)
        expected += plan.expected_candles
        stored += plan.already_stored
    return BackfillPlan(tuple(windows), expected, len(windows) / rate, stored, now_ms)


async def _execute(
    plan: BackfillPlan, session: _Session, args: argparse.Namespace
) -> BackfillResult:
    """Run the plan with a rich progress bar; SIGINT/SIGTERM cancel cleanly."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from scalp_radar.history.backfill import Backfiller

    backfiller = Backfiller(
        session.exchange,
        session.db,
        session.limiter,
        max_concurrency=getattr(args, "concurrency", 6),
        retries=getattr(args, "retries", 5),
    )
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, cancel.set)
            installed.append(sig)
    progress = Progress(
        TextColumn("[bold]backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("windows · {task.fields[candles]} candles · {task.fields[rate]} c/s"),
        TextColumn("· ETA {task.fields[eta]}"),
        transient=False,
    )
    task = progress.add_task(
        "backfill", total=plan.requests, candles=0, rate="0", eta=format_duration(plan.eta_s)
    )

    def on_progress(event: BackfillProgress) -> None:
        progress.update(
            task,
            completed=event.windows_done,
            candles=event.candles_stored,
            rate=f"{event.candles_per_s:,.0f}",
            eta=format_duration(event.eta_s),
        )

    try:
        with progress:
            return await backfiller.run(plan, on_progress=on_progress, cancel=cancel)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _report(result: BackfillResult) -> int:
    if result.cancelled:
        print(f"cancelled; rerun to complete ({result.summary()})")
        return EXIT_CANCELLED
    print(result.summary())
    if result.missing_candles:
        print(
            f"note: the exchange had no data for {result.missing_candles} candles "
            "(before listing or exchange-side gaps); `scalp-radar data list` shows them"
        )
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


async def _backfill_main(args: argparse.Namespace) -> int:
    _check_run_args(args)
    selection = select_streams(args, args.app_config)
    # Dates are checked against the local clock first, so bad input never reaches the network.
    resolve_range(args, int(time.time() * 1000) + DAY_MS)
    session = _Session(args)
    try:
        await session.open_db()
        await session.open_exchange()
        session.check_markets(selection.symbols)
        now_ms = await session.server_now_ms()
        since, until = resolve_range(args, now_ms)
        plan = await _plan_for(selection, since, until, bool(args.force), session, now_ms)
        print(f"range: {_fmt(since)} .. {_fmt(until)} UTC")
        for line in describe_plan(plan):
            print(line)
        if plan.requests == 0:
            print("nothing to fetch: every candle in range is already stored")
            return EXIT_OK
        return _report(await _execute(plan, session, args))
    finally:
        await session.close()


def _run(main: Any) -> int:
    """asyncio.run with one-line errors: bad input exits 2, an unreachable exchange exits 1."""
    try:
        return asyncio.run(main)
    except InputError as exc:
        return _error(str(exc))
    except Exception as exc:
        import ccxt

        if not isinstance(exc, ccxt.BaseError):
            raise
        text = " ".join(str(exc).split())
        text = text if len(text) <= 200 else text[:197] + "..."
        print(f"scalp-radar: error: exchange: {type(exc).__name__}: {text}", file=sys.stderr)
        return EXIT_INCOMPLETE


def run_backfill(args: argparse.Namespace) -> int:
    """`scalp-radar backfill`: plan, print the plan, fetch with a progress bar; exit code."""
    return _run(_backfill_main(args))


# ------------------------------------------------------------------------------ data


async def _data_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from scalp_radar.history.inventory import inventory

    symbols = [check_symbol(s) for s in (getattr(args, "symbol", None) or [])]
    tfs = [check_timeframe(t) for t in (getattr(args, "timeframe", None) or [])]
    db_path = Path(args.db_path)
    session = _Session(args)
    try:
        rows = await inventory(await session.open_db(), symbols or None, tfs or None)
    finally:
        await session.close()
    if not rows:
        print(f"no candles stored in {db_path}")
        return EXIT_OK
    table = Table(title=f"stored candles ({db_path})")
    for name, justify in (
        ("symbol", "left"),
        ("tf", "left"),
        ("first (UTC)", "left"),
        ("last (UTC)", "left"),
        ("count", "right"),
        ("holes", "right"),
        ("missing", "right"),
        ("coverage", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            r.symbol,
            r.timeframe,
            _fmt(r.first_ts),
            _fmt(r.last_ts),
            f"{r.count:,}",
            str(len(r.holes)),
            f"{r.missing:,}",
            f"{r.coverage_pct:.2f}%",
        )
    console = Console(width=max(100, Console().width))
    console.print(table)
    if getattr(args, "holes", False):
        for r in rows:
            for start, end in r.holes:
                print(f"hole: {r.symbol} {r.timeframe} {_fmt(start)} .. {_fmt(end)}")
    total_holes = sum(len(r.holes) for r in rows)
    if total_holes:
        print(f"{total_holes} holes; `scalp-radar data repair` fetches exactly them")
    return EXIT_OK


async def _data_repair(args: argparse.Namespace) -> int:
    from scalp_radar.history.inventory import inventory, repair_windows

    _check_run_args(args)
    symbols = [check_symbol(s) for s in (getattr(args, "symbol", None) or [])]
    tfs = [check_timeframe(t) for t in (getattr(args, "timeframe", None) or [])]
    session = _Session(args)
    try:
        rows = await inventory(await session.open_db(), symbols or None, tfs or None)
        holes = sum(len(r.holes) for r in rows)
        if holes == 0:
            print("no holes: nothing to repair")
            return EXIT_OK
        await session.open_exchange()
        session.check_markets(sorted({r.symbol for r in rows if r.holes}))
        now_ms = await session.server_now_ms()
        windows = repair_windows(rows, now_ms)
        rate = session.limiter.bucket("market_data").rate_per_s
        missing = sum(r.missing for r in rows)
        plan = BackfillPlan(tuple(windows), missing, len(windows) / rate, 0, now_ms)
        print(f"repair: {holes} holes, {missing} candles missing")
        for line in describe_plan(plan):
            print(line)
        return _report(await _execute(plan, session, args))
    finally:
        await session.close()


def run_data(args: argparse.Namespace) -> int:
    """`scalp-radar data list|repair`; exit code."""
    command = getattr(args, "data_command", None)
    if command == "list":
        if not Path(args.db_path).exists():  # listing must not create an empty database
            print(f"no candles stored: {args.db_path} does not exist yet")
            return EXIT_OK
        return _run(_data_list(args))
    if command == "repair":
        return _run(_data_repair(args))
    return _error(f"data: unknown action {command!r}: expected list or repair")
