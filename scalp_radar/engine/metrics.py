"""Per-symbol ticker history in flat float rings, and the radar's derived metrics.

Each ticker costs O(1): it writes the newest values into its 5 s slot of three rings (last
price, 24 h quote volume, open interest; one hour deep) and recomputes the handful of derived
numbers from fixed offsets in them. Rows for the snapshot are rebuilt only for symbols that
changed since the previous snapshot.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from scalp_radar.core.snapshot import TickerRow
from scalp_radar.exchange.bitget import TickerUpdate

NAN = float("nan")
SLOT_MS = 5_000
HISTORY_SLOTS = 720  # one hour of 5 s slots
DAY_MS = 86_400_000
# Volume surge needs at least this much history to say anything (slots).
SURGE_MIN_SLOTS = 180


class HistoryPoint(NamedTuple):
    """What was true at `ts_ms` (a minute's end): from a stored stats row or a 1m candle's close.

    NaN where the source does not say (candles carry no open interest)."""

    ts_ms: int
    last: float
    quote_volume_24h: float
    open_interest: float


def _pct(now: float, then: float) -> float:
    if then != then or then <= 0 or now != now:
        return NAN
    return (now / then - 1.0) * 100.0


class SymbolSeries:
    """One symbol: the newest ticker values, three one-hour rings and the derived metrics."""

    __slots__ = (
        "symbol",
        "prices",
        "volumes",
        "ois",
        "first_slot",
        "slot",
        "last",
        "bid",
        "ask",
        "mark",
        "index",
        "change_24h_ratio",
        "quote_volume_24h",
        "funding_rate",
        "next_funding_ms",
        "open_interest",
        "updated_ms",
        "source",
        "shard_id",
        "change_1m",
        "change_5m",
        "change_15m",
        "change_1h",
        "volume_surge",
        "oi_change_15m",
    )

    def __init__(self, symbol: str) -> None:
        size = HISTORY_SLOTS + 1
        self.symbol = symbol
        self.prices = array("d", [NAN]) * size
        self.volumes = array("d", [NAN]) * size
        self.ois = array("d", [NAN]) * size
        self.first_slot = -1
        self.slot = -1
        self.last = self.bid = self.ask = self.mark = self.index = NAN
        self.change_24h_ratio = self.quote_volume_24h = self.funding_rate = NAN
        self.open_interest = NAN
        self.next_funding_ms: int | None = None
        self.updated_ms = 0
        self.source = "ws"
        self.shard_id: int | None = None
        self.change_1m = self.change_5m = self.change_15m = self.change_1h = NAN
        self.volume_surge = self.oi_change_15m = NAN

    # -- history -----------------------------------------------------------------------------
    def _at(self, ring: array[float], slot: int) -> float:
        """Value of `ring` at the end of `slot`, NaN if that is before the history starts."""
        if slot < self.first_slot or slot > self.slot or self.first_slot < 0:
            return NAN
        value: float = ring[slot % len(ring)]
        return value

    def _advance(self, slot: int) -> None:
        """Carry the previous values forward over slots that saw no ticker (bounded)."""
        size = len(self.prices)
        if self.first_slot < 0:
            self.first_slot = self.slot = slot
            return
        gap = slot - self.slot
        if gap > size:
            # Silent for more than the whole ring: history restarts at the carried values.
            self.first_slot = slot - size + 1
            gap = size
        p, v, o = self.prices, self.volumes, self.ois
        prev = self.slot % size
        pv, vv, ov = p[prev], v[prev], o[prev]
        for s in range(slot - gap + 1, slot):
            i = s % size
            p[i], v[i], o[i] = pv, vv, ov
        self.slot = slot
        if slot - self.first_slot >= size:
            self.first_slot = slot - size + 1

    def seed(self, points: Sequence[HistoryPoint], spacing_ms: int = 60_000) -> bool:
        """Fill the history before the first ticker from older points (oldest first).

        Slot k holds the newest point at or before its end, and only while that point is less
        than `spacing_ms` old: a missing point leaves NaN, so no change is ever computed over a
        shorter window than its label. Slots that live tickers wrote are never touched.
        Returns False when there is no live ticker yet (nothing to anchor to).
        """
        if self.first_slot < 0 or not points:
            return False
        size = len(self.prices)
        lo = max(self.slot - size + 1, -(-points[0].ts_ms // SLOT_MS) - 1)
        if lo >= self.first_slot:
            return False
        p, v, o = self.prices, self.volumes, self.ois
        j = -1  # index of the newest point at or before the current slot's end
        for k in range(lo, self.first_slot):
            end = (k + 1) * SLOT_MS
            while j + 1 < len(points) and points[j + 1].ts_ms <= end:
                j += 1
            i = k % size
            if j >= 0 and end - points[j].ts_ms < spacing_ms:
                point = points[j]
                p[i], v[i], o[i] = point.last, point.quote_volume_24h, point.open_interest
            else:
                p[i] = v[i] = o[i] = NAN
        self.first_slot = lo
        self._derive(self.slot)
        return True

    # -- one ticker --------------------------------------------------------------------------
    def apply(self, u: TickerUpdate, source: str, shard_id: int | None) -> bool:
        """Take one ticker; False (ignored) when it is older than what we have."""
        if u.ts < self.updated_ms:
            return False
        self.updated_ms = u.ts
        self.source = source
        self.shard_id = shard_id
        self.last = u.last
        # Only overwrite with known values: a REST row lacks nextFundingTime, for instance.
        if u.bid == u.bid:
            self.bid = u.bid
        if u.ask == u.ask:
            self.ask = u.ask
        if u.mark == u.mark:
            self.mark = u.mark
        if u.index_price == u.index_price:
            self.index = u.index_price
        if u.change_24h == u.change_24h:
            self.change_24h_ratio = u.change_24h
        if u.quote_volume_24h == u.quote_volume_24h:
            self.quote_volume_24h = u.quote_volume_24h
        if u.funding_rate == u.funding_rate:
            self.funding_rate = u.funding_rate
        if u.next_funding_ms is not None:
            self.next_funding_ms = u.next_funding_ms
        if u.open_interest == u.open_interest:
            self.open_interest = u.open_interest
        slot = u.ts // SLOT_MS
        if slot > self.slot:
            self._advance(slot)
        i = slot % len(self.prices)
        self.prices[i] = self.last
        self.volumes[i] = self.quote_volume_24h
        self.ois[i] = self.open_interest
        self._derive(slot)
        return True

    def _derive(self, slot: int) -> None:
        last, prices = self.last, self.prices
        self.change_1m = _pct(last, self._at(prices, slot - 12))
        self.change_5m = _pct(last, self._at(prices, slot - 60))
        self.change_15m = _pct(last, self._at(prices, slot - 180))
        self.change_1h = _pct(last, self._at(prices, slot - 720))
        self.oi_change_15m = _pct(self.open_interest, self._at(self.ois, slot - 180))
        self.volume_surge = self._surge(slot)

    def _window_volume(self, slot: int, back: int) -> float:
        """Quote volume traded in the last `back` slots, from the rolling 24 h total.

        The 24 h figure gains what trades and loses what rolls off a day ago; the part that
        rolled off is taken at the day's average pace (the exchange does not say).
        """
        now = self.quote_volume_24h
        then = self._at(self.volumes, slot - back)
        if now != now or then != then:
            return NAN
        return max(0.0, now - then + then * back * SLOT_MS / DAY_MS)

    def _surge(self, slot: int) -> float:
        span = min(HISTORY_SLOTS, slot - self.first_slot)
        if span < SURGE_MIN_SLOTS:
            return NAN
        recent = self._window_volume(slot, 60)
        hour = self._window_volume(slot, span)
        if recent != recent or hour != hour or hour <= 0:
            return NAN
        return recent / (hour * 60 / span)

    # -- views -------------------------------------------------------------------------------
    def row(self) -> TickerRow:
        """The frozen radar row."""
        bid, ask, last, mark = self.bid, self.ask, self.last, self.mark
        mid = (bid + ask) / 2
        spread = (ask - bid) / mid * 10_000 if mid > 0 else NAN
        basis = (mark - last) / last * 10_000 if last > 0 else NAN
        return TickerRow(
            symbol=self.symbol,
            last=last,
            bid=bid,
            ask=ask,
            mark=mark,
            index=self.index,
            change_1m=self.change_1m,
            change_5m=self.change_5m,
            change_15m=self.change_15m,
            change_1h=self.change_1h,
            change_24h=self.change_24h_ratio * 100.0,
            quote_volume_24h=self.quote_volume_24h,
            volume_surge=self.volume_surge,
            spread_bps=spread,
            funding_rate=self.funding_rate,
            next_funding_ms=self.next_funding_ms,
            open_interest=self.open_interest,
            oi_change_15m=self.oi_change_15m,
            basis_bps=basis,
            updated_ms=self.updated_ms,
            source=self.source,
            shard_id=self.shard_id,
        )

    def sparkline(self, minutes: int = 60, points: int = 60) -> list[float]:
        """Up to `points` last prices evenly spaced over the last `minutes` (oldest first)."""
        if self.first_slot < 0:
            return []
        span = min(minutes * 12, self.slot - self.first_slot, HISTORY_SLOTS)
        step = max(1, span // max(1, points - 1)) if span else 1
        out = [self._at(self.prices, s) for s in range(self.slot - span, self.slot + 1, step)]
        return [v for v in out if v == v][-points:]


class MetricsBook:
    """Every tracked symbol's series; hands out rows rebuilt only where something changed."""

    def __init__(self) -> None:
        self.series: dict[str, SymbolSeries] = {}
        self._rows: dict[str, TickerRow] = {}
        self._dirty: set[str] = set()
        self.updates = 0

    def update(
        self, symbol: str, u: TickerUpdate, source: str = "ws", shard_id: int | None = None
    ) -> None:
        """Apply one ticker of `symbol` (O(1))."""
        series = self.series.get(symbol)
        if series is None:
            series = self.series[symbol] = SymbolSeries(symbol)
        if series.apply(u, source, shard_id):
            self._dirty.add(symbol)
            self.updates += 1

    def seed(self, symbol: str, points: Sequence[HistoryPoint]) -> bool:
        """Fill `symbol`'s history before its first ticker (see `SymbolSeries.seed`)."""
        series = self.series.get(symbol)
        if series is None or not series.seed(points):
            return False
        self._dirty.add(symbol)
        return True

    def drop(self, symbols: Iterable[str]) -> None:
        """Forget symbols that left the universe."""
        for symbol in symbols:
            self.series.pop(symbol, None)
            self._rows.pop(symbol, None)
            self._dirty.discard(symbol)

    def rows(self, order: Sequence[str]) -> tuple[TickerRow, ...]:
        """Rows of the symbols in `order` that have a ticker; only changed ones are rebuilt."""
        for symbol in self._dirty:
            series = self.series.get(symbol)
            if series is not None:
                self._rows[symbol] = series.row()
        self._dirty.clear()
        rows = self._rows
        try:
            return tuple(map(rows.__getitem__, order))  # in C: every symbol has had a ticker
        except KeyError:
            return tuple(rows[s] for s in order if s in rows)

    def sparkline(self, symbol: str, minutes: int = 60, points: int = 60) -> list[float]:
        """On demand, for visible rows only."""
        series = self.series.get(symbol)
        return series.sparkline(minutes, points) if series is not None else []
