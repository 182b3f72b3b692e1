"""`scalp-radar backfill` and `scalp-radar data list|repair|verify`.

The CLI (`scalp_radar.app.cli`) parses the options and resolves a RunContext (config, database,
simulator URL, demo) before calling `run_backfill(args, ctx)`, `run_data_list(args, ctx)` or
`run_data_repair(args, ctx)` / `run_data_verify(args, ctx)`.

Exit codes (ExitCode): 0 complete; 1 incomplete (windows named) or failed; 2 bad input (one line,
before any candle request); 130 cancelled with Ctrl-C (what was written is valid; rerun to
complete). ccxt is imported lazily.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scalp_radar.app.arg_types import MAX_DAYS, MIN_DAYS
from scalp_radar.app.context import RunContext
from scalp_radar.app.errors import ExitCode, UsageError, print_error
from scalp_radar.app.signals import on_stop_signals
from scalp_radar.core.models import TimeFrame
from scalp_radar.core.timefmt import duration, utc_minute, utc_second
from scalp_radar.history.plan import DAY_MS, describe_plan
from scalp_radar.history.types import (
    BackfillPlan,
    BackfillProgress,
    BackfillRequest,
    BackfillResult,
)

if TYPE_CHECKING:
    from scalp_radar.history.verify import StreamCheck

EXIT_OK = ExitCode.OK
EXIT_INCOMPLETE = ExitCode.INCOMPLETE
EXIT_CANCELLED = ExitCode.CANCELLED
DEFAULT_DAYS = 30.0
VERIFY_DAYS = 1.0
# Nothing older can be fetched: no crypto-futures market existed (Bitget lists from 2018).
EARLIEST_MS = 1_262_304_000_000  # 2010-01-01 UTC
_SYMBOL_RE = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+:[A-Z0-9]+$")


# ------------------------------------------------------------------------------ input checks


def parse_when(text: str, option: str) -> int:
    """ISO date or datetime (naive = UTC) -> epoch ms; UsageError naming `option` otherwise."""
    raw = text.strip()
    value = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option}: expected an ISO date or datetime in UTC such as 2026-01-31 or "
            f"2026-01-31T12:00, got {text!r}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    ms = int(dt.timestamp() * 1000)
    if ms < EARLIEST_MS:
        raise UsageError(
            f"{option}: expected a date from 2010-01-01 on (no crypto-futures market is older), "
            f"got {text!r}"
        )
    return ms


def check_symbol(text: str) -> str:
    """Upper-cased ccxt perpetual symbol, or UsageError."""
    symbol = text.strip().upper()
    if not _SYMBOL_RE.match(symbol):
        raise UsageError(
            f"--symbol: expected a ccxt perpetual symbol BASE/QUOTE:SETTLE such as "
            f"BTC/USDT:USDT, got {text!r}"
        )
    return symbol


def check_timeframe(text: str) -> str:
    """Timeframe value ("1m", ...), or UsageError listing the valid ones."""
    try:
        return TimeFrame.from_string(text).value
    except ValueError as exc:
        raise UsageError(f"--timeframe: {exc}") from None


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
    symbols = [check_symbol(s) for s in (args.symbol or [])]
    tfs = [check_timeframe(t) for t in (args.timeframe or [])]
    if not symbols:
        symbols = list(configured)
    if not symbols:
        raise UsageError("--symbol: none given and no assets configured")
    all_configured = list(dict.fromkeys(t for ts in configured.values() for t in ts)) or ["1m"]
    streams = []
    for symbol in dict.fromkeys(symbols):
        chosen = tfs or configured.get(symbol) or all_configured
        streams.append((symbol, tuple(dict.fromkeys(chosen))))
    return Selection(tuple(streams))


def resolve_range(
    args: argparse.Namespace, now_ms: int, default_days: float = DEFAULT_DAYS
) -> tuple[int, int]:
    """[since, until) in ms from --days/--since/--until; UsageError if bad or inverted."""
    days = args.days
    since_text = args.since
    until_text = args.until
    if days is not None and since_text is not None:
        raise UsageError("--days and --since: give one of them, not both")
    if days is not None and not MIN_DAYS <= days <= MAX_DAYS:
        raise UsageError(
            f"--days: expected a number of days from {MIN_DAYS:.4f} (one minute) to "
            f"{MAX_DAYS:g}, got {days:g}"
        )
    until = parse_when(until_text, "--until") if until_text else now_ms
    until = min(until, now_ms)
    if since_text is not None:
        since = parse_when(since_text, "--since")
    else:
        since = until - int((days if days is not None else default_days) * DAY_MS)
    if since_text is not None and since >= now_ms:
        raise UsageError(f"--since: {since_text} is in the future")
    if since >= until:
        raise UsageError(
            f"--since/--until: since ({utc_minute(since)}) must be before until ({utc_minute(until)})"
        )
    return since, until


# ------------------------------------------------------------------------------ session


class _Session:
    """Simulator (in demo), exchange, limiter and database for one command; closed in order."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.sim: Any = None
        self.exchange: Any = None
        self.db: Any = None
        self.limiter: Any = None

    async def open_db(self, *, read_only: bool = False, existing: bool = False) -> Any:
        """Open the database; `existing` refuses to create one (one line, nothing written)."""
        from scalp_radar.core.store import Database, check_database_file

        path = self.ctx.db_path
        if existing and not read_only and check_database_file(path) is None:
            raise UsageError(
                f"{path}: no database there; expected an existing scalp-radar database "
                "(`scalp-radar backfill` or a run creates one)"
            )
        self.db = Database(path, read_only=read_only)
        await self.db.init()
        return self.db

    async def open_exchange(self) -> Any:
        from scalp_radar.core.limiter import RateLimiter
        from scalp_radar.exchange.factory import create_exchange
        from scalp_radar.history.backfill import disable_ccxt_throttle

        sim_url = self.ctx.sim_url
        if self.ctx.demo and not sim_url:
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
        error = unlisted(self.exchange.markets or {}, symbols)
        if error is not None:
            raise error

    def listed_ms(self, symbol: str) -> int | None:
        return listing_of(self.exchange.markets or {}, symbol)

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


