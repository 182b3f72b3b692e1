"""The `scalp-radar` command: the one parser of every command, and how a parsed command runs.

Each command's parser carries a `Command` (set_defaults): the function that runs it, imported only
then, and how much setup it needs. Heavy libraries (ccxt, aiohttp, textual, pydantic) are never
imported to build the parser, so `--help` and `--version` stay fast.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, cast

from scalp_radar import __version__
from scalp_radar.app import arg_types
from scalp_radar.app.context import RunContext
from scalp_radar.app.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from scalp_radar.core.config import AppConfig

PROG = "scalp-radar"


class Setup(Enum):
    """What the CLI prepares before a command's function runs."""

    NONE = "none"  # the function gets the arguments only (config init, sim)
    CONTEXT = "context"  # config, paths and the exchange target resolved into a RunContext
    NAMES_DB = "names_db"  # only the database path, for a command that never opens it (status)
    FILE_LOGS = "file_logs"  # a RunContext, and logs to files only (the terminal shows progress)


@dataclass(frozen=True, slots=True)
class Command:
    """How to run one parsed command: `module:function`, imported only when it runs."""

    target: str
    setup: Setup

    def function(self) -> Callable[..., int]:
        module, _, name = self.target.partition(":")
        return cast(Callable[..., int], getattr(import_module(module), name))


# ---------------------------------------------------------------------------------- the parser


