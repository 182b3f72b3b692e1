"""Which candle streams should exist now: the watchlist's, the hot symbols' and the pinned ones'."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from scalp_radar.core.models import TimeFrame

StreamKey = tuple[str, TimeFrame]


class StreamDemand:
    """The union of three reasons to stream a symbol's candles.

    Watchlist symbols stream their own timeframes; hot symbols (top movers) and pinned ones
    (a detail screen is open) stream `hot_timeframes`. A stream lives while any reason holds.
    """

    def __init__(
        self, watchlist: Mapping[str, Iterable[TimeFrame]], hot_timeframes: Iterable[TimeFrame]
    ) -> None:
        self.watchlist: dict[str, tuple[TimeFrame, ...]] = {
            s: tuple(tfs) for s, tfs in watchlist.items()
        }
        self.hot_timeframes = tuple(hot_timeframes)
        self.hot: set[str] = set()
        self.pinned: set[str] = set()

    def wanted(self) -> list[StreamKey]:
        """Every stream that should run, watchlist first (in its order), each once."""
        keys: dict[StreamKey, None] = {}
        for symbol, tfs in self.watchlist.items():
            for tf in tfs:
                keys[(symbol, tf)] = None
        for symbol in sorted(self.hot | self.pinned):
            for tf in self.hot_timeframes:
                keys[(symbol, tf)] = None
        return list(keys)

    def why(self, symbol: str) -> tuple[str, ...]:
        """The reasons `symbol` streams ("watchlist", "hot", "pinned"), for display."""
        reasons = []
        if symbol in self.watchlist:
            reasons.append("watchlist")
        if symbol in self.hot:
            reasons.append("hot")
        if symbol in self.pinned:
            reasons.append("pinned")
        return tuple(reasons)
