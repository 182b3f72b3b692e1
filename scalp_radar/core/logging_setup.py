"""Loguru sinks for the whole process: console (text or JSON), rotating JSON file, errors file.

Registered secrets are redacted from every record before any sink sees it, and once more from the
final console text. The TUI calls `setup_logging(console=False)`: nothing may write onto its screen.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

CONSOLE_FORMAT = (
    "<green>{time:HH:mm:ss}</green> | <level>{level: <8}</level> | "
    "<cyan>{name}</cyan>:<cyan>{function}</cyan>:<cyan>{line}</cyan> | <level>{message}</level>"
)
FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} | {message}"
LOG_FILE = "scalp_radar.log"
ERRORS_FILE = "errors.log"
REDACTED = "***"

# Bitget's signed-request headers (ccxt logs request headers at DEBUG): the key and passphrase
# are secrets, and a signature with its timestamp is a replayable credential for a few seconds.
_SIGNED_HEADER = re.compile(
    r"""(?i)(\bACCESS-(?:KEY|SIGN|TIMESTAMP|PASSPHRASE)\b['"]?\s*[:=]\s*['"]?)([^'"\s,}]+)"""
)

_secrets: frozenset[str] = frozenset()
_secrets_lock = threading.Lock()


def register_secret(value: Any) -> None:
    """Never log `value` (a str, or a pydantic SecretStr); empty values are ignored."""
    global _secrets
    if value is None:
        return
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    value = str(value)
    if not value.strip():
        return
    variants = {value}
    # The JSON file holds the escaped form of anything with quotes, backslashes or non-ASCII.
    variants.add(json.dumps(value)[1:-1])
    variants.add(json.dumps(value, ensure_ascii=False)[1:-1])
    with _secrets_lock:
        _secrets = _secrets | variants
    _install_patcher()


def clear_secrets() -> None:
    """Forget every registered secret (for tests)."""
    global _secrets
    with _secrets_lock:
        _secrets = frozenset()


def redact(text: str) -> str:
    """`text` with every registered secret and signed-request header value replaced by ***."""
    if "ACCESS-" in text.upper():
        text = _SIGNED_HEADER.sub(rf"\1{REDACTED}", text)
    secrets = _secrets  # one atomic read; the set itself is immutable
    if not secrets:
        return text
    # Longest first, so a secret that contains another is hidden whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _contains_secret(text: str) -> bool:
    return any(secret in text for secret in _secrets) or _SIGNED_HEADER.search(text) is not None


def _redact_exception(record: Record) -> None:
    """Scrub secrets from the exception chain's messages (tracebacks print str(exc))."""
    exc_info = record["exception"]
    if exc_info is None or exc_info.value is None:
        return
    seen: set[int] = set()
    exc: BaseException | None = exc_info.value
    leaked = False
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if _contains_secret(str(exc)) or _contains_secret(repr(exc.args)):
            with contextlib.suppress(Exception):  # an exotic exception may refuse new args
                exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
            leaked = leaked or _contains_secret(str(exc))
        exc = exc.__cause__ or exc.__context__
    if leaked:
        # str() does not come from args (OSError, custom __str__): log a redacted stand-in.
        original = exc_info.value
        stand_in = RedactedError(redact(f"{type(original).__name__}: {original}"))
        stand_in.__suppress_context__ = True
        record["exception"] = type(exc_info)(
            RedactedError, stand_in.with_traceback(exc_info.traceback), exc_info.traceback
        )


class RedactedError(Exception):
    """Stands in for an exception whose text held a secret that could not be scrubbed in place."""


def _redact_record(record: Record) -> None:
    """Loguru patcher: redact the message, string extras and exceptions of every record."""
    record["message"] = redact(record["message"])
    extra = record["extra"]
    for key, value in list(extra.items()):
        if isinstance(value, str):
            extra[key] = redact(value)
        elif _contains_secret(str(value)):
            extra[key] = redact(str(value))
    if record["exception"] is not None:
        _redact_exception(record)


def _install_patcher() -> None:
    # configure(patcher=...) is core-wide: every `from loguru import logger` goes through it.
    logger.configure(patcher=_redact_record)


def _console_text_sink(message: Any) -> None:
    # sys.stderr is looked up per write so a replaced stream (pytest, a redirect) is honoured.
    sys.stderr.write(redact(str(message)))


