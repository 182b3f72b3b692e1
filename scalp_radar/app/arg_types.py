"""argparse `type=` checkers: each bad value becomes one line naming the option and the range.

argparse prefixes the option (`--days: ...`); these say what was expected and what was given.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
# One minute (the smallest candle) up to 100 years.
MIN_DAYS = 1 / 1440
MAX_DAYS = 36_500.0
# Simulated seconds per real second: up to an hour per second keeps every timer finite and
# the event loop responsive (1e300 overflowed the clock and starved the signal handlers).
MIN_SIM_SPEED = 0.01
MAX_SIM_SPEED = 3600.0


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def bounded_float(
    low: float, high: float, what: str, *, low_open: bool = False
) -> Callable[[str], float]:
    """A checker for a finite number in [low, high] (or (low, high] with low_open)."""
    bracket = "(" if low_open else "["

    def check(text: str) -> float:
        value = _number(text)
        above_low = value is not None and (value > low if low_open else value >= low)
        if value is None or not above_low or value > high:
            raise argparse.ArgumentTypeError(
                f"expected {what} in {bracket}{low:g}, {high:g}], got {text!r}"
            )
        return value

    return check


def bounded_int(low: int, high: int, what: str) -> Callable[[str], int]:
    """A checker for a whole number in [low, high]."""

    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what} {low}..{high}, got {text!r}")
        return value

    return check


def days(text: str) -> float:
    """--days: one minute (0.0007) to 36500 days."""
    value = _number(text)
    if value is None or not MIN_DAYS <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(
            f"expected a number of days from {MIN_DAYS:.4f} (one minute) to {MAX_DAYS:g}, "
            f"got {text!r}"
        )
    return value


def log_level(text: str) -> str:
    """--log-level: a loguru level name, any case."""
    name = text.strip().upper()
    if name not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return name


sim_speed = bounded_float(MIN_SIM_SPEED, MAX_SIM_SPEED, "simulated seconds per real second")


LOOPBACK = "127.0.0.1"


def http_bind(text: str) -> tuple[str, int]:
    """--http: "PORT" binds 127.0.0.1; "HOST:PORT" or "[V6]:PORT" binds as given (explicitly)."""
    import ipaddress

    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = LOOPBACK, text
    host = host.strip("[]") or LOOPBACK
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT or PORT (1-65535), got {text!r}")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an IP address (or localhost) before :PORT, got {text!r}"
            ) from None
    return host, port


MAX_UNIVERSE_TOP = 2000


def universe(text: str) -> dict[str, str | int]:
    """`--universe all|top:N|watchlist` as the `universe:` keys it sets for this run."""
    value = text.strip().lower()
    if value in ("all", "watchlist"):
        return {"mode": value}
    number = value.removeprefix("top:")
    if value.startswith("top:") and number.isdigit() and 1 <= int(number) <= MAX_UNIVERSE_TOP:
        return {"mode": "top", "top": int(number)}
    raise argparse.ArgumentTypeError(
        f"expected all, top:N (N 1..{MAX_UNIVERSE_TOP}) or watchlist, got {text!r}"
    )
