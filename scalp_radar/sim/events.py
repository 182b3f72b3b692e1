"""Planted market events: something for the radar to find, deterministic by seed.

Every `ROUND_MS` of simulated time from the simulator's start a round plants, each on its own
contract: a hard trend (price path bent in the candles, so candles and tickers agree), a volume
burst (candle volume), a funding spike, a spread blow-out and an open-interest surge (ticker
fields). Round 0 is already under way at start, so a fresh client finds all five at once.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

from scalp_radar.sim.symbols import SymbolSpec, stable_int
from scalp_radar.sim.timeframes import DAY_MS, MINUTE_MS

ROUND_MS = 2 * 3_600_000
EVENT_KINDS = ("trend", "volume", "funding", "spread", "oi")
# After its window a trend's price offset and an OI surge fade with this time constant.
FADE_MS = 3 * 3_600_000
_FADE_ROUNDS = math.ceil(6 * FADE_MS / ROUND_MS) + 1
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
    """The events of one simulator: rounds drawn lazily from (seed, round) over eligible contracts."""

    def __init__(
        self,
        specs: list[SymbolSpec],
        seed: int,
        start_ms: int,
        protected: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        self.seed = seed
        self.start_ms = start_ms
        self.specs = {s.inst_id: s for s in specs}
        # Mid-liquidity, tradeable contracts that nobody watches by name: events stay findable.
        ranked = [s for s in specs if s.status == "normal" and s.inst_id not in protected]
        self._eligible = ranked[
            len(ranked) // 50 : max(len(ranked) // 50 + 5, len(ranked) * 3 // 5)
        ]
        self._round = lru_cache(maxsize=256)(self._make_round)

    # -- the plan ------------------------------------------------------------------------------
    def _make_round(self, r: int) -> tuple[MarketEvent, ...]:
        if len(self._eligible) < len(EVENT_KINDS):
            return ()
        rng = random.Random(stable_int(self.seed, "events", r))
        t0 = self.start_ms + r * ROUND_MS
        picks = rng.sample(self._eligible, len(EVENT_KINDS))
        sign = rng.choice((-1.0, 1.0))
        windows = {  # (start, end) in minutes from the round's start
            "trend": (-5, 20),
            "volume": (-5, 25),
            "funding": (-60, 8 * 60),
            "spread": (0, 30),
            "oi": (-10, 15),
        }
        sizes = {
            # 6-8 % per 5 min: far beyond the random market's largest 5-minute moves (~3-4 %).
            "trend": sign * rng.uniform(0.3, 0.4),
            "volume": rng.uniform(15.0, 25.0),
            "funding": -sign * rng.uniform(0.0025, 0.003),
            "spread": rng.uniform(150.0, 300.0),
            "oi": rng.uniform(0.35, 0.5),
        }
        out = []
        for kind, spec in zip(EVENT_KINDS, picks, strict=True):
            a, b = windows[kind]
            out.append(
                MarketEvent(
                    kind,
                    spec.symbol,
                    spec.inst_id,
                    t0 + a * MINUTE_MS,
                    t0 + b * MINUTE_MS,
                    round(sizes[kind], 6),
                )
            )
        return tuple(out)

    def rounds_until(self, now_ms: int) -> list[MarketEvent]:
        """Every event of the rounds begun by now_ms (round 0 is under way at start)."""
        last = max(0, (now_ms - self.start_ms) // ROUND_MS + 1)
        return [ev for r in range(last) for ev in self._round(r)]

    def _near(self, inst: str, start: int, end: int, fade: bool) -> list[MarketEvent]:
        """Events of inst whose effect may reach [start, end)."""
        lead = 8 * 3_600_000  # the earliest window opens this long before its round
        first = max(0, (start - self.start_ms - (_FADE_ROUNDS * ROUND_MS if fade else 0) - lead))
        r0 = first // ROUND_MS
        r1 = (end - self.start_ms + 60 * MINUTE_MS) // ROUND_MS
        if r1 < 0:
            return []
        out: list[MarketEvent] = []
        for r in range(max(0, r0), r1 + 1):
            out.extend(ev for ev in self._round(r) if ev.inst_id == inst)
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
