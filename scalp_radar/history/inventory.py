"""What history is stored: per (symbol, timeframe) first/last candle, count, holes, coverage.

Holes are counted between the first and the last stored candle: before the first one there may
simply be nothing on the exchange (before listing), which is not a hole in the data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scalp_radar.core.models import TimeFrame
from scalp_radar.history.holes import count_candles, find_holes
from scalp_radar.history.plan import coalesce, plan_ranges
from scalp_radar.history.types import Window

if TYPE_CHECKING:
    from scalp_radar.core.store import Database


@dataclass(frozen=True, slots=True)
class InventoryRow:
    """Stored history of one (symbol, timeframe)."""

    symbol: str
    timeframe: str
    first_ts: int
    last_ts: int
    count: int
    holes: tuple[tuple[int, int], ...]
    missing: int  # candles absent between first and last

    @property
    def expected(self) -> int:
        """Candles between first and last stored, both included."""
        return self.count + self.missing

    @property
    def coverage_pct(self) -> float:
        """Stored share of [first, last], in percent."""
        return 100.0 * self.count / self.expected if self.expected else 100.0


async def inventory(
    db: Database,
    symbols: Iterable[str] | None = None,
    timeframes: Iterable[str] | None = None,
) -> list[InventoryRow]:
    """One row per stored (symbol, timeframe), optionally filtered, with its holes."""
    wanted_symbols = set(symbols) if symbols else None
    wanted_tfs = {TimeFrame.from_string(t).value for t in timeframes} if timeframes else None
    rows: list[InventoryRow] = []
    for cov in await db.get_coverage():
        tf_text = str(
            cov.timeframe.value if isinstance(cov.timeframe, TimeFrame) else cov.timeframe
        )
        if wanted_symbols is not None and cov.symbol not in wanted_symbols:
            continue
        if wanted_tfs is not None and tf_text not in wanted_tfs:
            continue
        try:
            tf = TimeFrame.from_string(tf_text)
        except ValueError:
            continue  # a timeframe this version does not know: nothing to check against
        holes = await find_holes(db, cov.symbol, tf, cov.first_ts, cov.last_ts + 1)
        rows.append(
            InventoryRow(
                symbol=cov.symbol,
                timeframe=tf.value,
                first_ts=cov.first_ts,
                last_ts=cov.last_ts,
                count=cov.count,
                holes=tuple(holes),
                missing=count_candles(tf, holes),
            )
        )
    return rows


def repair_windows(rows: Iterable[InventoryRow], now_ms: int) -> list[Window]:
    """Windows fetching the holes of `rows` (nearby holes share one request)."""
    windows: list[Window] = []
    for row in rows:
        tf = TimeFrame.from_string(row.timeframe)
        windows.extend(plan_ranges(row.symbol, tf, coalesce(list(row.holes), tf), now_ms))
    return windows
