"""setup_logging: console format, JSON file, errors file, TUI mode, levels, secrets redaction."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from scalp_radar.core import logging_setup
from scalp_radar.core.logging_setup import (
    ERRORS_FILE,
    LOG_FILE,
    RedactedError,
    clear_secrets,
    register_secret,
    setup_logging,
)

CONSOLE_LINE = re.compile(
    r"^\d\d:\d\d:\d\d \| (?P<level>[A-Z]+) *\| (?P<name>[\w.]+):(?P<function>\w+):(?P<line>\d+) "
    r"\| (?P<message>.*)$"
)
SECRET = "sk-TEST-5f3a9c1e77"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Give later tests loguru's default stderr sink and an untouched stdlib root logger back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    clear_secrets()
    logger.remove()
    logger.add(sys.stderr)
    root.handlers[:] = handlers
    root.setLevel(level)


def _json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_console_line_format(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(level="DEBUG")
    logger.debug("hello {}", "radar")
    line = capsys.readouterr().err.rstrip("\n")
    match = CONSOLE_LINE.match(line)
    assert match, line
    assert match["level"] == "DEBUG"
    assert line.split(" | ")[1] == "DEBUG   "  # padded to 8
    assert match["name"] == "tests.test_logging"
    assert match["function"] == "test_console_line_format"
    assert int(match["line"]) > 0
    assert match["message"] == "hello radar"
    assert "\x1b[" not in line  # not a terminal: no colour codes


def test_json_file_is_created_and_parseable(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs" / "nested"
    setup_logging(level="INFO", log_dir=log_dir, console=False)
    logger.bind(symbol="BTC/USDT:USDT").info("candle closed at {}", 42.5)
    logger.debug("too verbose for INFO")
    entries = _json_lines(log_dir / LOG_FILE)
    assert len(entries) == 1
    record = entries[0]["record"]
    assert record["message"] == "candle closed at 42.5"
    assert record["level"]["name"] == "INFO"
    assert record["extra"] == {"symbol": "BTC/USDT:USDT"}
    assert record["function"] == "test_json_file_is_created_and_parseable"
    assert "candle closed at 42.5" in entries[0]["text"]


def test_errors_file_only_gets_error_and_above(tmp_path: Path) -> None:
    setup_logging(level="DEBUG", log_dir=tmp_path, console=False)
    logger.debug("d")
    logger.info("i")
    logger.warning("w")
    logger.error("e-line")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logger.exception("boom")
    logger.critical("c-line")
    text = (tmp_path / ERRORS_FILE).read_text(encoding="utf-8")
    headers = [line for line in text.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert [h.split(" | ")[1].strip() for h in headers] == ["ERROR", "ERROR", "CRITICAL"]
    assert [h.split(" | ")[-1] for h in headers] == ["e-line", "boom", "c-line"]
    assert "ZeroDivisionError: division by zero" in text
    assert "pytest" not in text  # no backtrace through the test runner's frames
    assert len(_json_lines(tmp_path / LOG_FILE)) == 6


def test_tui_mode_writes_nothing_on_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging(level="DEBUG", log_dir=tmp_path, console=False)
    logger.critical("never on screen")
    logging.getLogger("ccxt.base.exchange").warning("stdlib warning from a library")
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == ""
    messages = [e["record"]["message"] for e in _json_lines(tmp_path / LOG_FILE)]
    assert messages == ["never on screen", "stdlib warning from a library"]


def test_stdlib_records_reach_loguru_with_their_caller(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(level="INFO")
    logging.getLogger("aiohttp.client").info("routed %s", "here")
    logging.getLogger("aiohttp.client").debug("filtered")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    match = CONSOLE_LINE.match(lines[0])
    assert match, lines
    assert match["function"] == "test_stdlib_records_reach_loguru_with_their_caller"
    assert match["message"] == "routed here"


def test_level_is_respected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(level="warning", log_dir=tmp_path)
    logger.info("quiet")
    logger.warning("loud")
    err_lines = capsys.readouterr().err.splitlines()
    assert [CONSOLE_LINE.match(line)["message"] for line in err_lines] == ["loud"]
    assert [e["record"]["message"] for e in _json_lines(tmp_path / LOG_FILE)] == ["loud"]


def test_calling_twice_replaces_sinks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(log_dir=tmp_path)
    setup_logging(log_dir=tmp_path)
    logger.info("once")
    logging.getLogger("ccxt").warning("once too")
    assert len(capsys.readouterr().err.splitlines()) == 2
    assert len(_json_lines(tmp_path / LOG_FILE)) == 2


def test_json_console_prints_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(json_console=True)
    logger.bind(streams_live=8).info("status")
    logger.warning("second")
    lines = capsys.readouterr().err.splitlines()
    objects = [json.loads(line) for line in lines]
    assert [o["message"] for o in objects] == ["status", "second"]
    assert objects[0]["level"] == "INFO"
    assert objects[0]["extra"] == {"streams_live": 8}
    assert objects[0]["function"] == "test_json_console_prints_one_object_per_line"
    assert "extra" not in objects[1]


def test_registered_secret_never_reaches_any_sink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging(level="DEBUG", log_dir=tmp_path)
    register_secret(SECRET)
    logger.info("signing with key={}", SECRET)
    logger.bind(api_key=SECRET).warning("bound extra")
    logging.getLogger("ccxt").error("stdlib: %s", SECRET)
    try:
        raise ValueError(f"exchange refused key {SECRET}")
    except ValueError:
        logger.exception("auth failed")
    file_text = (tmp_path / LOG_FILE).read_text(encoding="utf-8")
    errors_text = (tmp_path / ERRORS_FILE).read_text(encoding="utf-8")
    console = capsys.readouterr().err
    for text in (file_text, errors_text, console):
        assert SECRET not in text
    entries = _json_lines(tmp_path / LOG_FILE)
    assert entries[0]["record"]["message"] == "signing with key=***"
    assert entries[1]["record"]["extra"] == {"api_key": "***"}
    assert entries[2]["record"]["message"] == "stdlib: ***"
    assert entries[3]["record"]["exception"]["value"] == "exchange refused key ***"
    assert "ValueError: exchange refused key ***" in errors_text


def test_secret_with_json_escaped_characters_and_secretstr(tmp_path: Path) -> None:
    from pydantic import SecretStr

    tricky = 'pa"ss\\wörd-99'
    setup_logging(log_dir=tmp_path, console=False)
    register_secret(SecretStr(tricky))
    register_secret("")  # ignored, must not redact every empty string
    register_secret(None)
    logger.info("passphrase {}", tricky)
    raw = (tmp_path / LOG_FILE).read_text(encoding="utf-8")
    assert tricky not in raw
    assert json.dumps(tricky)[1:-1] not in raw
    assert _json_lines(tmp_path / LOG_FILE)[0]["record"]["message"] == "passphrase ***"


def test_exception_whose_text_cannot_be_scrubbed_is_replaced(tmp_path: Path) -> None:
    setup_logging(log_dir=tmp_path, console=False)
    register_secret(SECRET)
    try:
        raise FileNotFoundError(2, "No such file", f"/keys/{SECRET}.pem")
    except OSError:
        logger.exception("could not read key")
    raw = (tmp_path / LOG_FILE).read_text(encoding="utf-8")
    assert SECRET not in raw
    exc = _json_lines(tmp_path / LOG_FILE)[0]["record"]["exception"]
    assert exc["type"] == RedactedError.__name__
    assert "FileNotFoundError" in exc["value"] and "/keys/***.pem" in exc["value"]


def test_redact_hides_the_longest_secret_whole() -> None:
    register_secret("abcd")
    register_secret("abcdefgh")
    assert logging_setup.redact("x abcdefgh y abcd z") == "x *** y *** z"
    clear_secrets()
    assert logging_setup.redact("abcd") == "abcd"


def test_bad_level_is_a_one_line_error() -> None:
    with pytest.raises(ValueError) as info:
        setup_logging(level="LOUD")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("log level: expected one of TRACE, DEBUG, INFO")
    assert "'LOUD'" in message


def test_log_dir_that_is_a_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("x")
    setup_logging()
    with pytest.raises(
        ValueError, match=r"log directory .*file\.txt: expected a writable directory"
    ):
        setup_logging(log_dir=not_a_dir)
    logger.info("console still works")
    assert "console still works" in capsys.readouterr().err
    assert not_a_dir.read_text() == "x"


async def test_signed_request_headers_never_reach_the_log(tmp_path: Path) -> None:
    """Regression (issue 10 item 12): at DEBUG, ccxt logs a signed request's headers, and the
    ACCESS-SIGN / ACCESS-TIMESTAMP pair is a credential that replays for a few seconds."""
    import ccxt.pro
    from aiohttp import web

    from scalp_radar.exchange.factory import point_at_simulator

    received: list[dict[str, str]] = []

    async def account(request: web.Request) -> web.Response:
        received.append(dict(request.headers))
        return web.json_response({"code": "00000", "msg": "success", "data": []})

    app = web.Application()
    app.router.add_get("/api/v2/mix/account/accounts", account)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    setup_logging(level="DEBUG", log_dir=tmp_path, console=False)
    exchange = ccxt.pro.bitget(
        {"apiKey": "key-under-test", "secret": "secret-under-test", "password": "pass-under-test"}
    )
    point_at_simulator(exchange, f"http://127.0.0.1:{port}")
    try:
        await exchange.private_mix_get_v2_mix_account_accounts({"productType": "USDT-FUTURES"})
    finally:
        await exchange.close()
        await runner.cleanup()
    logger.complete()
    assert received, "the signed request never reached the server"
    headers = {k.upper(): v for k, v in received[0].items()}
    raw = (tmp_path / LOG_FILE).read_text(encoding="utf-8")
    assert "ACCESS-SIGN" in raw  # the request was logged at DEBUG ...
    for name in ("ACCESS-SIGN", "ACCESS-TIMESTAMP", "ACCESS-KEY", "ACCESS-PASSPHRASE"):
        assert headers[name] not in raw, name  # ... with none of its credential values
