"""Per-symbol parameters of the simulated market: price level, precision, volatility, volume."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

# Listing day of the legacy simulated perpetuals (2020-01-01 UTC): no candle exists before it.
LISTING_MS = 1_577_836_800_000

# Known perpetuals: (price level, daily volatility, base volume per minute in coins).
_KNOWN: dict[str, tuple[float, float, float]] = {
    "BTC": (80_000.0, 0.028, 20.0),
    "ETH": (3_000.0, 0.038, 350.0),
    "SOL": (160.0, 0.055, 6_000.0),
    "BNB": (600.0, 0.035, 300.0),
    "XRP": (0.6, 0.05, 1_500_000.0),
    "DOGE": (0.15, 0.06, 8_000_000.0),
    "ADA": (0.45, 0.05, 1_500_000.0),
    "AVAX": (35.0, 0.055, 25_000.0),
    "LINK": (15.0, 0.05, 40_000.0),
    "LTC": (85.0, 0.04, 6_000.0),
}


def stable_int(*parts: object) -> int:
    """A 64-bit integer hash of parts that is the same in every process (unlike hash())."""
    text = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """Everything the market and the contracts endpoint need to know about one symbol."""

    symbol: str  # ccxt unified, "BTC/USDT:USDT"
    inst_id: str  # Bitget id, "BTCUSDT"
    base: str
    quote: str
    level: float
    daily_vol: float
    minute_volume: float
    price_places: int
    volume_places: int
    # Market-wide radar figures (the universe sets them; the legacy symbols keep these defaults).
    listing_ms: int = LISTING_MS  # first candle; launchTime of the contract
    spread_ticks: int = 2  # usual best bid/ask distance in ticks (>= 2: last sits inside)
    funding_rate: float = 0.0001  # usual funding per interval, a ratio
    funding_hours: int = 8
    oi_usdt: float = 0.0  # usual open interest in USDT; 0 = 0.8 x the 24 h base volume
    depth_usdt: float = 20_000.0  # usual size at the best bid/ask, in USDT
    status: str = "normal"  # Bitget symbolStatus: normal, maintain, limit_open, restrictedAPI, off
    generated: bool = False  # drawn by the universe, not a named coin: may carry planted events

    @property
    def tick(self) -> float:
        """Smallest price step."""
        return 10.0**-self.price_places

    @property
    def volume_step(self) -> float:
        """Smallest amount step."""
        return 10.0**-self.volume_places


def parse_symbol(text: str) -> tuple[str, str]:
    """Base and quote of "BTC/USDT:USDT", "BTC/USDT" or "BTCUSDT"; ValueError otherwise."""
    raw = text.strip().upper()
    if "/" in raw:
        base, rest = raw.split("/", 1)
        quote = rest.split(":", 1)[0]
    elif raw.endswith("USDT") and len(raw) > 4:
        base, quote = raw[:-4], "USDT"
    else:
        raise ValueError(f"symbol {text!r}: expected BASE/USDT:USDT or BASEUSDT")
    if not base.isalnum() or quote != "USDT":
        raise ValueError(f"symbol {text!r}: expected a USDT-margined perpetual like BTC/USDT:USDT")
    return base, quote


def make_spec(text: str) -> SymbolSpec:
    """The spec of a symbol; unknown bases get a level and volatility derived from a hash."""
    base, quote = parse_symbol(text)
    if base in _KNOWN:
        level, vol, minute_volume = _KNOWN[base]
    else:
        h = stable_int("level", base)
        # Levels spread over 0.01 .. 1000 USDT, volatility 4-8 %/day, ~$150k traded per minute.
        level = 10.0 ** (-2 + 5 * ((h & 0xFFFF) / 0xFFFF))
        vol = 0.04 + 0.04 * (((h >> 16) & 0xFF) / 0xFF)
        minute_volume = 150_000.0 / level
    price_places = max(0, 5 - math.floor(math.log10(level)))
    volume_places = max(0, min(4, 4 - math.floor(math.log10(max(minute_volume, 1e-9))) + 1))
    return SymbolSpec(
        symbol=f"{base}/{quote}:{quote}",
        inst_id=f"{base}{quote}",
        base=base,
        quote=quote,
        level=level,
        daily_vol=vol,
        minute_volume=minute_volume,
        price_places=price_places,
        volume_places=volume_places,
    )
