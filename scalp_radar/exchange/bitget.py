"""Bitget v2 public websocket facts (limits, error codes) and the raw USDT-M ticker row.

Sources: ../shared/bitget-v2-public.md sections 3 and 7 (Bitget's API docs, checked with ccxt).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

# Per connection.
MAX_CHANNELS_PER_CONNECTION = 1000
RECOMMENDED_CHANNELS_PER_CONNECTION = 50
MAX_MESSAGES_PER_S = 10  # client frames, pings and (un)subscribes included
MAX_SUBSCRIBES_PER_HOUR = 240  # subscribe requests per connection per hour
# Per IP.
MAX_OPEN_CONNECTIONS = 100
MAX_NEW_CONNECTIONS = 300
NEW_CONNECTIONS_WINDOW_S = 300.0
FORCED_RECYCLE_S = 86_400.0  # Bitget closes every connection once a day

# Websocket error codes (event:error) that mean "you went over a limit".
WS_REQUEST_TOO_MANY = 30006
WS_OVER_LIMIT_CLOSED = 30007
WS_LIMIT_CODES = frozenset({WS_REQUEST_TOO_MANY, WS_OVER_LIMIT_CLOSED})

PRODUCT_TYPE = "USDT-FUTURES"
TICKER_CHANNEL = "ticker"


class TickerUpdate(NamedTuple):
    """One USDT-M ticker in plain numbers (NaN where the row had no value)."""

    inst_id: str
    ts: int
    last: float
    bid: float
    ask: float
    mark: float
    index_price: float
    change_24h: float  # ratio (0.01 = +1 %)
    quote_volume_24h: float
    funding_rate: float
    next_funding_ms: int | None
    open_interest: float  # holdingAmount, base coin


_NAN = float("nan")


def _f(row: Mapping[str, object], key: str) -> float:
    value = row.get(key)
    if value is None or value == "":
        return _NAN
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _NAN


def parse_ticker_row(row: Mapping[str, object], fallback_ts: int = 0) -> TickerUpdate | None:
    """A ticker row of the websocket `ticker` channel or REST `/mix/market/tickers`; None if
    it names no instrument or has no last price."""
    inst = row.get("instId") or row.get("symbol")
    if not isinstance(inst, str) or not inst:
        return None
    last = _f(row, "lastPr")
    if last != last or last <= 0:
        return None
    ts_raw = _f(row, "ts")
    next_funding = _f(row, "nextFundingTime")
    return TickerUpdate(
        inst_id=inst,
        ts=int(ts_raw) if ts_raw == ts_raw else fallback_ts,
        last=last,
        bid=_f(row, "bidPr"),
        ask=_f(row, "askPr"),
        mark=_f(row, "markPrice"),
        index_price=_f(row, "indexPrice"),
        change_24h=_f(row, "change24h"),
        quote_volume_24h=_f(row, "quoteVolume"),
        funding_rate=_f(row, "fundingRate"),
        next_funding_ms=int(next_funding)
        if next_funding == next_funding and next_funding > 0
        else None,
        open_interest=_f(row, "holdingAmount"),
    )


def ws_error_code(message: object) -> int | None:
    """The code of a websocket `event:error` frame, else None."""
    if isinstance(message, Mapping) and message.get("event") == "error":
        try:
            return int(message.get("code"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    return None
