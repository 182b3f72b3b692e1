"""A deterministic universe of USDT-M perpetuals shaped like Bitget's (~500 contracts).

Drawn from the seed only: 24 h quote volume is heavy-tailed by rank (a few billions, a long tail
of a few hundred thousand), price levels span 1e-5..1e5, spreads in ticks follow liquidity,
funding sits near 0.01 %/8 h with a few outliers, and a few contracts are not `normal`.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Iterable
from dataclasses import replace

from scalp_radar.sim.symbols import _KNOWN, SymbolSpec, make_spec, parse_symbol, stable_int
from scalp_radar.sim.timeframes import DAY_MS

# The most traded perpetuals first, in this order (they keep their legacy specs).
_TOP = ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "ADA", "LINK", "AVAX", "LTC")
TOP_QUOTE_VOLUME = 3e9  # USDT per day of the rank-1 contract
VOLUME_EXPONENT = 1.4  # Zipf-like decay of 24 h quote volume with rank
# Generated contracts were listed between these days (fixed dates: the market stays a pure
# function of seed, symbol and time).
_LISTED_FROM_MS = 1_672_531_200_000  # 2023-01-01
_LISTED_TO_MS = 1_780_272_000_000  # 2026-06-01
_NOT_NORMAL = ("maintain", "off", "limit_open", "restrictedAPI", "maintain", "off")
# Candle volume averages ~1.2x minute_volume (clustered volatility and spikes, see market).
_VOLUME_BIAS = 1.2


def _name(rng: random.Random, taken: set[str]) -> str:
    """A fresh 3-6 letter base coin name."""
    while True:
        size = rng.choice((3, 3, 4, 4, 4, 5, 6))
        name = "".join(rng.choice(string.ascii_uppercase) for _ in range(size))
        if name not in taken and name not in _KNOWN:
            taken.add(name)
            return name


def _level(rng: random.Random) -> float:
    """A price level: log-normal around 0.1 USDT, within 1e-5..1e5."""
    return 10.0 ** min(4.7, max(-4.9, rng.gauss(-1.0, 1.7)))


# Fixed ranks of the extreme price levels (the universe is prefix-stable: contract i never
# depends on how many follow it).
_CHEAPEST_RANK = 480  # quotes at ~1e-5 (meme coins)
_DEAREST_RANK = 160  # quotes at ~1e5
_RANKS = 500  # the volatility ramp's scale


def _generated(base: str, rank: int, rng: random.Random) -> SymbolSpec:
    quote_volume = TOP_QUOTE_VOLUME * (rank + 1) ** -VOLUME_EXPONENT * rng.lognormvariate(0, 0.35)
    level = _level(rng)
    if rank == _CHEAPEST_RANK:
        level = 1.2e-5
    elif rank == _DEAREST_RANK:
        level = 9.5e4
    sig = 4 if quote_volume > 5e7 else 3  # 5 significant digits when liquid, else 4
    price_places = max(0, sig - math.floor(math.log10(level)))
    minute_volume = quote_volume / 1440 / level / _VOLUME_BIAS
    volume_places = max(0, min(4, 4 - math.floor(math.log10(max(minute_volume, 1e-9))) + 1))
    span_days = (_LISTED_TO_MS - _LISTED_FROM_MS) // DAY_MS
    listing = _LISTED_FROM_MS + int(rng.random() * span_days) * DAY_MS
    return SymbolSpec(
        symbol=f"{base}/USDT:USDT",
        inst_id=f"{base}USDT",
        base=base,
        quote="USDT",
        level=level,
        daily_vol=0.03 + 0.06 * math.sqrt(min(1.0, rank / _RANKS)) * rng.uniform(0.6, 1.4),
        minute_volume=minute_volume,
        price_places=price_places,
        volume_places=volume_places,
        listing_ms=listing,
        generated=True,
    )


def _radar_figures(spec: SymbolSpec, rng: random.Random) -> SymbolSpec:
    """Spread, funding, open interest and book depth that fit the contract's liquidity."""
    quote_volume = spec.minute_volume * spec.level * 1440 * _VOLUME_BIAS
    # ~0.02 bps at the top (the 2-tick minimum there), ~2 bps at 5 M/day, ~9 bps in the tail.
    spread_bps = 0.02 * (quote_volume / TOP_QUOTE_VOLUME) ** -0.7 * rng.lognormvariate(0, 0.4)
    spread_ticks = max(2, round(spread_bps * 1e-4 * spec.level / spec.tick))
    u = rng.random()
    if u < 0.55:
        funding = 0.0001  # the usual rate when longs and shorts balance
    elif u < 0.94:
        funding = round(rng.gauss(0.00005, 0.00008), 6)
    else:
        funding = round(rng.choice((-1, 1)) * rng.uniform(0.0004, 0.0015), 6)
    hours = rng.choices((8, 4, 1), weights=(85, 12, 3))[0]
    return replace(
        spec,
        spread_ticks=spread_ticks,
        funding_rate=funding,
        funding_hours=hours,
        oi_usdt=quote_volume * rng.lognormvariate(math.log(0.35), 0.5),
        depth_usdt=max(500.0, quote_volume * 2e-5 * rng.lognormvariate(0, 0.5)),
    )


def build_universe(count: int, seed: int = 42, include: Iterable[str] = ()) -> list[SymbolSpec]:
    """`count` contracts, the most traded first; `include` symbols are always among them.

    A pure function of (seed, rank) per contract: the first N of a larger universe are the same
    contracts, and `include` only replaces the least traded generated ones, so one seed's market
    is one market whatever the watchlist (the demo database is shared by such runs).
    """
    if count < 1:
        raise ValueError(f"contracts: expected at least 1, got {count}")
    taken: set[str] = set(_TOP)
    specs: list[SymbolSpec] = []
    for rank in range(count):
        rng = random.Random(stable_int(seed, "contract", rank))
        if rank < len(_TOP):
            spec = make_spec(f"{_TOP[rank]}/USDT:USDT")
        else:
            spec = _generated(_name(rng, taken), rank, rng)
            if rank >= 100 and rng.random() < 1 / 70:
                spec = replace(spec, status=rng.choice(_NOT_NORMAL))
        specs.append(_radar_figures(spec, rng))
    have = {s.base for s in specs}
    wanted = [b for b in dict.fromkeys(parse_symbol(s)[0] for s in include) if b not in have]
    slots = [i for i in range(len(specs) - 1, -1, -1) if specs[i].generated][: len(wanted)]
    for base in wanted:
        rng = random.Random(stable_int(seed, "named", base))
        spec = _radar_figures(make_spec(f"{base}/USDT:USDT"), rng)  # its legacy market
        if slots:
            specs[slots.pop(0)] = spec
        else:  # more named symbols than generated slots: the universe grows
            specs.append(spec)
    return specs