class _Parser(argparse.ArgumentParser):
    """argparse with its own errors as ONE line (`scalp-radar: error: --days: ...`), exit 2."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument ([^:/ ]+)(?:/\S+)?: ", r"\1: ", message)
        self.exit(ExitCode.USAGE, f"{PROG}: error: {' '.join(message.split())}\n")


def _common_options(*, top: bool) -> _Parser:
    """Options every command accepts, before or after its name.

    Below the top level their defaults are SUPPRESS, so a value given before the command name
    is not reset by the subcommand's parser.
    """
    common = _Parser(add_help=False)

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = common.add_argument_group("common options (any command, before or after its name)")
    group.add_argument(
        "--config",
        metavar="DIR",
        default=default(None),
        help="config directory (default: $SCALP_RADAR_CONFIG, else the packaged config)",
    )
    group.add_argument(
        "--db", metavar="PATH", default=default(None), help="SQLite file (default: user data dir)"
    )
    group.add_argument(
        "--demo",
        action="store_true",
        default=default(False),
        help="run against an embedded simulated Bitget on 127.0.0.1 (prices are NOT real)",
    )
    group.add_argument(
        "--sim-url",
        metavar="URL",
        default=default(None),
        help="use a simulator started elsewhere (`scalp-radar sim`), e.g. http://127.0.0.1:8765",
    )
    group.add_argument(
        "--log-dir",
        metavar="DIR",
        default=default(None),
        help="log directory (default: user log dir)",
    )
    group.add_argument(
        "--log-level",
        metavar="LEVEL",
        type=arg_types.log_level,
        default=default(None),
        help="DEBUG, INFO, WARNING or ERROR (default: LOG_LEVEL from .env, else INFO)",
    )
    group.add_argument(
        "--socket",
        metavar="PATH",
        default=default(None),
        help="the daemon's Unix socket (default: one per database, in the user runtime dir)",
    )
    return common


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """The default command: the dashboard, or the headless engine."""
    parser.add_argument(
        "--headless", action="store_true", help="run the data engine without the dashboard"
    )
    parser.add_argument(
        "--status-interval",
        type=arg_types.bounded_float(0.05, 3600, "seconds", low_open=False),
        default=10.0,
        metavar="SECONDS",
        help="headless: seconds between status lines, 0.05..3600 (default 10)",
    )
    parser.add_argument("--json", action="store_true", help="headless: status lines as JSON")
    parser.add_argument(
        "--universe",
        type=arg_types.universe,
        default=None,
        metavar="all|top:N|watchlist",
        help="symbols the radar tracks (default: universe.mode in assets.yaml)",
    )
    parser.add_argument(
        "--refresh-hz",
        type=arg_types.bounded_float(0, 60, "a rate in Hz", low_open=True),
        default=4.0,
        metavar="HZ",
        help="dashboard refresh rate, (0, 60] (default 4)",
    )
    parser.add_argument(
        "--sim-speed",
        type=arg_types.sim_speed,
        default=1.0,
        metavar="X",
        help="--demo: simulated seconds per real second (default 1; 60 closes a 1m candle a second)",
    )
    attach = parser.add_mutually_exclusive_group()
    attach.add_argument(
        "--attach",
        nargs="?",
        const=True,
        default=None,
        metavar="SOCKET",
        help="dashboard: attach to the running daemon (at SOCKET, default the database's), "
        "never run an engine here",
    )
    attach.add_argument(
        "--no-attach",
        action="store_true",
        help="dashboard: run its own engine even when a daemon runs (refused on its database)",
    )
    parser.add_argument(
        "--http",
        metavar="HOST:PORT",
        type=arg_types.http_bind,
        default=None,
        help="headless: serve GET /health and /metrics (PORT alone binds 127.0.0.1)",
    )
    parser.add_argument(
        "--viewer-timeout",
        type=arg_types.bounded_float(0.1, 3600, "seconds", low_open=False),
        default=10.0,
        metavar="SECONDS",
        help="headless: drop an attached viewer that reads nothing for this long (default 10)",
    )


def _add_stream_options(parser: argparse.ArgumentParser) -> None:
    """Which history streams: --symbol / --timeframe (repeatable)."""
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


def _add_fetch_options(parser: argparse.ArgumentParser) -> None:
    """Commands that download candles: streams, concurrency, retries."""
    _add_stream_options(parser)
    parser.add_argument(
        "--concurrency",
        type=arg_types.bounded_int(1, 32, "requests in flight"),
        default=6,
        metavar="N",
        help="requests in flight, 1..32 (default 6; the market_data rate limit still governs)",
    )
    parser.add_argument(
        "--retries",
        type=arg_types.bounded_int(0, 20, "retries"),
        default=5,
        metavar="N",
        help="retries per window on network errors, 429 and 5xx, 0..20 (default 5)",
    )


def _add_range_options(parser: argparse.ArgumentParser) -> None:
    """A time range: --days, or --since/--until."""
    parser.add_argument(
        "--days",
        type=arg_types.days,
        metavar="N",
        help="history depth in days back from --until, one minute to 36500 (default 30)",
    )
    parser.add_argument(
        "--since", metavar="WHEN", help="start, UTC: 2026-01-01 or 2026-01-01T12:00 (inclusive)"
    )
    parser.add_argument("--until", metavar="WHEN", help="end, UTC (exclusive; default now)")


def _add_sim_options(parser: argparse.ArgumentParser) -> None:
    """`scalp-radar sim`."""
    parser.add_argument(
        "--port",
        type=arg_types.bounded_int(0, 65535, "a TCP port"),
        default=8765,
        help="TCP port, 0 = any free one (default 8765)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (127.0.0.1, localhost, ::1)"
    )
    parser.add_argument("--seed", type=int, default=42, help="market seed (default 42)")
    parser.add_argument(
        "--speed",
        type=arg_types.sim_speed,
        default=1.0,
        help=f"simulated seconds per real second, {arg_types.MIN_SIM_SPEED:g}.."
        f"{arg_types.MAX_SIM_SPEED:g}; 60 closes a 1m candle every second (default 1)",
    )
    parser.add_argument(
        "--symbols",
        default=None,
        help="comma-separated symbols, e.g. BTC/USDT:USDT,ETH/USDT:USDT (default: BTC, ETH, SOL)",
    )
    parser.add_argument(
        "--contracts",
        type=arg_types.bounded_int(1, 5000, "a number of contracts"),
        default=None,
        metavar="N",
        help="serve a universe of N USDT-M perpetuals, 1..5000, with planted market events "
        "(--symbols are among them; default: only --symbols)",
    )
    parser.add_argument(
        "--faults",
        default=None,
        metavar="SPEC",
        help="faults to inject, comma-separated KIND[:KEY=VALUE]...[@WHEN], WHEN = SECONDS | "
        "SECONDS/PERIOD | random[/MEAN] (real seconds after start); e.g. "
        "'drop@10,stale:duration=20@30,gap:random,rest429:count=5@5/60' "
        "(kinds: scalp_radar/sim/faults.py, or any wrong kind lists them)",
    )
    parser.add_argument(
        "--no-limits", action="store_true", help="switch off every rate limit and connection limit"
    )
    parser.add_argument(
        "--push-interval",
        type=arg_types.bounded_float(0, 60, "seconds"),
        default=None,
        metavar="S",
        help="real seconds between two pushes of a channel, 0..60 (default 0.25; 0 = firehose)",
    )
    parser.add_argument(
        "--announce",
        action="store_true",
        help="print one machine-readable line 'SIM-READY {json}' (url and clock) once listening",
    )
    parser.add_argument(
        "--parent-pid",
        type=arg_types.bounded_int(1, 2**22, "a process id"),
        default=None,
        metavar="PID",
        help="stop when process PID (the parent) is gone (the demo's child simulator)",
    )


def _add_movers_options(parser: argparse.ArgumentParser) -> None:
    """`scalp-radar movers`."""
    parser.add_argument(
        "--by",
        choices=["change_5m", "change_1h", "change_24h", "surge", "funding", "spread", "oi_change"],
        default="change_24h",
        help="rank by (default change_24h)",
    )
    parser.add_argument(
        "--limit",
        type=arg_types.bounded_int(1, 5000, "rows"),
        default=20,
        metavar="N",
        help="rows to print, 1..5000 (default 20)",
    )
    parser.add_argument(
        "--window",
        type=arg_types.bounded_float(0, 3600, "seconds"),
        default=0.0,
        metavar="S",
        help="seconds of websocket tickers before ranking, 0..3600 (default 0: REST only; "
        "5 min changes need 300)",
    )
    parser.add_argument(
        "--universe",
        type=arg_types.universe,
        default=None,
        metavar="all|top:N|watchlist",
        help="symbols to rank (default: universe.mode in assets.yaml)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document instead of a table")


def build_parser() -> argparse.ArgumentParser:
    """The one parser of every `scalp-radar` command."""
    common = _common_options(top=False)
    parser = _Parser(
        prog=PROG,
        description="Live crypto-futures radar (Bitget USDT-M perpetuals): dashboard, "
        "headless data daemon, history backfill into SQLite.",
        parents=[_common_options(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_run_options(parser)
    parser.set_defaults(command=Command("scalp_radar.app.cli:run_default", Setup.CONTEXT))
    commands = parser.add_subparsers(metavar="COMMAND", title="commands")

    def command(
        group: argparse._SubParsersAction[_Parser],
        name: str,
        target: str,
        setup: Setup,
        help_text: str,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text, parents=[common])
        sub.set_defaults(command=Command(target, setup))
        return sub

    def group_of(name: str, help_text: str) -> argparse._SubParsersAction[_Parser]:
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=[common])
        return sub.add_subparsers(metavar="ACTION", title="actions", required=True)

    config = group_of("config", "check or copy the configuration")
    command(
        config,
        "check",
        "scalp_radar.app.cli:run_config_check",
        Setup.CONTEXT,
        "validate every config file and print a summary",
    )
    init = command(
        config,
        "init",
        "scalp_radar.app.cli:run_config_init",
        Setup.NONE,
        "write an editable copy of the default config",
    )
    init.add_argument(
        "dir", nargs="?", default="config", help="target directory (default ./config)"
    )
    init.add_argument("--force", action="store_true", help="overwrite existing files")

    sim = command(
        commands,
        "sim",
        "scalp_radar.app.sim_cmd:run_sim",
        Setup.NONE,
        "run the simulated Bitget exchange standalone",
    )
    _add_sim_options(sim)

    backfill = command(
        commands,
        "backfill",
        "scalp_radar.app.history_remote:run_backfill",
        Setup.FILE_LOGS,
        "download candle history into SQLite",
    )
    _add_fetch_options(backfill)
    _add_range_options(backfill)
    backfill.add_argument(
        "--force",
        action="store_true",
        help="fetch everything again (default: resume, fetching only what is missing)",
    )
    backfill.add_argument(
        "--yes", "-y", action="store_true", help="accepted for scripts; the plan never prompts"
    )

    status = command(
        commands,
        "status",
        "scalp_radar.app.status_cmd:run_status_command",
        Setup.NAMES_DB,
        "health of the database's daemon: exit 0 healthy, 1 degraded, 2 no daemon",
    )
    status.add_argument("--json", action="store_true", help="the health document as JSON")

    movers = command(
        commands,
        "movers",
        "scalp_radar.app.movers_cmd:run_movers",
        Setup.FILE_LOGS,
        "one-shot ranking of the whole market from REST tickers (+ an optional websocket window)",
    )
    _add_movers_options(movers)

    data = group_of("data", "inventory and repair of stored history")
    listing = command(
        data,
        "list",
        "scalp_radar.app.history_cmds:run_data_list",
        Setup.FILE_LOGS,
        "stored history: first, last, count, holes, coverage",
    )
    _add_stream_options(listing)
    listing.add_argument("--holes", action="store_true", help="also print every hole's time range")
    repair = command(
        data,
        "repair",
        "scalp_radar.app.history_remote:run_data_repair",
        Setup.FILE_LOGS,
        "fetch exactly the holes between first and last",
    )
    _add_fetch_options(repair)
    verify = command(
        data,
        "verify",
        "scalp_radar.app.history_cmds:run_data_verify",
        Setup.FILE_LOGS,
        "fetch stored candles again: report mismatches, holes, duplicates (--fix repairs)",
    )
    _add_fetch_options(verify)
    _add_range_options(verify)  # default: the last day
    verify.add_argument(
        "--fix",
        action="store_true",
        help="replace mismatched candles, fill holes and delete duplicates with the exchange's",
    )
    return parser


# ---------------------------------------------------------------------------------- setup


def _load_config(args: argparse.Namespace) -> AppConfig:
    """Load and cross-validate the configuration named by --config / $SCALP_RADAR_CONFIG."""
    from scalp_radar.core.config import load_config

    return load_config(Path(args.config).expanduser() if args.config else None)


def _sim_url(args: argparse.Namespace, config: AppConfig) -> str | None:
    """--sim-url, else exchange.sim_url; a bad one is named where it was written."""
    from scalp_radar.exchange.factory import check_sim_url

    if args.sim_url:
        where, url = "--sim-url", args.sim_url
    elif config.exchange.sim_url:
        where = f"{config.config_dir / 'exchanges.yaml'}: exchange.sim_url"
        url = config.exchange.sim_url
    else:
        return None
    try:
        return check_sim_url(url)
    except ValueError as exc:
        raise UsageError(f"{where}: {str(exc).removeprefix('sim_url: ')}") from None


def resolve_context(args: argparse.Namespace, *, opens_db: bool = True) -> RunContext:
    """Config, database and log paths, and the exchange target, from flags, .env and defaults.

    Simulated prices (--demo, --sim-url or exchange.sim_url) never go into the real history:
    unless --db names a file, they use a sibling `*-demo*.db` named by the simulated history.
    A command that never opens the database (`opens_db=False`) checks only its header.
    """
    from scalp_radar.core import paths

    # The ownership module alone: the store package pulls in pydantic models (~0.1 s).
    from scalp_radar.core.store.ownership import check_database_file, check_database_header

    config = _load_config(args)
    sim_url = _sim_url(args, config)
    demo = bool(args.demo or sim_url)  # a simulator anywhere means simulated prices
    tag = None
    if demo and args.db is None:
        # Each simulated history (seed, clock timeline) gets its own database.
        from scalp_radar.app.demo import simulated_history

        try:
            tag = simulated_history(sim_url).db_tag()
        except ValueError as exc:
            raise UsageError(f"--sim-url: {exc}") from None
    db_path = paths.database_path(args.db, config.secrets.database_path, tag)
    # Refuse a wrong --db before anything starts (simulator, engine, logs about them).
    if opens_db:
        check_database_file(db_path)
    else:
        check_database_header(db_path)
    log_dir = Path(args.log_dir).expanduser() if args.log_dir else paths.default_log_dir()
    return RunContext(config, db_path, log_dir, sim_url, demo)


def resolve_db_path(args: argparse.Namespace) -> Path:
    """The database a command names without opening it (`status` finds its daemon by it).

    An explicit --db is the path whatever the config says, so the config (pydantic, YAML, .env:
    about half of `status`'s time) is read only to find the default path.
    """
    if args.db is None:
        return resolve_context(args, opens_db=False).db_path
    from scalp_radar.core import paths
    from scalp_radar.core.store.ownership import check_database_header
    from scalp_radar.exchange.factory import check_sim_url

    if args.sim_url:  # still one line when wrong, though it does not choose the path here
        try:
            check_sim_url(args.sim_url)
        except ValueError as exc:
            raise UsageError(f"--sim-url: {str(exc).removeprefix('sim_url: ')}") from None
    db_path = paths.database_path(args.db, None, None)
    check_database_header(db_path)
    return db_path


def setup_logging(
    args: argparse.Namespace, ctx: RunContext, *, console: bool, json_console: bool = False
) -> None:
    """Log sinks for a command; the API keys are registered for redaction first."""
    from scalp_radar.core import logging_setup

    secrets = ctx.config.secrets
    for secret in (secrets.bitget_api_key, secrets.bitget_secret, secrets.bitget_passphrase):
        logging_setup.register_secret(secret)
    try:
        logging_setup.setup_logging(
            level=args.log_level or secrets.log_level,
            log_dir=ctx.log_dir,
            console=console,
            json_console=json_console,
        )
    except ValueError as exc:  # an unusable --log-dir
        raise UsageError(str(exc)) from None


# ---------------------------------------------------------------------------------- commands


def run_config_init(args: argparse.Namespace) -> int:
    """`config init [DIR]`: copy the packaged YAML files."""
    from scalp_radar.core.config import write_default_config

    for path in write_default_config(Path(args.dir).expanduser(), overwrite=args.force):
        print(f"wrote {path}")
    print(f"edit them, then run: scalp-radar --config {args.dir} config check")
    return ExitCode.OK


def run_config_check(args: argparse.Namespace, ctx: RunContext) -> int:
    """`config check`: what the run would use."""
    from scalp_radar.core.config import summarize

    print(summarize(ctx.config))
    print(f"database: {ctx.db_path}")
    print(f"logs:     {ctx.log_dir}")
    return ExitCode.OK


def with_universe(args: argparse.Namespace, ctx: RunContext) -> RunContext:
    """The context with `--universe` applied to the config (when given)."""
    if args.universe is None:
        return ctx
    from dataclasses import replace

    from scalp_radar.engine.universe import apply_universe_override

    return replace(ctx, config=apply_universe_override(ctx.config, args.universe))


def _check_sim_speed(args: argparse.Namespace, ctx: RunContext) -> None:
    """--sim-speed drives the embedded simulator only, and a fast clock needs its own --db.

    A fast simulated clock writes candles ahead of real time: in the shared demo database they
    would pass for the live demo timeline's (the database is named by the simulated history).
    """
    if args.sim_speed == 1.0:
        return
    if ctx.sim_url is not None or not ctx.demo:
        raise UsageError(
            "--sim-speed: applies to the embedded --demo simulator only "
            "(a simulator at --sim-url has its own --speed)"
        )
    if args.db is None:
        raise UsageError(
            f"--sim-speed: a simulated clock at x{args.sim_speed:g} writes candles ahead of "
            "real time; give it its own database with --db PATH"
        )


def run_default(args: argparse.Namespace, ctx: RunContext) -> int:
    """No command: the dashboard, or the headless engine with --headless."""
    _check_sim_speed(args, ctx)
    ctx = with_universe(args, ctx)
    if args.headless:
        from scalp_radar.app.daemon import DaemonOptions
        from scalp_radar.app.daemon_client import daemon_socket
        from scalp_radar.app.headless import run_blocking, run_headless_async

        options = DaemonOptions(
            socket_path=daemon_socket(ctx.db_path, args.socket),
            http=args.http,
            stall_timeout_s=args.viewer_timeout,
        )
        setup_logging(args, ctx, console=True, json_console=args.json)
        return run_blocking(
            run_headless_async(
                ctx.engine_target(args.sim_speed),
                status_interval=args.status_interval,
                json_lines=args.json,
                daemon=options,
            )
        )
    # The dashboard owns the terminal: logs go to files only.
    setup_logging(args, ctx, console=False)
    from scalp_radar.app.dashboard import exit_now, run_dashboard

    return run_dashboard(
        ctx.engine_target(args.sim_speed),
        refresh_hz=args.refresh_hz,
        attach=args.attach,
        no_attach=args.no_attach,
        socket_option=args.socket,
        exit_process=exit_now,
    )


def _run(args: argparse.Namespace) -> int:
    command: Command = args.command
    function = command.function()
    if command.setup is Setup.NONE:
        return function(args)
    if command.setup is Setup.NAMES_DB:
        return function(args, resolve_db_path(args))
    ctx = resolve_context(args)
    if command.setup is Setup.FILE_LOGS:
        setup_logging(args, ctx, console=False)
    return function(args, ctx)


def _usage_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the user's input is wrong (one line, exit 2)."""
    from scalp_radar.app.daemon import DaemonStartError
    from scalp_radar.app.daemon_client import AttachError
    from scalp_radar.core.config import ConfigError
    from scalp_radar.core.daemon_paths import SocketPathError
    from scalp_radar.core.engine_lock import EngineLocked
    from scalp_radar.core.store.errors import DatabaseError

    return (
        UsageError,
        ConfigError,
        DatabaseError,
        EngineLocked,
        SocketPathError,
        DaemonStartError,
        AttachError,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `scalp-radar` console script."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return ExitCode.CANCELLED
    except Exception as exc:
        if isinstance(exc, _usage_error_types()):
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return ExitCode.USAGE
        raise


if __name__ == "__main__":
    raise SystemExit(main())