async def plan_streams(
    selection: Selection,
    since: int,
    until: int,
    force: bool,
    *,
    db: Any,
    rate_per_s: float,
    listed_ms: Callable[[str], int | None],
    now_ms: int,
) -> BackfillPlan:
    """One plan over every symbol; each symbol's range starts no earlier than its listing.

    Shared by the CLI running alone and the daemon running a CLI's job.
    """
    from scalp_radar.history.backfill import plan_backfill

    windows: list = []
    expected = stored = 0
    for symbol, tfs in selection.streams:
        start = since
        listed = listed_ms(symbol)
        if listed is not None and listed > start:
            start = listed  # nothing to fetch before the listing
        if start >= until:
            continue
        request = BackfillRequest((symbol,), tfs, start, until, force)
        plan = await plan_backfill(request, db, rate_per_s, now_ms)
        windows.extend(plan.windows)
        expected += plan.expected_candles
        stored += plan.already_stored
    return BackfillPlan(tuple(windows), expected, len(windows) / rate_per_s, stored, now_ms, force)


def unlisted(markets: dict[str, Any], symbols: Sequence[str]) -> UsageError | None:
    """The one-line error for symbols the exchange does not list, or None."""
    unknown = [s for s in symbols if s not in markets]
    if not unknown:
        return None
    known = ", ".join(sorted(s for s in markets if markets[s].get("swap"))[:8])
    return UsageError(
        f"--symbol: {', '.join(unknown)} not listed on the exchange (e.g. {known or 'none listed'})"
    )


def listing_of(markets: dict[str, Any], symbol: str) -> int | None:
    """When `symbol` was listed (ms), if the exchange says."""
    created = markets.get(symbol, {}).get("created")
    return int(created) if created else None


