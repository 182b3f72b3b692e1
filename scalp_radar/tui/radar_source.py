"""What the market radar asks of an engine beyond snapshots: sparklines on demand, the user's
watchlist and pinning a symbol to full candle streams while its detail screen is open.

A separate protocol (not SnapshotSource) so sources that cannot do it (test stand-ins) still
work: the radar then shows no sparkline and keeps the watchlist in the UI only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.tui.source import EngineSource, StaticSource

if TYPE_CHECKING:
    from scalp_radar.engine.runner import EngineRunner


@runtime_checkable
class RadarSource(Protocol):
    """The radar's seams into the engine; every method is cheap and safe on the UI thread."""

    def sparkline(self, symbol: str, points: int) -> Sequence[float]:
        """Up to `points` recent prices of `symbol` over the last hour, oldest first."""

    def set_watchlist(self, symbols: tuple[str, ...]) -> str:
        """The user's watchlist changed; returns what the engine did about it (for the screen)."""

    def pin(self, symbol: str) -> bool:
        """Keep `symbol` streaming candles while it is looked at; True if the engine can."""

    def unpin(self, symbol: str) -> None:
        """Release a `pin`."""


class EngineRadar:
    """RadarSource over a running EngineRunner."""

    def __init__(self, runner: EngineRunner) -> None:
        self.runner = runner

    def sparkline(self, symbol: str, points: int) -> Sequence[float]:
        engine = self.runner.engine
        universe = engine.universe if engine is not None else None
        if universe is None:
            return ()
        # Read from the UI thread without a lock: the series are arrays the engine loop only
        # appends to; a read racing one update at worst shows the previous point.
        return universe.sparkline(symbol, 60, points)

    def set_watchlist(self, symbols: tuple[str, ...]) -> str:
        engine = self.runner.engine
        universe = engine.universe if engine is not None else None
        if engine is not None:
            # Candle streams follow the watchlist without a restart (returns at once).
            self.runner.set_user_watchlist(symbols)
        if universe is None:
            return "kept in your watchlist (no universe running)"
        return universe.set_user_watchlist(symbols)

    def pin(self, symbol: str) -> bool:
        if self.runner.engine is None:
            return False
        self.runner.pin(symbol)  # 1m/5m candle streams while the detail screen is open
        return True

    def unpin(self, symbol: str) -> None:
        if self.runner.engine is not None:
            self.runner.unpin(symbol)


class StaticRadar:
    """RadarSource for fixed snapshots: seeded sparklines, watchlist and pins recorded."""

    def __init__(self, sparks: dict[str, tuple[float, ...]] | None = None) -> None:
        self.sparks = sparks or {}
        self.watchlists: list[tuple[str, ...]] = []
        self.pins: list[str] = []
        self.spark_calls = 0

    def sparkline(self, symbol: str, points: int) -> Sequence[float]:
        self.spark_calls += 1
        return self.sparks.get(symbol, ())[-points:]

    def set_watchlist(self, symbols: tuple[str, ...]) -> str:
        self.watchlists.append(symbols)
        return "watchlist preset updated"

    def pin(self, symbol: str) -> bool:
        self.pins.append(symbol)
        return False

    def unpin(self, symbol: str) -> None:
        if symbol in self.pins:
            self.pins.remove(symbol)


class StaticRadarSource(StaticSource):
    """A StaticSource that also serves the radar's seams (fixtures, tests, benchmarks)."""

    def __init__(
        self,
        snapshot: EngineSnapshot | None,
        sparks: dict[str, tuple[float, ...]] | None = None,
    ) -> None:
        super().__init__(snapshot)
        self.radar = StaticRadar(sparks)

    def sparkline(self, symbol: str, points: int) -> Sequence[float]:
        return self.radar.sparkline(symbol, points)

    def set_watchlist(self, symbols: tuple[str, ...]) -> str:
        return self.radar.set_watchlist(symbols)

    def pin(self, symbol: str) -> bool:
        return self.radar.pin(symbol)

    def unpin(self, symbol: str) -> None:
        self.radar.unpin(symbol)


def radar_seam(source: object) -> RadarSource | None:
    """The radar seams of a dashboard source, or None when it has none."""
    if isinstance(source, RadarSource):
        return source
    if isinstance(source, EngineSource):
        return EngineRadar(source.runner)
    return None
