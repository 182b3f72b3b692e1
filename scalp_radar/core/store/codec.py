"""Candle rows <-> Candle models, and the text forms of timeframes and datetimes in the store.

Rows read back were validated Candles when written (the only way in), so by default they are
rebuilt without re-validation by a constructor that sets the same four attributes
`model_construct` sets, ~5x faster than validation (0.46 vs 1.8 us a candle; see
tests/bench/bench_store.py: `read` vs `read validated`). It is checked once against a validated
Candle, so a pydantic release that changes model internals falls back to `model_construct`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from pydantic import ValidationError

from scalp_radar.core.models import Candle, TimeFrame

CANDLE_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume", "vwap", "mark_price")
CANDLE_COLS = ", ".join(CANDLE_COLUMNS)
# Timeframes bound as exact str (a StrEnum goes through sqlite3's adapter lookup: +20%).
TF_TEXT: dict[TimeFrame, str] = {tf: tf.value for tf in TimeFrame}
# One stored candle: (symbol, timeframe, timestamp, open, high, low, close, volume, vwap, mark).
CandleRow = tuple[str, str, int, float, float, float, float, float, float | None, float | None]
CandleMaker = Callable[[dict[str, Any]], Candle]

_CANDLE_FIELDS = frozenset(Candle.model_fields)
_new = object.__new__
_set = object.__setattr__
_trusted_maker: CandleMaker | None = None


def candle_rows(candles: Sequence[Candle]) -> Iterator[CandleRow]:
    """The rows of candles, by attribute access only (no model_dump)."""
    # A generator, consumed by executemany on the connection's thread: each tuple dies right
    # after binding, so no big list for the cyclic GC to walk and no event-loop stall.
    tf_text = TF_TEXT
    return (
        (
            c.symbol,
            tf_text[c.timeframe],
            c.timestamp,
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume,
            c.vwap,
            c.mark_price,
        )
        for c in candles
    )


def validated_candle(values: dict[str, Any]) -> Candle:
    """A Candle validated from field values (raises ValidationError)."""
    return Candle.model_validate(values)


def _construct_candle(values: dict[str, Any]) -> Candle:
    """Candle.model_construct for a full dict of field values, minus its generic per-field loop."""
    candle = _new(Candle)
    _set(candle, "__dict__", values)
    _set(candle, "__pydantic_fields_set__", set(_CANDLE_FIELDS))
    _set(candle, "__pydantic_extra__", None)
    _set(candle, "__pydantic_private__", None)
    return candle


def _model_construct(values: dict[str, Any]) -> Candle:
    return Candle.model_construct(**values)


def trusted_candle_maker() -> CandleMaker:
    """The fast constructor if it behaves exactly like a validated Candle here, else
    model_construct. Checked once per process."""
    global _trusted_maker
    if _trusted_maker is None:
        values: dict[str, Any] = {
            "symbol": "X",
            "timeframe": TimeFrame.M1,
            "timestamp": 60_000,
            "open": 2.0,
            "high": 3.0,
            "low": 1.0,
            "close": 2.5,
            "volume": 4.0,
            "vwap": 2.0,
            "mark_price": None,
        }
        reference = Candle(**values)
        fast = _construct_candle(dict(values))
        simple_model = not Candle.__pydantic_post_init__ and all(
            f.alias is None and f.validation_alias is None for f in Candle.model_fields.values()
        )
        if (
            simple_model
            and fast == reference
            and hash(fast) == hash(reference)
            and repr(fast) == repr(reference)
            and fast.model_dump() == reference.model_dump()
            and fast.model_fields_set == reference.model_fields_set
        ):
            _trusted_maker = _construct_candle
        else:  # pragma: no cover - depends on the pydantic version
            logger.debug("fast Candle construction unavailable; using model_construct")
            _trusted_maker = _model_construct
    return _trusted_maker


def to_candles(
    symbol: str, tf: TimeFrame, rows: Sequence[Sequence[Any]], validate: bool
) -> list[Candle]:
    """Candle models from (timestamp, o, h, l, c, v, vwap, mark) rows (ValidationError if bad)."""
    make = validated_candle if validate else trusted_candle_maker()
    return [
        make(
            {
                "symbol": symbol,
                "timeframe": tf,
                "timestamp": r[0],
                "open": r[1],
                "high": r[2],
                "low": r[3],
                "close": r[4],
                "volume": r[5],
                "vwap": r[6],
                "mark_price": r[7],
            }
        )
        for r in rows
    ]


def first_invalid(symbol: str, tf: TimeFrame, rows: Sequence[Sequence[Any]]) -> Sequence[Any]:
    """The first row that is not a valid candle (for an error message)."""
    for row in rows:
        try:
            Candle(symbol=symbol, timeframe=tf, **dict(zip(CANDLE_COLUMNS, row, strict=True)))
        except ValidationError:
            return row
    return rows[0]


def as_timeframe(timeframe: TimeFrame | str) -> TimeFrame:
    """TimeFrame from a TimeFrame or its text ("1m", ...)."""
    return timeframe if isinstance(timeframe, TimeFrame) else TimeFrame.from_string(timeframe)


def iso(dt: datetime) -> str:
    """ISO 8601 in UTC; naive datetimes are taken as UTC."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.isoformat()