async def plan_repair(
    db: Any, symbols: Sequence[str], timeframes: Sequence[str], rate_per_s: float, now_ms: int
) -> tuple[BackfillPlan, int]:
    """The windows that fill every stored hole, and the number of holes."""
    from scalp_radar.history.inventory import inventory, repair_windows

    rows = await inventory(db, list(symbols) or None, list(timeframes) or None)
    holes = sum(len(r.holes) for r in rows)
    windows = repair_windows(rows, now_ms) if holes else []
    missing = sum(r.missing for r in rows)
    return BackfillPlan(tuple(windows), missing, len(windows) / rate_per_s, 0, now_ms), holes


@contextlib.contextmanager
def progress_bar(plan: BackfillPlan) -> Iterator[Callable[[BackfillProgress], None]]:
    """A rich progress bar for `plan`; yields the callback that advances it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(
        TextColumn("[bold]backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("requests · {task.fields[candles]} candles · {task.fields[rate]} c/s"),
        TextColumn("· ETA {task.fields[eta]}"),
        transient=False,
    )
    task = progress.add_task(
        "backfill", total=plan.requests, candles="0", rate="0", eta=duration(plan.eta_s)
    )

    def on_progress(event: BackfillProgress) -> None:
        progress.update(
            task,
            completed=event.windows_done,
            candles=f"{event.candles_stored:,}",
            rate=f"{event.candles_per_s:,.0f}",
            eta=duration(event.eta_s),
        )

    with progress:
        yield on_progress


async def _execute(
    plan: BackfillPlan, session: _Session, args: argparse.Namespace
) -> BackfillResult:
    """Run the plan with a rich progress bar; SIGINT/SIGTERM cancel cleanly."""
    from scalp_radar.history.backfill import Backfiller

    backfiller = Backfiller(
        session.exchange,
        session.db,
        session.limiter,
        max_concurrency=args.concurrency,
        retries=args.retries,
    )
    cancel = asyncio.Event()
    with on_stop_signals(cancel.set), progress_bar(plan) as on_progress:
        return await backfiller.run(plan, on_progress=on_progress, cancel=cancel)


def _report(result: BackfillResult) -> int:
    print(result.summary())  # a cancelled summary says "rerun to complete" itself
    if result.cancelled:
        return EXIT_CANCELLED
    if result.missing_candles:
        print(
            f"note: the exchange had no data for {result.missing_candles} candles "
            "(before listing or exchange-side gaps); `scalp-radar data list` shows them"
        )
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


async def _backfill_main(args: argparse.Namespace, ctx: RunContext) -> int:
    selection = select_streams(args, ctx.config)
    # Dates are checked against the local clock first, so bad input never reaches the network.
    resolve_range(args, int(time.time() * 1000) + DAY_MS)
    session = _Session(ctx)
    try:
        await session.open_db()
        await session.open_exchange()
        session.check_markets(selection.symbols)
        now_ms = await session.server_now_ms()
        since, until = resolve_range(args, now_ms)
        plan = await plan_streams(
            selection,
            since,
            until,
            bool(args.force),
            db=session.db,
            rate_per_s=session.limiter.bucket("market_data").rate_per_s,
            listed_ms=session.listed_ms,
            now_ms=now_ms,
        )
        print(f"range: {utc_minute(since)} .. {utc_minute(until)} UTC")
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
    from scalp_radar.core.store import DatabaseError

    try:
        return asyncio.run(main)
    except (UsageError, DatabaseError) as exc:
        print_error(exc)
        return ExitCode.USAGE
    except Exception as exc:
        import ccxt

        if not isinstance(exc, ccxt.BaseError):
            raise
        text = " ".join(str(exc).split())
        text = text if len(text) <= 200 else text[:197] + "..."
        print(f"scalp-radar: error: exchange: {type(exc).__name__}: {text}", file=sys.stderr)
        return EXIT_INCOMPLETE


def run_backfill(args: argparse.Namespace, ctx: RunContext) -> int:
    """`scalp-radar backfill`: plan, print the plan, fetch with a progress bar; exit code."""
    return _run(_backfill_main(args, ctx))


# ------------------------------------------------------------------------------ data


async def _data_list(args: argparse.Namespace, ctx: RunContext) -> int:
    from rich.console import Console
    from rich.table import Table

    from scalp_radar.history.inventory import inventory

    symbols = [check_symbol(s) for s in (args.symbol or [])]
    tfs = [check_timeframe(t) for t in (args.timeframe or [])]
    db_path = ctx.db_path
    session = _Session(ctx)
    try:
        # Read-only: listing writes nothing, and works on a read-only file or directory.
        db = await session.open_db(read_only=True)
        rows = await inventory(db, symbols or None, tfs or None)
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
            utc_minute(r.first_ts),
            utc_minute(r.last_ts),
            f"{r.count:,}",
            str(len(r.holes)),
            f"{r.missing:,}",
            f"{r.coverage_pct:.2f}%",
        )
    console = Console(width=max(100, Console().width))
    console.print(table)
    if args.holes:
        for r in rows:
            for start, end in r.holes:
                print(f"hole: {r.symbol} {r.timeframe} {utc_minute(start)} .. {utc_minute(end)}")
    total_holes = sum(len(r.holes) for r in rows)
    if total_holes:
        print(f"{total_holes} holes; `scalp-radar data repair` fetches exactly them")
    return EXIT_OK


async def _data_repair(args: argparse.Namespace, ctx: RunContext) -> int:
    from scalp_radar.history.inventory import inventory

    symbols = [check_symbol(s) for s in (args.symbol or [])]
    tfs = [check_timeframe(t) for t in (args.timeframe or [])]
    session = _Session(ctx)
    try:
        db = await session.open_db(existing=True)
        rows = await inventory(db, symbols or None, tfs or None)
        if sum(len(r.holes) for r in rows) == 0:
            print("no holes: nothing to repair")
            return EXIT_OK
        await session.open_exchange()
        session.check_markets(sorted({r.symbol for r in rows if r.holes}))
        now_ms = await session.server_now_ms()
        rate = session.limiter.bucket("market_data").rate_per_s
        plan, holes = await plan_repair(session.db, symbols, tfs, rate, now_ms)
        print(f"repair: {holes} holes, {plan.expected_candles} candles missing")
        for line in describe_plan(plan):
            print(line)
        return _report(await _execute(plan, session, args))
    finally:
        await session.close()


def run_data_list(args: argparse.Namespace, ctx: RunContext) -> int:
    """`scalp-radar data list`: read-only; never creates a database."""
    return _run(_data_list(args, ctx))


def run_data_repair(args: argparse.Namespace, ctx: RunContext) -> int:
    """`scalp-radar data repair`: fetch exactly the holes; exit code."""
    return _run(_data_repair(args, ctx))


def run_data_verify(args: argparse.Namespace, ctx: RunContext) -> int:
    """`scalp-radar data verify`: compare stored candles with the exchange's; exit code."""
    return _run(_data_verify(args, ctx))


