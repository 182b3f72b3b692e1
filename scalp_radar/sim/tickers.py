"""Ticker figures of the simulated market, in Bitget v2's USDT-FUTURES shapes (REST and websocket).

`last` is the forming 1m candle's close, so tickers and candles share one price path; 24 h
open/high/low/volume aggregate the same candles. Bid/ask, sizes, mark/index basis and open
interest vary per simulated second from a hash; planted events (sim/events.py) override funding,
spread and open interest. Every number is a string, as Bitget sends it.
"""

from __future__ import annotations

import math

from scalp_radar.sim.events import EventPlan
from scalp_radar.sim.format import dumps, num
from scalp_radar.sim.market import Market, _aggregate
from scalp_radar.sim.symbols import SymbolSpec, stable_int
from scalp_radar.sim.timeframes import DAY_MS, align

_HOUR_MS = 3_600_000
_OI_PERIOD_MS = 6 * _HOUR_MS
_U64 = float(1 << 64)


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) from a stable hash."""
    return stable_int(*parts) / _U64


class TickerBook:
    """Computes tickers on demand, caching what only changes per simulated second or 15 minutes."""

    def __init__(self, market: Market, events: EventPlan | None = None) -> None:
        self.market = market
        self.events = events
        self._closed24: dict[str, tuple[int, tuple]] = {}  # inst -> (15m bucket, aggregate row)
        self._second: dict[str, tuple[int, tuple]] = {}  # inst -> (sim second, figures)

    # -- shared figures ---------------------------------------------------------------------------
    def _day_stats(self, inst: str, now: int) -> tuple[float, float, float, float]:
        """(open, high, low, base volume) of the 24 h before now: 15m truth plus the forming one."""
        bucket = align("15m", now)
        cached = self._closed24.get(inst)
        if cached is None or cached[0] != bucket:
            start = align("15m", now - DAY_MS)
            rows = self.market.candles(inst, "15m", start, bucket, now)
            cached = (bucket, _aggregate(rows, start) or ())
            self._closed24[inst] = cached
        forming = self.market.forming(inst, "15m", now)
        closed = cached[1]
        if not closed:
            return forming[1], forming[2], forming[3], forming[5]
        agg = _aggregate([closed, forming], closed[0])
        assert agg is not None
        return agg[1], agg[2], agg[3], agg[5]

    def _figures(self, inst: str, now: int) -> tuple:
        second = now // 1000
        cached = self._second.get(inst)
        if cached is not None and cached[0] == second:
            return cached[1]
        m = self.market
        spec = m.spec(inst)
        last = m.forming(inst, "1m", now)[4]
        open24, high24, low24, vol24 = self._day_stats(inst, now)
        open_utc = m.day_open(inst, now)
        figures = (spec, last, open24, high24, low24, vol24, open_utc)
        self._second[inst] = (second, figures)
        return figures

    def _book(self, spec: SymbolSpec, last: float, now: int) -> dict[str, str]:
        """Every field both shapes share, for the price `last` at now."""
        inst = spec.inst_id
        second = now // 1000
        funding, spread_bps, oi_mult = (
            self.events.ticker_effects(inst, now) if self.events else (None, None, 1.0)
        )
        tick = spec.tick
        places = spec.price_places
        ticks = spec.spread_ticks + (int(_unit(inst, "spread", second) * 3) - 1) * (
            spec.spread_ticks >= 4
        )
        if spread_bps is not None:
            ticks = max(ticks, round(spread_bps * 1e-4 * last / tick))
        bid = max(tick, round(last - (ticks // 2) * tick, places))
        ask = round(bid + ticks * tick, places)
        vstep = spec.volume_step
        vplaces = spec.volume_places

        tenth = now // 100  # the book churns faster than the last price moves

        def size(side: str) -> str:
            u = 0.2 + 1.6 * _unit(inst, side, tenth)
            return num(max(vstep, round(spec.depth_usdt * u / last, vplaces)))

        # Index and mark drift a little around last (basis in bps, wider when spreads are wide).
        spread_rel = ticks * tick / last
        basis = (_unit(inst, "basis", second // 5) - 0.5) * max(2e-4, spread_rel)
        index = round(last * (1.0 + basis), places + 2)
        mark = round(last * (1.0 + basis / 2), places)
        if funding is None:
            funding = spec.funding_rate
            if funding != 0.0001:
                hour = now // _HOUR_MS
                funding = round(funding + (_unit(inst, "funding", hour) - 0.5) * 2e-5, 6)
        phase = _unit(inst, "oi") * 2 * math.pi
        wave = 1.0 + 0.03 * math.sin(2 * math.pi * now / _OI_PERIOD_MS + phase)
        # Open interest is held in coins: it does not move with the price, only with positions.
        oi_usdt = spec.oi_usdt or spec.minute_volume * spec.level * 1440 * 0.8
        holding = max(vstep, round(oi_usdt / spec.level * wave * oi_mult, vplaces))
        return {
            "lastPr": num(last),
            "askPr": num(ask),
            "bidPr": num(bid),
            "bidSz": size("bid"),
            "askSz": size("ask"),
            "indexPrice": num(index),
            "markPrice": num(mark),
            "fundingRate": num(round(funding, 6)),
            "holdingAmount": num(holding),
        }

    # -- the two shapes ---------------------------------------------------------------------------
    def rest(self, inst: str, now: int) -> dict[str, object]:
        """One entry of GET /api/v2/mix/market/ticker(s), fields in Bitget's order."""
        spec, last, open24, high24, low24, vol24, open_utc = self._figures(inst, now)
        book = self._book(spec, last, now)
        quote_volume = num(round(vol24 * last, 4))
        return {
            "symbol": inst,
            "lastPr": book["lastPr"],
            "askPr": book["askPr"],
            "bidPr": book["bidPr"],
            "bidSz": book["bidSz"],
            "askSz": book["askSz"],
            "high24h": num(high24),
            "low24h": num(low24),
            "ts": str(now),
            "change24h": num(round((last - open24) / open24, 5) if open24 else 0.0),
            "baseVolume": num(round(vol24, spec.volume_places)),
            "quoteVolume": quote_volume,
            "usdtVolume": quote_volume,
            "openUtc": num(open_utc),
            "changeUtc24h": num(round((last - open_utc) / open_utc, 5) if open_utc else 0.0),
            "indexPrice": book["indexPrice"],
            "fundingRate": book["fundingRate"],
            "holdingAmount": book["holdingAmount"],
            "deliveryStartTime": None,
            "deliveryTime": None,
            "deliveryStatus": "",
            "open24h": num(open24),
            "markPrice": book["markPrice"],
        }

    def ws(self, inst: str, now: int) -> dict[str, object]:
        """The data entry of a websocket `ticker` push (USDT-FUTURES), fields in Bitget's order."""
        spec, last, open24, high24, low24, vol24, open_utc = self._figures(inst, now)
        book = self._book(spec, last, now)
        return {
            "instId": inst,
            "lastPr": book["lastPr"],
            "bidPr": book["bidPr"],
            "askPr": book["askPr"],
            "bidSz": book["bidSz"],
            "askSz": book["askSz"],
            "open24h": num(open24),
            "high24h": num(high24),
            "low24h": num(low24),
            "change24h": num(round((last - open24) / open24, 5) if open24 else 0.0),
            "fundingRate": book["fundingRate"],
            "nextFundingTime": str(self.next_funding_ms(spec, now)),
            "markPrice": book["markPrice"],
            "indexPrice": book["indexPrice"],
            "holdingAmount": book["holdingAmount"],
            "baseVolume": num(round(vol24, spec.volume_places)),
            "quoteVolume": num(round(vol24 * last, 4)),
            "openUtc": num(open_utc),
            "symbolType": "1",
            "symbol": inst,
            "deliveryPrice": "0",
            "ts": str(now),
        }

    def ws_data_json(self, inst: str, now: int) -> str:
        """The `data` array of a ticker push as JSON text."""
        return dumps([self.ws(inst, now)])

    @staticmethod
    def next_funding_ms(spec: SymbolSpec, now: int) -> int:
        """The next funding settlement (every funding_hours hours, UTC-aligned)."""
        period = spec.funding_hours * _HOUR_MS
        return (now // period + 1) * period

    def funding(self, inst: str, now: int) -> dict[str, str]:
        """One entry of GET /api/v2/mix/market/current-fund-rate."""
        spec, last, *_ = self._figures(inst, now)
        return {
            "symbol": inst,
            "fundingRate": self._book(spec, last, now)["fundingRate"],
            "fundingRateInterval": str(spec.funding_hours),
            "nextUpdate": str(self.next_funding_ms(spec, now)),
            "minFundingRate": "-0.003",
            "maxFundingRate": "0.003",
        }

    def open_interest(self, inst: str, now: int) -> str:
        """Open interest in base coin (holdingAmount) at now."""
        spec, last, *_ = self._figures(inst, now)
        return self._book(spec, last, now)["holdingAmount"]
