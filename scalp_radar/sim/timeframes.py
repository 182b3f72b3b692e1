"""Timeframes of the simulated exchange: lengths, alignment and Bitget's names for them."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

MINUTE_MS = 60_000
DAY_MS = 86_400_000

# ccxt timeframe -> fixed length in ms ("1M" is calendar months, handled apart).
TF_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "2h": 120 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "6h": 360 * MINUTE_MS,
    "12h": 720 * MINUTE_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
    "1M": 31 * DAY_MS,  # upper bound; real months use month_bounds()
}

# REST `granularity` strings (spec section 1) -> ccxt timeframe.
GRANULARITY: dict[str, str] = {
    "1m": "1m",
    "3m": "3m",
    "5m": "5m",
    "15m": "15m",
    "30m": "30m",
    "1H": "1h",
    "2H": "2h",
    "4H": "4h",
    "6H": "6h",
    "6Hutc": "6h",
    "12H": "12h",
    "12Hutc": "12h",
    "1D": "1d",
    "1Dutc": "1d",
    "3D": "3d",
    "3Dutc": "3d",
    "1W": "1w",
    "1Wutc": "1w",
    "1M": "1M",
    "1Mutc": "1M",
}

# WebSocket `candle{X}` channel suffixes -> ccxt timeframe: the same strings as REST
# granularities (candle1m, candle1H, candle6Hutc, ...).
WS_CHANNEL: dict[str, str] = GRANULARITY

# The Unix epoch was a Thursday; Monday-aligned weeks start 4 days later (as Bitget does).
_WEEK_OFFSET_MS = 4 * DAY_MS


def normalize_timeframe(tf: object) -> str:
    """Accept a ccxt string ("1m", "1h"), a TimeFrame enum or a Bitget granularity ("1H")."""
    text = str(getattr(tf, "value", tf))
    if text in TF_MS:
        return text
    if text in GRANULARITY:
        return GRANULARITY[text]
    raise ValueError(f"unknown timeframe {text!r}: expected one of {', '.join(TF_MS)}")


def align(tf: str, ts_ms: int) -> int:
    """Start of the candle of timeframe tf that contains ts_ms."""
    if tf == "1M":
        d = datetime.fromtimestamp(ts_ms / 1000, UTC)
        return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)
    if tf == "1w":
        return ts_ms - ((ts_ms - _WEEK_OFFSET_MS) % TF_MS["1w"])
    return ts_ms - ts_ms % TF_MS[tf]


def next_start(tf: str, start_ms: int) -> int:
    """Start of the candle after the one starting at start_ms (aligned input)."""
    if tf == "1M":
        d = datetime.fromtimestamp(start_ms / 1000, UTC)
        days = calendar.monthrange(d.year, d.month)[1]
        return start_ms + days * DAY_MS
    return start_ms + TF_MS[tf]


def prev_start(tf: str, start_ms: int) -> int:
    """Start of the candle before the one starting at start_ms (aligned input)."""
    if tf == "1M":
        return align("1M", start_ms - 1)
    return start_ms - TF_MS[tf]