# ------------------------------------------------------------------------------ verify

_DETAIL_LINES = 50  # problem lines printed before "... and N more"


async def _verify_streams(args: argparse.Namespace, session: _Session) -> Selection:
    """Streams to verify: the flags', else every stored (symbol, timeframe)."""
    if args.symbol or args.timeframe:
        return select_streams(args, session.config)
    by_symbol: dict[str, list[str]] = {}
    for row in await session.db.get_coverage():
        if isinstance(row.timeframe, TimeFrame):
            by_symbol.setdefault(row.symbol, []).append(row.timeframe.value)
    return Selection(tuple((s, tuple(tfs)) for s, tfs in by_symbol.items()))


def _verify_lines(check: StreamCheck) -> list[str]:
    """One line per problem found in one stream's check."""
    name = f"{check.symbol} {check.timeframe}"
    lines = []
    for m in check.mismatches:
        diffs = "; ".join(
            f"{d.name} stored {d.stored!r}, exchange {d.exchange!r}" for d in m.fields
        )
        lines.append(f"mismatch: {name} {utc_minute(m.timestamp)}: {diffs}")
    step = TimeFrame.from_string(check.timeframe).to_milliseconds()
    for start, end in check.holes:
        lines.append(
            f"hole: {name} {utc_minute(start)} .. {utc_minute(end)} "
            f"({(end - start) // step} candles the exchange has)"
        )
    for ts in check.duplicates:
        lines.append(
            f"duplicate: {name} {utc_second(ts)} (off the {check.timeframe} grid: "
            "a second candle for one period)"
        )
    for ts in check.not_on_exchange:
        lines.append(
            f"not on the exchange: {name} {utc_minute(ts)} (stored; the exchange returned none)"
        )
    for window in check.failed_windows:
        lines.append(f"not verified: {window}")
    return lines


