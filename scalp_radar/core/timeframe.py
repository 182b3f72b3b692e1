"""`TimeFrame`: candle lengths by their ccxt strings; apart from the models so that the config
(and `status`, `--help`) need not import the pydantic trading models to name a timeframe."""

from __future__ import annotations

from enum import StrEnum

_TF_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}


class TimeFrame(StrEnum):
    """Candle timeframe, valued by its ccxt string ("1m", "1h", ...)."""

    M1 = "1m"
    M3 = "3m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H2 = "2h"
    H4 = "4h"
    H6 = "6h"
    H12 = "12h"
    D1 = "1d"
    W1 = "1w"

    @classmethod
    def from_string(cls, value: str) -> TimeFrame:
        """Parse "1m", "1h", ... (or a member name like "M1"); the error lists the valid values."""
        text = str(value).strip()
        for tf in cls:
            if text == tf.value or text.upper() == tf.name:
                return tf
        valid = ", ".join(tf.value for tf in cls)
        raise ValueError(f"unknown timeframe {value!r}: expected one of {valid}")

    def to_milliseconds(self) -> int:
        """Length of one candle in milliseconds."""
        return _TF_MS[self.value]

    def align(self, ts_ms: int) -> int:
        """Start of the candle that contains ts_ms (weeks align on Monday, like Bitget)."""
        if self is TimeFrame.W1:
            # The Unix epoch was a Thursday; Monday-aligned weeks start 4 days later.
            offset = 4 * 86_400_000
            return ts_ms - ((ts_ms - offset) % self.to_milliseconds())
        return ts_ms - ts_ms % self.to_milliseconds()

    def __str__(self) -> str:
        return self.value
