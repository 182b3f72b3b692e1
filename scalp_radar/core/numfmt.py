"""Numbers as text, one way everywhere: thousands separators, plurals, prices at market precision."""

from __future__ import annotations

import math
from decimal import Decimal


def count(n: int, unit: str, plural: str | None = None) -> str:
    """'1 request', '12,515 candles' (one separator style for every count a user reads)."""
    word = unit if n == 1 else (plural or f"{unit}s")
    return f"{n:,} {word}"


def tick_decimals(tick_size: float) -> int:
    """Decimals a price needs on a market with this tick: 0.1 -> 1, 0.001 -> 3, 5 -> 0."""
    exponent = Decimal(str(tick_size)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def price(value: float | None, tick_size: float | None = None) -> str:
    """A price at the market's precision (from its tick size); by magnitude when it is unknown."""
    if value is None or not math.isfinite(value):
        return "—"
    if tick_size is not None and tick_size > 0:
        return f"{value:,.{tick_decimals(tick_size)}f}"
    if value >= 1000:
        return f"{value:,.1f}"
    if value >= 10:
        return f"{value:,.2f}"
    if value >= 1:
        return f"{value:,.4f}"
    return f"{value:.6g}"