def _console_json_sink(message: Any) -> None:
    """One JSON object per line: time, level, name, function, line, message (+ extra, exception)."""
    record = message.record
    payload: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "name": record["name"],
        "function": record["function"],
        "line": record["line"],
        "message": record["message"],
    }
    if record["extra"]:
        payload["extra"] = record["extra"]
    if record["exception"] is not None:
        exc = record["exception"]
        payload["exception"] = f"{getattr(exc.type, '__name__', exc.type)}: {exc.value}"
    sys.stderr.write(redact(json.dumps(payload, default=str, ensure_ascii=False)) + "\n")


class _InterceptHandler(logging.Handler):
    """Route stdlib logging (ccxt, aiohttp, asyncio) into loguru instead of raw stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # Skip logging's own frames so {name}:{function}:{line} point at the real caller.
        frame: FrameType | None = logging.currentframe()
        depth = 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame, depth = frame.f_back, depth + 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def _level_no(level: str | int) -> tuple[str | int, int]:
    if isinstance(level, bool) or not isinstance(level, str | int):
        raise ValueError(f"log level: expected a level name, got {level!r}")
    if isinstance(level, int):
        if level < 0:
            raise ValueError(f"log level: expected a number >= 0, got {level}")
        return level, level
    name = level.strip().upper()
    try:
        return name, logger.level(name).no
    except ValueError:
        valid = "TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR, CRITICAL"
        raise ValueError(f"log level: expected one of {valid}, got {level!r}") from None


def setup_logging(
    level: str | int = "INFO",
    log_dir: Path | None = None,
    console: bool = True,
    json_console: bool = False,
) -> None:
    """(Re)configure every loguru sink; calling it again replaces them, never duplicates.

    console=False is the TUI mode (no console sink at all); json_console writes one JSON object
    per line on stderr instead of text (headless `--json`). Files go to `log_dir` when given.
    """
    level, level_no = _level_no(level)
    if log_dir is not None:
        log_dir = _prepare_log_dir(Path(log_dir).expanduser())
    # Remove every handler, loguru's default stderr one included: it would draw on the TUI.
    logger.remove()
    _install_patcher()
    # enqueue=False everywhere: loguru's per-handler lock already makes the engine thread and the
    # UI thread safe to log together; a queue would add a thread and lose the tail on a crash.
    # diagnose=False: tracebacks with variable values could print secrets. backtrace=False: the
    # frames above the handler (asyncio, the CLI) only bury the useful part of the traceback.
    if console:
        if json_console:
            logger.add(
                _console_json_sink,
                level=level,
                format="{message}",
                diagnose=False,
                backtrace=False,
            )
        else:
            logger.add(
                _console_text_sink,
                level=level,
                format=CONSOLE_FORMAT,
                colorize=sys.stderr.isatty(),
                diagnose=False,
                backtrace=False,
            )
    _route_stdlib_logging(level_no)
    if log_dir is not None:
        _add_file_sinks(log_dir, level)


def _log_dir_error(log_dir: Path, exc: OSError) -> ValueError:
    return ValueError(
        f"log directory {log_dir}: expected a writable directory ({exc.strerror or exc})"
    )


def _prepare_log_dir(log_dir: Path) -> Path:
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _log_dir_error(log_dir, exc) from None
    return log_dir


def _add_file_sinks(log_dir: Path, level: str | int) -> None:
    common: dict[str, Any] = {
        "rotation": "50 MB",
        "retention": "30 days",
        "compression": "gz",
        "encoding": "utf-8",
        "diagnose": False,
        "backtrace": False,
    }
    added: list[int] = []
    try:
        added.append(
            logger.add(
                log_dir / LOG_FILE, level=level, format=FILE_FORMAT, serialize=True, **common
            )
        )
        added.append(logger.add(log_dir / ERRORS_FILE, level="ERROR", format=FILE_FORMAT, **common))
    except OSError as exc:
        # Keep the console sink working; drop only the half-built file sinks.
        for handler_id in added:
            logger.remove(handler_id)
        raise _log_dir_error(log_dir, exc) from None


def _route_stdlib_logging(level_no: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _InterceptHandler):
            root.removeHandler(handler)
    root.addHandler(_InterceptHandler())
    # Same numbers as loguru's levels; filtering here spares building records nobody keeps.
    root.setLevel(level_no)
