"""Validation of raw OHLCV rows before anything reaches a buffer or the database."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.store.codec import trusted_candle_maker

_EPS = 1e-9


def _tf(value: object) -> TimeFrame | None:
    try:
        return TimeFrame(str(value))
    except ValueError:
        return None


def _check_values(
    ts: int, o: float, h: float, low: float, c: float, v: float, tf: TimeFrame
) -> str | None:
    """The reason a candle's numbers are invalid (the same rules as `Candle`), or None."""
    if ts < 0:
        return f"negative timestamp {ts}"
    if tf.align(ts) != ts:
        return f"timestamp {ts} is not aligned to the {tf.value} timeframe"
    if o <= 0 or h <= 0 or low <= 0 or c <= 0:
        return "non-positive price"
    if v < 0:
        return f"negative volume {v}"
    if h < low:
        return f"high {h} below low {low}"
    if low > min(o, c) + _EPS:
        return f"low {low} is above min(open, close)"
    if h < max(o, c) - _EPS:
        return f"high {h} is below max(open, close)"
    return None


def _checked_candle(
    symbol: str, tf: TimeFrame, ts: int, o: float, h: float, low: float, c: float, v: float
) -> Candle:
    """A Candle from values every rule of `Candle` was just checked against (finite, aligned,
    positive, OHLC order): built without pydantic validating them a second time, as this runs
    for every update."""
    return trusted_candle_maker()(
        {
            "symbol": symbol,
            "timeframe": tf,
            "timestamp": ts,
            "open": o,
            "high": h,
            "low": low,
            "close": c,
            "volume": v,
            "vwap": None,
            "mark_price": None,
        }
    )


def next_forming_state(forming: Candle, row: Sequence[Any]) -> Candle | None:
    """The common push, checked in one pass: `row` as a later state of `forming` (same ts).

    Returns `forming` itself when the row repeats it, a new Candle when the row is valid by the
    rules of `DataValidator.check_candle` and a progression of `forming` (`is_progression`), and
    None for anything else (another ts, a malformed or invalid row, a stale state): the caller
    then takes the general path, which says why.
    """
    if type(row) is not list or len(row) != 6:
        return None  # ccxt's rows are lists of six; anything else is the general path's
    ts, o, h, low, c, v = row
    if type(ts) is not int or ts != forming.timestamp:
        return None
    if type(o) is not float or type(h) is not float or type(low) is not float:
        return None
    if type(c) is not float or type(v) is not float:
        return None
    d = forming.__dict__
    if (o, h, low, c, v, None, None) == (
        d["open"], d["high"], d["low"], d["close"], d["volume"], d["vwap"], d["mark_price"]
    ):  # fmt: skip
        return forming  # a repeat (forming holds no NaN, so a NaN row never equals it)
    # Finite and in order: NaN fails every comparison, inf fails `< math.inf`.
    if not (
        0.0 < low <= h < math.inf
        and 0.0 < o < math.inf
        and 0.0 < c < math.inf
        and 0.0 <= v < math.inf
    ):
        return None
    if low > min(o, c) + _EPS or h < max(o, c) - _EPS:
        return None
    # A progression: same open, the range only widens, the volume only grows.
    if o != d["open"] or h < d["high"] - _EPS or low > d["low"] + _EPS or v < d["volume"] - _EPS:
        return None
    return _checked_candle(d["symbol"], d["timeframe"], ts, o, h, low, c, v)


class DataValidator:
    """Stateless checks on candles: shape and values, gaps, duplicates."""

    @staticmethod
    def check_candle(
        row: Sequence[Any] | Candle,
        symbol: str | None = None,
        timeframe: TimeFrame | str | None = None,
        *,
        now_ms: int | None = None,
    ) -> tuple[Candle | None, str | None]:
        """(Candle, None) from a valid ccxt row `[ts, o, h, l, c, v]` (or a Candle), else (None, why);
        with `now_ms`, a candle that opens after the current candle is rejected too."""
        if isinstance(row, Candle):
            candle = row
        else:
            if symbol is None or timeframe is None:
                return None, "symbol and timeframe are required for a raw row"
            try:
                if len(row) < 6:
                    return None, f"row has {len(row)} fields, expected 6"
                ts = row[0]
                if isinstance(ts, float):
                    if not ts.is_integer():
                        return None, f"timestamp {ts!r} is not an integer"
                    ts = int(ts)
                o, h, low, c, v = (
                    float(row[1]),
                    float(row[2]),
                    float(row[3]),
                    float(row[4]),
                    float(row[5]),
                )
            except (TypeError, ValueError) as exc:
                return None, f"unreadable row: {exc}"
            if not isinstance(ts, int) or isinstance(ts, bool):
                return None, f"timestamp {ts!r} is not an integer"
            isfinite = math.isfinite
            if not (isfinite(o) and isfinite(h) and isfinite(low) and isfinite(c) and isfinite(v)):
                return None, "non-finite value"
            tf = timeframe if isinstance(timeframe, TimeFrame) else _tf(timeframe)
            if tf is None:
                return None, f"unknown timeframe {timeframe!r}"
            why = _check_values(ts, o, h, low, c, v, tf)
            if why is not None:
                return None, why
            if not symbol:
                return None, "empty symbol"
            candle = _checked_candle(symbol, tf, ts, o, h, low, c, v)
        if candle.high < candle.low:
            return None, f"high {candle.high} below low {candle.low}"
        if now_ms is not None and candle.timestamp > candle.timeframe.align(now_ms):
            return None, f"timestamp {candle.timestamp} is in the future"
        return candle, None

    @staticmethod
    def check_gap(prev_ts: int | None, ts: int, timeframe: TimeFrame) -> int:
        """Number of candles missing between `prev_ts` and `ts` (0 when contiguous or unknown)."""
        if prev_ts is None or ts <= prev_ts:
            return 0
        step = timeframe.to_milliseconds()
        return max(0, (ts - prev_ts) // step - 1)

    @staticmethod
    def is_duplicate(last_ts: int | None, ts: int) -> bool:
        """True when `ts` is not newer than the last closed candle's timestamp."""
        return last_ts is not None and ts <= last_ts

    @staticmethod
    def is_progression(old: Candle, new: Candle) -> bool:
        """True when `new` can be a later state of the same candle as `old`.

        Within one candle the range only widens and the volume only grows, so an update that
        narrows either is an out-of-order (stale) push, not a correction.
        """
        eps = 1e-9
        return (
            new.timestamp == old.timestamp
            and new.open == old.open
            and new.high >= old.high - eps
            and new.low <= old.low + eps
            and new.volume >= old.volume - eps
        )