def _verify_report(checks: Sequence[StreamCheck], fix: bool) -> int:
    """Print the problems and the summary; the exit code."""
    lines = [line for check in checks for line in _verify_lines(check)]
    for line in lines[:_DETAIL_LINES]:
        print(line)
    if len(lines) > _DETAIL_LINES:
        print(f"... and {len(lines) - _DETAIL_LINES} more")
    extra = sum(len(c.not_on_exchange) for c in checks)
    failed = sum(len(c.failed_windows) for c in checks)
    summary = (
        f"verified {len(checks)} streams, {sum(c.compared for c in checks):,} stored candles "
        f"compared: {sum(len(c.mismatches) for c in checks)} mismatched, "
        f"{sum(len(c.holes) for c in checks)} holes ({sum(c.hole_candles for c in checks)} "
        f"candles), {sum(len(c.duplicates) for c in checks)} duplicates"
    )
    if extra:
        summary += f", {extra} not on the exchange"
    if failed:
        summary += f", {failed} windows not verified"
    print(summary)
    if fix:
        print(
            f"fixed: {sum(c.replaced for c in checks)} candles replaced, "
            f"{sum(c.filled for c in checks)} filled, "
            f"{sum(c.removed for c in checks)} duplicates deleted"
        )
        remaining = sum(c.remaining for c in checks)
        if remaining:
            print(f"{remaining} problems remain (see above)")
        return EXIT_INCOMPLETE if remaining else EXIT_OK
    if any(c.problems for c in checks):
        print("`scalp-radar data verify --fix` replaces and fills them with the exchange's candles")
        return EXIT_INCOMPLETE
    return EXIT_OK


async def _data_verify(args: argparse.Namespace, ctx: RunContext) -> int:
    from scalp_radar.history.verify import verify_stream

    resolve_range(args, int(time.time() * 1000) + DAY_MS, VERIFY_DAYS)  # bad dates: no request
    session = _Session(ctx)
    try:
        await session.open_db(existing=True)
        selection = await _verify_streams(args, session)
        if not selection.streams:
            print(f"no candles stored in {ctx.db_path}: nothing to verify")
            return EXIT_OK
        await session.open_exchange()
        session.check_markets(selection.symbols)
        now_ms = await session.server_now_ms()
        since, until = resolve_range(args, now_ms, VERIFY_DAYS)
        print(
            f"verify: {utc_minute(since)} .. {utc_minute(until)} UTC, closed candles stored in that range"
        )
        checks = [
            await verify_stream(
                session.exchange,
                session.db,
                session.limiter,
                symbol,
                tf,
                since,
                until,
                now_ms,
                fix=args.fix,
                concurrency=args.concurrency,
                retries=args.retries,
            )
            for symbol, tfs in selection.streams
            for tf in tfs
        ]
    finally:
        await session.close()
    return _verify_report(checks, args.fix)
