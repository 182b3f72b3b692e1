"""The `scalp-radar` command: dashboard, headless daemon, simulator, backfill and data tools.

Heavy libraries (ccxt, textual) are imported inside the command that needs them, so `--help`,
`--version` and `config check` stay fast.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from scalp_radar import __version__

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake in the user's input: printed as one line, exit code 2, no traceback."""


def _add_common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options every command accepts, before or after the command name."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--config",
        metavar="DIR",
        default=default,
        help="config directory (default: $SCALP_RADAR_CONFIG, else the packaged config)",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=default,
        help="SQLite database file (default: user data dir)",
    )
    parser.add_argument(
        "--log-dir", metavar="DIR", default=default, help="log directory (default: user log dir)"
    )
    parser.add_argument(
        "--log-level",
        metavar="LEVEL",
        default=default,
        help="DEBUG, INFO, WARNING or ERROR (default: LOG_LEVEL from .env, else INFO)",
    )


def _add_exchange_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """Options of commands that talk to an exchange."""
    parser.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="run against an embedded simulated Bitget on 127.0.0.1 (prices are NOT real)",
    )
    parser.add_argument(
        "--sim-url",
        metavar="URL",
        default=argparse.SUPPRESS if suppress else None,
        help="use a simulator started elsewhere (`scalp-radar sim`), e.g. http://127.0.0.1:8765",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; subcommands register their own options."""
    parser = argparse.ArgumentParser(
        prog="scalp-radar",
        description="Live crypto-futures radar (Bitget USDT-M perpetuals): dashboard, "
        "headless data daemon, history backfill into SQLite.",
    )
    parser.add_argument("--version", action="version", version=f"scalp-radar {__version__}")
    _add_common_options(parser, suppress=False)
    _add_exchange_options(parser)
    parser.add_argument(
        "--headless", action="store_true", help="run the data engine without the dashboard"
    )
    parser.add_argument(
        "--status-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="headless: seconds between status lines (default 10)",
    )
    parser.add_argument("--json", action="store_true", help="headless: status lines as JSON")
    parser.add_argument(
        "--refresh-hz",
        type=float,
        default=4.0,
        metavar="HZ",
        help="dashboard refresh rate (default 4)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    config = sub.add_parser("config", help="check or copy the configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser("check", help="validate every config file and print a summary")
    _add_common_options(check, suppress=True)
    init = config_sub.add_parser("init", help="write an editable copy of the default config")
    init.add_argument(
        "dir", nargs="?", default="config", help="target directory (default ./config)"
    )
    init.add_argument("--force", action="store_true", help="overwrite existing files")

    sim = sub.add_parser("sim", help="run the simulated Bitget exchange standalone")
    _register(sim, "scalp_radar.app.sim_cmd", "add_sim_arguments")

    backfill = sub.add_parser("backfill", help="download candle history into SQLite")
    _add_common_options(backfill, suppress=True)
    _register(backfill, "scalp_radar.app.history_cmds", "add_backfill_arguments")

    data = sub.add_parser("data", help="inventory and repair of stored history")
    _add_common_options(data, suppress=True)
    _register(data, "scalp_radar.app.history_cmds", "add_data_arguments")
    return parser


def _register(parser: argparse.ArgumentParser, module: str, function: str) -> None:
    """Let a subcommand's own module add its arguments (imported only for this)."""
    import importlib

    getattr(importlib.import_module(module), function)(parser)


def _load_config(args: argparse.Namespace):
    """Load and cross-validate the configuration named by --config / $SCALP_RADAR_CONFIG."""
    from scalp_radar.core.config import load_config

    config_dir = Path(args.config).expanduser() if getattr(args, "config", None) else None
    return load_config(config_dir)


def _resolve_paths(args: argparse.Namespace, config) -> None:
    """Fill args.db_path / args.log_dir_path / args.sim_url from flags, .env, then defaults.

    Simulated prices (--demo, --sim-url or exchange.sim_url) never go into the real history:
    unless --db names a file, they use a sibling `*-demo.db`.
    """
    from scalp_radar.core import paths
    from scalp_radar.core.store import check_database_file
    from scalp_radar.exchange.factory import check_sim_url

    sim_url = getattr(args, "sim_url", None) or config.exchange.sim_url
    if sim_url:
        try:
            sim_url = check_sim_url(sim_url)
        except ValueError as exc:
            raise UserError(f"--sim-url: {exc}") from None
    args.sim_url = sim_url
    # A simulator anywhere means simulated prices: label them DEMO everywhere.
    args.demo = bool(getattr(args, "demo", False) or sim_url)
    if getattr(args, "db", None):
        args.db_path = Path(args.db).expanduser()
    else:
        if config.secrets.database_path:
            db_path = Path(config.secrets.database_path).expanduser()
        else:
            db_path = paths.default_db_path()
        if args.demo:
            db_path = db_path.with_name(f"{db_path.stem}-demo{db_path.suffix}")
        args.db_path = db_path
    # Refuse a wrong --db before anything starts (simulator, engine, logs about them).
    check_database_file(args.db_path)
    log_dir = getattr(args, "log_dir", None)
    args.log_dir_path = Path(log_dir).expanduser() if log_dir else paths.default_log_dir()


def _setup_logging(args: argparse.Namespace, config, *, console: bool, json_console=False) -> None:
    from scalp_radar.core.logging_setup import register_secret, setup_logging

    for secret in (
        config.secrets.bitget_api_key,
        config.secrets.bitget_secret,
        config.secrets.bitget_passphrase,
    ):
        if secret is not None and secret.get_secret_value():
            register_secret(secret.get_secret_value())
    level = getattr(args, "log_level", None) or config.secrets.log_level
    try:
        setup_logging(
            level=level, log_dir=args.log_dir_path, console=console, json_console=json_console
        )
    except ValueError as exc:  # a bad --log-level / LOG_LEVEL or an unusable --log-dir
        raise UserError(str(exc)) from None


def _cmd_config(args: argparse.Namespace) -> int:
    from scalp_radar.core.config import summarize, write_default_config

    if args.config_command == "init":
        written = write_default_config(Path(args.dir).expanduser(), overwrite=args.force)
        for path in written:
            print(f"wrote {path}")
        print(f"edit them, then run: scalp-radar --config {args.dir} config check")
        return 0
    config = _load_config(args)
    _resolve_paths(args, config)
    print(summarize(config))
    print(f"database: {args.db_path}")
    print(f"logs:     {args.log_dir_path}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    """The default command: the dashboard, or the headless engine with --headless."""
    if not math.isfinite(args.status_interval) or args.status_interval <= 0:
        raise UserError(
            f"--status-interval: expected a positive number, got {args.status_interval}"
        )
    if not math.isfinite(args.refresh_hz) or not 0 < args.refresh_hz <= 60:
        raise UserError(f"--refresh-hz: expected a number in (0, 60], got {args.refresh_hz}")
    config = _load_config(args)
    _resolve_paths(args, config)
    if args.headless:
        from scalp_radar.app.headless import run_headless

        _setup_logging(args, config, console=True, json_console=args.json)
        return run_headless(
            config,
            db_path=args.db_path,
            demo=args.demo,
            sim_url=args.sim_url,
            status_interval=args.status_interval,
            json_lines=args.json,
        )
    # The dashboard owns the terminal: logs go to files only.
    _setup_logging(args, config, console=False)
    from scalp_radar.app.dashboard import run_dashboard

    return run_dashboard(
        config,
        db_path=args.db_path,
        demo=args.demo,
        sim_url=args.sim_url,
        refresh_hz=args.refresh_hz,
    )


def _with_config(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Load config, paths and file logging before a subcommand that needs them."""

    def wrapped(args: argparse.Namespace) -> int:
        config = _load_config(args)
        _resolve_paths(args, config)
        args.app_config = config
        _setup_logging(args, config, console=False)
        return run(args)

    return wrapped


def _dispatch(args: argparse.Namespace) -> int:
    if args.command is None:
        return _cmd_run(args)
    if args.command == "config":
        return _cmd_config(args)
    if args.command == "sim":
        from scalp_radar.app.sim_cmd import run_sim

        return run_sim(args)
    if args.command == "backfill":
        from scalp_radar.app.history_cmds import run_backfill

        return _with_config(run_backfill)(args)
    if args.command == "data":
        from scalp_radar.app.history_cmds import run_data

        return _with_config(run_data)(args)
    raise UserError(f"unknown command {args.command!r}")


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the user's input is wrong (one line, exit 2)."""
    from scalp_radar.core.config import ConfigError
    from scalp_radar.core.store import DatabaseError

    return (UserError, ConfigError, DatabaseError)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `scalp-radar` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("scalp-radar: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if isinstance(exc, _user_error_types()):
            print(f"scalp-radar: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    raise SystemExit(main())
