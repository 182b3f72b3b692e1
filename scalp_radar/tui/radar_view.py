"""What the market radar shows, as pure functions: sort, filter, presets and columns by width.

No Textual here: the widget asks `visible_rows` for its order once per new snapshot (one sort of
floats over the universe, ~0.1 ms at 500 rows) and renders only the rows on screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from scalp_radar.core.snapshot import RANKED_BY_SIZE, RANKING_PRESETS, TickerRow, rank_rows

# A ticker older than this (exchange time) is marked stale on the radar.
STALE_AFTER_MS = 15_000


@dataclass(frozen=True, slots=True)
class Column:
    """One radar column: the TickerRow field it shows (or sorts by), header and width."""

    key: str  # a TickerRow field, or "spark"/"age"/"symbol"
    label: str
    width: int
    sortable: bool = True


SYMBOL = Column("symbol", "symbol", 9)
LAST = Column("last", "last", 10)
CHG_1M = Column("change_1m", "1m%", 6)
CHG_5M = Column("change_5m", "5m%", 6)
CHG_15M = Column("change_15m", "15m%", 6)
CHG_1H = Column("change_1h", "1h%", 6)
CHG_24H = Column("change_24h", "24h%", 6)
SURGE = Column("volume_surge", "surge", 5)
SPREAD = Column("spread_bps", "sprd", 5)
FUNDING = Column("funding_rate", "fund%", 7)
OI = Column("oi_change_15m", "OI15m", 6)
VOLUME = Column("quote_volume_24h", "vol24h", 6)
BASIS = Column("basis_bps", "basis", 6)
AGE = Column("updated_ms", "age", 4)


def spark(width: int) -> Column:
    """The sparkline column; it also takes whatever width the others leave."""
    return Column("spark", "last hour" if width >= 10 else "1h", width, sortable=False)


# Columns by content width (terminal minus border and scrollbar): the first set that fits wins.
# 80 columns: symbol, last, 5m, 1h, surge, spread, funding, OI and a short sparkline.
LAYOUTS: tuple[tuple[int, tuple[Column, ...]], ...] = (
    (
        150,
        (SYMBOL, LAST, CHG_1M, CHG_5M, CHG_15M, CHG_1H, CHG_24H, SURGE, SPREAD, FUNDING, OI,
         VOLUME, BASIS, spark(24), AGE),
    ),
    (
        110,
        (SYMBOL, LAST, CHG_5M, CHG_15M, CHG_1H, CHG_24H, SURGE, SPREAD, FUNDING, OI, VOLUME,
         spark(16), AGE),
    ),
    (0, (SYMBOL, LAST, CHG_5M, CHG_1H, SURGE, SPREAD, FUNDING, OI, spark(6), AGE)),
)  # fmt: skip


def columns_for(width: int) -> tuple[Column, ...]:
    """The column set for a content width of `width` cells."""
    for min_width, columns in LAYOUTS:
        if width >= min_width:
            return columns
    return LAYOUTS[-1][1]


def sort_keys(columns: Sequence[Column]) -> tuple[str, ...]:
    """Sortable column keys in screen order (what the sort key cycles through)."""
    return tuple(c.key for c in columns if c.sortable)


# Number keys 1..6: name shown in the title, sort column, by absolute value, descending.
PRESET_KEYS = ("movers", "surge", "funding", "spread", "oi", "watchlist")
PRESET_TITLES = {
    "movers": "Movers",
    "surge": "Surge",
    "funding": "Funding",
    "spread": "Spread",
    "oi": "OI",
    "watchlist": "Watchlist",
}


@dataclass(frozen=True, slots=True)
class RadarView:
    """How the user looks at the radar: sort column and direction, filter text, preset."""

    sort: str = "change_5m"
    descending: bool = True
    absolute: bool = True  # movers rank by size of the move, either direction
    filter: str = ""
    preset: str | None = "movers"

    def with_preset(self, name: str) -> RadarView:
        """The view of preset `name` (filter kept); the watchlist keeps the current sort."""
        if name == "watchlist":
            return replace(self, preset=name)
        if name not in RANKING_PRESETS:
            raise ValueError(f"unknown preset {name!r}: expected one of {', '.join(PRESET_KEYS)}")
        column = RANKING_PRESETS[name]
        # Spread: the tightest first is what a scalper can trade; the widest is a warning.
        return replace(
            self, preset=name, sort=column, absolute=column in RANKED_BY_SIZE, descending=True
        )

    def sorted_by(self, column: str) -> RadarView:
        """Sort by `column` (descending, signed); leaves a ranking preset, keeps the watchlist."""
        preset = self.preset if self.preset == "watchlist" else None
        return replace(self, sort=column, descending=True, absolute=False, preset=preset)

    def cycled(self, keys: Sequence[str]) -> RadarView:
        """Sort by the next column of `keys` after the current one (wrapping)."""
        i = keys.index(self.sort) if self.sort in keys else -1
        return self.sorted_by(keys[(i + 1) % len(keys)])

    def reversed(self) -> RadarView:
        """The same sort, the other direction."""
        return replace(self, descending=not self.descending)

    def filtered(self, text: str) -> RadarView:
        """Show only symbols containing `text` (case-insensitive)."""
        return replace(self, filter=text.strip())

    def describe(self) -> str:
        """'Movers · |5m%| ↓ · /ETH' for the radar's title."""
        label = next(
            (c.label for _, cols in LAYOUTS for c in cols if c.key == self.sort), self.sort
        )
        if self.sort == "symbol":
            label = "symbol"
        label = f"|{label}|" if self.absolute else label
        parts = [PRESET_TITLES[self.preset]] if self.preset else []
        parts.append(f"{label} {'↓' if self.descending else '↑'}")
        if self.filter:
            parts.append(f"/{self.filter}")
        return " · ".join(parts)


def matches(symbol: str, text: str) -> bool:
    """Case-insensitive substring match on the symbol ('eth' finds ETH/USDT:USDT)."""
    return not text or text.upper() in symbol.upper()


def visible_rows(
    rows: Sequence[TickerRow], view: RadarView, watchlist: Iterable[str] = ()
) -> list[TickerRow]:
    """The rows the radar lists, in order: preset/watchlist and filter applied, then sorted."""
    picked: Sequence[TickerRow] = rows
    if view.preset == "watchlist":
        watched = set(watchlist)
        picked = [r for r in rows if r.symbol in watched]
    if view.filter:
        picked = [r for r in picked if matches(r.symbol, view.filter)]
    if view.sort == "symbol":
        return sorted(picked, key=lambda r: r.symbol, reverse=view.descending)
    if view.sort == "updated_ms":
        # Sorting by age: "descending" means the oldest (most suspect) ticker first.
        return sorted(picked, key=lambda r: r.updated_ms, reverse=not view.descending)
    return rank_rows(list(picked), view.sort, absolute=view.absolute, descending=view.descending)


def cursor_after_reorder(order: Sequence[TickerRow], symbol: str | None, old_index: int) -> int:
    """Where the cursor goes in a new order: on `symbol` if it is still listed, else the same
    position clamped to the list (the selection follows its symbol, never the row number)."""
    if symbol is not None:
        for i, r in enumerate(order):
            if r.symbol == symbol:
                return i
    return max(0, min(old_index, len(order) - 1))
