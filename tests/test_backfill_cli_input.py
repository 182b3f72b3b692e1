"""Bad backfill input gets one line and exit 2 before any request (no exchange is reachable here)."""

from __future__ import annotations

import argparse
import socket

import pytest

from scalp_radar.app.cli import build_parser, main
from scalp_radar.app.context import RunContext
from scalp_radar.app.errors import UsageError
from scalp_radar.app.history_cmds import (
    parse_when,
    resolve_range,
    run_backfill,
    select_streams,
)
from scalp_radar.core.config import load_config

DAY = 86_400_000


def _dead_url() -> str:
    """A URL nothing listens on: any request made would fail with a network error instead."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _args(tmp_path, *argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["backfill", *argv])


def _ctx(tmp_path) -> RunContext:
    return RunContext(load_config(), tmp_path / "c.db", tmp_path / "logs", _dead_url(), demo=True)


def _main(*argv: str) -> int:
    """`scalp-radar ARGV` in process: its exit code, whether returned or argparse's SystemExit."""
    try:
        return main(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--symbol", "BTCUSDT"), "--symbol: expected a ccxt perpetual symbol"),
        (("--timeframe", "7m"), "--timeframe: unknown timeframe '7m'"),
        (("--since", "2026-13-01"), "--since: expected an ISO date"),
        (("--until", "yesterday"), "--until: expected an ISO date"),
        (("--since", "2026-02-01", "--until", "2026-01-01"), "must be before until"),
        (("--since", "2099-01-01"), "--since: 2099-01-01 is in the future"),
        (("--days", "0"), "--days: expected a number of days from 0.0007 (one minute) to 36500"),
        (("--days", "1e-12"), "--days: expected a number of days from 0.0007"),
        (("--days", "100000"), "to 36500, got '100000'"),
        (("--days", "x"), "--days: expected a number of days"),
        (("--since", "0001-01-01"), "--since: expected a date from 2010-01-01 on"),
        (("--days", "3", "--since", "2026-01-01"), "--days and --since"),
        (("--concurrency", "0"), "--concurrency: expected requests in flight 1..32"),
    ],
)
def test_bad_input_is_one_line_exit_2_before_any_request(tmp_path, capsys, argv, needle):
    code = _main(
        "--db", str(tmp_path / "c.db"), "--log-dir", str(tmp_path / "logs"),
        "--sim-url", _dead_url(), "backfill", *argv,
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert not (tmp_path / "c.db").exists()  # nothing was opened, let alone requested


def test_parse_when_forms():
    assert parse_when("2026-01-01", "--since") == 1_767_225_600_000
    assert parse_when("2026-01-01T00:01", "--since") == 1_767_225_660_000
    assert parse_when("2026-01-01 00:01:00Z", "--since") == 1_767_225_660_000
    assert parse_when("2026-01-01T02:01+02:00", "--since") == 1_767_225_660_000
    with pytest.raises(UsageError, match="--until"):
        parse_when("01/02/2026", "--until")


def test_range_defaults_and_clipping(tmp_path):
    now = 1_790_000_000_000
    args = _args(tmp_path)
    assert resolve_range(args, now) == (now - 30 * DAY, now)
    args = _args(tmp_path, "--days", "1.5", "--until", "2099-01-01")
    assert resolve_range(args, now) == (now - int(1.5 * DAY), now)  # until clipped to now


def test_default_streams_are_the_configured_ones(tmp_path):
    config = load_config()
    selection = select_streams(_args(tmp_path), config)
    assert selection.symbols == tuple(config.symbols)
    for asset, (symbol, tfs) in zip(config.assets, selection.streams, strict=True):
        assert symbol == asset.symbol
        assert tfs == tuple(str(t) for t in asset.timeframes)
    chosen = select_streams(
        _args(tmp_path, "--symbol", "eth/usdt:usdt", "--timeframe", "5m", "--timeframe", "1h"),
        config,
    )
    assert chosen.streams == (("ETH/USDT:USDT", ("5m", "1h")),)


def test_data_parser_requires_an_action():
    parser = build_parser()
    assert parser.parse_args(["data", "list", "--holes"]).holes is True
    args = parser.parse_args(["data", "repair", "--symbol", "BTC/USDT:USDT", "--retries", "2"])
    assert args.retries == 2 and args.command.target.endswith(":run_data_repair")
    with pytest.raises(SystemExit):
        parser.parse_args(["data"])


def test_unreachable_exchange_is_one_line_exit_1(tmp_path, capsys):
    code = run_backfill(_args(tmp_path, "--symbol", "BTC/USDT:USDT", "--days", "1"), _ctx(tmp_path))
    err = capsys.readouterr().err
    assert code == 1
    # (loguru's default test-time sink may log to stderr too; the CLI's own output is one line)
    lines = [line for line in err.splitlines() if line.startswith("scalp-radar")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("scalp-radar: error: exchange: ExchangeNotAvailable: ")
