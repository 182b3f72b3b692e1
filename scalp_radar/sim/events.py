"""Planted market events: something for the radar to find, deterministic by seed.

Every `ROUND_MS` of simulated time (UTC-aligned, in the past as in the future) a round plants,
each on its own generated contract: a hard trend (price path bent in the candles, so candles and
tickers agree), a volume burst (candle volume), a funding spike, a spread blow-out and an
open-interest surge (ticker fields). Each lasts the whole round, so at any moment exactly one of
each kind is under way. Events are a pure function of (seed, time): the market stays a
pure function of (seed, symbol, time), and runs sharing a demo database agree on every candle.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

from scalp_radar.sim.symbols import SymbolSpec, stable_int
from scalp_radar.sim.timeframes import DAY_MS, MINUTE_MS

ROUND_MS = 30 * 60_000
EVENT_KINDS = ("trend", "volume", "funding", "spread", "oi")
# After its window a trend's price offset and an OI surge fade with this time constant.
FADE_MS = 3 * 3_600_000
_FADE_ROUNDS = math.ceil(6 * FADE_MS / ROUND_MS) + 1
# Contracts by volume rank that may carry events: mid-liquidity ones (a universe is prefix-stable,
# so every universe of at least this many contracts plants the same events).
_ELIGIBLE_RANKS = (10, 300)
_MINUTES = 1440


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """One planted event: `size` is a log move (trend), a multiplier (volume), a rate (funding),
    a spread in basis points (spread) or a relative change (oi)."""

    kind: str
    symbol: str  # ccxt unified, "ABC/USDT:USDT"
    inst_id: str
    start_ms: int
    end_ms: int
    size: float

    def active(self, ts_ms: int) -> bool:
        """True while ts_ms is inside the event's window."""
        return self.start_ms <= ts_ms < self.end_ms


def _ramp(ev: MarketEvent, ts: int) -> float:
    """0 before the window, rising linearly to 1 at its end, then fading (trend and oi)."""
    if ts <= ev.start_ms:
        return 0.0
    if ts < ev.end_ms:
        return (ts - ev.start_ms) / (ev.end_ms - ev.start_ms)
    return math.exp(-(ts - ev.end_ms) / FADE_MS)


class EventPlan:
    """The events of one universe: rounds drawn lazily from (seed, round) over eligible contracts.

    `start_ms` (the simulator's start) only bounds what `rounds_until` lists.
    """

    def __init__(self, specs: list[SymbolSpec], seed: int, start_ms: int) -> None:
        self.seed = seed
        self.start_ms = start_ms
        lo, hi = _ELIGIBLE_RANKS
        self._eligible = [s for s in specs[lo:hi] if s.generated and s.status == "normal"]
        self._round = lru_cache(maxsize=512)(self._make_round)
        self._by_inst = lru_cache(maxsize=512)(self._round_by_inst)

    # -- the plan ------------------------------------------------------------------------------
    def _make_round(self, r: int) -> tuple[MarketEvent, ...]:
        if len(self._eligible) < len(EVENT_KINDS):
            return ()
        rng = random.Random(stable_int(self.seed, "events", r))
        t0 = r * ROUND_MS
        picks = rng.sample(self._eligible, len(EVENT_KINDS))
        sign = rng.choice((-1.0, 1.0))
        sizes = {
            # 7-8 % per 5 min: beyond the random market's largest 5-minute moves (~3-6 %).
            "trend": sign * rng.uniform(0.4, 0.5),
            "volume": rng.uniform(15.0, 25.0),
            "funding": -sign * rng.uniform(0.0025, 0.003),
            "spread": rng.uniform(150.0, 300.0),
            "oi": rng.uniform(0.35, 0.5),
        }
        return tuple(
            MarketEvent(
                kind,
                spec.symbol,
                spec.inst_id,
                t0,
                t0 + ROUND_MS,
                round(sizes[kind], 6),
            )
            for kind, spec in zip(EVENT_KINDS, picks, strict=True)
        )

    def _round_by_inst(self, r: int) -> dict[str, tuple[MarketEvent, ...]]:
        out: dict[str, tuple[MarketEvent, ...]] = {}
        for ev in self._round(r):
            out[ev.inst_id] = (*out.get(ev.inst_id, ()), ev)
        return out

    def rounds_until(self, now_ms: int) -> list[MarketEvent]:
        """Every event of the rounds from the one under way at start to the one under way now."""
        first = self.start_ms // ROUND_MS
        return [ev for r in range(first, now_ms // ROUND_MS + 1) for ev in self._round(r)]

    def _near(self, inst: str, start: int, end: int, fade: bool) -> list[MarketEvent]:
        """Events of inst whose effect may reach [start, end)."""
        reach = (_FADE_ROUNDS if fade else 0) * ROUND_MS + 60 * MINUTE_MS
        out: list[MarketEvent] = []
        for r in range((start - reach) // ROUND_MS, (end - 1) // ROUND_MS + 1):
            out.extend(self._by_inst(r).get(inst, ()))
        return out

    # -- effects on candles ---------------------------------------------------------------------
    def shape_key(self, inst: str, day0: int) -> tuple[MarketEvent, ...]:
        """The events that shape the candles of inst's day starting at day0 (a cache key)."""
        return tuple(
            ev
            for ev in self._near(inst, day0, day0 + DAY_MS, fade=True)
            if ev.kind in ("trend", "volume")
            and (ev.kind == "trend" or (ev.start_ms < day0 + DAY_MS and ev.end_ms > day0))
        )

    def price_shift(self, inst: str, day0: int) -> list[float] | None:
        """Log-price offsets at each minute boundary of the day (1441 values), or None."""
        trends = [ev for ev in self.shape_key(inst, day0) if ev.kind == "trend"]
        if not trends:
            return None
        return [
            sum(ev.size * _ramp(ev, day0 + i * MINUTE_MS) for ev in trends)
            for i in range(_MINUTES + 1)
        ]

    def volume_mult(self, inst: str, day0: int) -> list[float] | None:
        """Candle volume multipliers for each minute of the day, or None."""
        events = self.shape_key(inst, day0)
        if not events:
            return None
        mult = [1.0] * _MINUTES
        for ev in events:
            factor = ev.size if ev.kind == "volume" else 3.0  # a hard trend trades heavily too
            for i in range(_MINUTES):
                if ev.active(day0 + i * MINUTE_MS):
                    mult[i] *= factor
        return mult

    # -- effects on tickers ------------------------------------------------------------------------
    def ticker_effects(self, inst: str, now_ms: int) -> tuple[float | None, float | None, float]:
        """(funding rate override, spread override in bps, open-interest multiplier) at now_ms."""
        funding: float | None = None
        spread: float | None = None
        oi = 1.0
        for ev in self._near(inst, now_ms, now_ms + 1, fade=True):
            if ev.kind == "funding" and ev.active(now_ms):
                funding = ev.size
            elif ev.kind == "spread" and ev.active(now_ms):
                spread = ev.size
            elif ev.kind == "oi":
                oi *= 1.0 + ev.size * _ramp(ev, now_ms)
        return funding, spread, oi
