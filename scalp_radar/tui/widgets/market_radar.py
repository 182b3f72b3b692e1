"""The market radar: every symbol of the universe in one virtual table (Line API).

Only the rows on screen are rendered: a new snapshot costs one sort of the universe plus the
visible lines, and a line whose ticker, age, selection and width did not change is reused as is.
Sparklines are fetched on demand for visible rows only, once per new ticker of that row (and at
each refresh while none has come: an attached dashboard's arrive from the daemon).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from scalp_radar.core.snapshot import TickerRow, UniverseSnapshot
from scalp_radar.tui import format as fmt
from scalp_radar.tui.radar_view import (
    STALE_AFTER_MS,
    Column,
    RadarView,
    columns_for,
    cursor_after_reorder,
    sort_keys,
    visible_rows,
)

SparkProvider = Callable[[str, int], Sequence[float]]
BARS = "▁▂▃▄▅▆▇█"

UP = Style(color="green")
DOWN = Style(color="red")
DIM = Style(dim=True)
HEAD = Style(bold=True, dim=True)
HEAD_SORT = Style(bold=True, underline=True)
SELECTED = Style(reverse=True, bold=True)
STALE = Style(color="yellow", bold=True)
WATCHED = Style(color="cyan")
PLAIN = Style()
SPACE = Segment(" ")


def _num(value: float, fmt_spec: str) -> str:
    return "—" if value != value else format(value, fmt_spec)


def pct_cell(value: float) -> tuple[str, Style]:
    """A percent change that fits 6 cells: +1.23, +12.3, +123."""
    if value != value:
        return "—", DIM
    a = abs(value)
    text = f"{value:+.2f}" if a < 9.995 else f"{value:+.1f}" if a < 99.95 else f"{value:+.0f}"
    if text.lstrip("+-") in ("0.00",):
        return "0.00", PLAIN  # never "-0.00"
    return text, UP if value > 0 else DOWN if value < 0 else PLAIN


def age_cell(row: TickerRow, now_ms: int) -> tuple[str, Style]:
    """Seconds since the ticker (exchange time); '!' and yellow when stale, 'r' when from REST."""
    age_s = max(0.0, (now_ms - row.updated_ms) / 1000)
    text = f"{int(age_s)}s" if age_s < 60 else fmt.duration(age_s)
    if now_ms - row.updated_ms > STALE_AFTER_MS:
        return text + "!", STALE
    return (text + "r", DIM) if row.source == "rest" else (text, DIM)


def compact(value: float) -> str:
    """1234567 -> '1.2M' (24 h quote volume in USDT)."""
    if value != value:
        return "—"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


def spark_text(values: Sequence[float], width: int) -> str:
    """`values` as block bars, resampled to `width` cells (blank when there is no history)."""
    vals = [v for v in values if v == v]
    if len(vals) < 2 or width <= 0:
        return ""
    if len(vals) > width:  # keep the newest point: sample backwards from the end
        step = len(vals) / width
        vals = [
            vals[min(len(vals) - 1, math.floor(len(vals) - 1 - i * step))] for i in range(width)
        ]
        vals.reverse()
    lo, hi = min(vals), max(vals)
    if hi == lo:
        return BARS[0] * len(vals)
    scale = (len(BARS) - 1) / (hi - lo)
    return "".join(BARS[round((v - lo) * scale)] for v in vals)


def cell(row: TickerRow, column: Column, now_ms: int) -> tuple[str, Style]:
    """Text and style of one column of `row` (the sparkline is drawn by the widget)."""
    key = column.key
    if key == "symbol":
        return fmt.base(row.symbol), PLAIN
    if key == "last":
        return fmt.price(row.last), PLAIN
    if key.startswith("change_") or key == "oi_change_15m":
        return pct_cell(float(getattr(row, key)))
    if key == "volume_surge":
        return _num(row.volume_surge, ".1f") + (
            "x" if row.volume_surge == row.volume_surge else ""
        ), (Style(bold=True) if row.volume_surge >= 3 else PLAIN)
    if key == "spread_bps":
        v = row.spread_bps
        return _num(v, ".1f" if v < 100 else ".0f"), STALE if v >= 20 else PLAIN
    if key == "funding_rate":
        v = row.funding_rate * 100
        return _num(v, "+.4f" if abs(v) < 1 else "+.3f"), (
            STALE if abs(v) >= 0.05 else PLAIN
        )  # 0.05 % per interval is 5x the usual 0.01 %
    if key == "quote_volume_24h":
        return compact(row.quote_volume_24h), PLAIN
    if key == "basis_bps":
        return _num(row.basis_bps, "+.1f"), PLAIN
    if key == "updated_ms":
        return age_cell(row, now_ms)
    return "", PLAIN


@dataclass(slots=True)
class _Line:
    """A rendered row and what it was rendered from (reused while all of it is unchanged)."""

    row: TickerRow
    key: tuple[tuple[str, Style], bool, bool, int]
    strip: Strip
    # Drawn without its sparkline, which had not come yet (an attached dashboard asks the
    # daemon): drawn again at the next refresh, not only at the row's next ticker.
    spark_pending: bool = False


class MarketRadar(ScrollView, can_focus=True):
    """Scrolling, sortable, filterable table of the whole universe with a symbol-following cursor."""

    BINDINGS = [
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("home", "edge(0)", "Top", show=False),
        Binding("end", "edge(1)", "Bottom", show=False),
    ]

    class Selected(Message):
        """The cursor moved to another symbol (or the list emptied)."""

        def __init__(self, symbol: str | None) -> None:
            super().__init__()
            self.symbol = symbol

    class FilterTyped(Message):
        """`/` (text "") or a key typed after it, before the filter box had the focus."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._typing = False  # `/` seen and the filter box not focused yet
        self.view = RadarView()
        self.watchlist: frozenset[str] = frozenset()
        self.spark_provider: SparkProvider | None = None
        self.order: list[TickerRow] = []
        self.cursor = 0
        self.now_ms = 0
        self.universe: UniverseSnapshot | None = None
        self._columns: tuple[Column, ...] = columns_for(80)
        self._widths: tuple[int, ...] = ()
        self._laid_out_for = -1
        self._lines: dict[str, _Line] = {}
        self._painted: dict[int, _Line] = {}  # screen line -> the row line it shows
        self._sparks: dict[str, tuple[int, str]] = {}  # symbol -> (updated_ms, bars)
        self.lines_rendered = 0  # rows rendered from scratch (bench / tests)
        self.spark_fetches = 0

    # -- data ----------------------------------------------------------------------------------

    @property
    def selected_symbol(self) -> str | None:
        """The symbol under the cursor."""
        return self.order[self.cursor].symbol if self.order else None

    def show(self, universe: UniverseSnapshot, now_ms: int) -> None:
        """A new snapshot: re-sort (cursor stays on its symbol), repaint the visible lines that
        show another row or a changed one (the rest of the screen is left alone)."""
        rows_before = len(self.order)
        self.universe = universe
        self.now_ms = now_ms
        self._reorder(repaint=False)
        if len(self.order) != rows_before or not self.order:
            self.refresh()  # the scrollbar, or the empty table's message
        else:
            self._refresh_changed_lines()

    def set_view(self, view: RadarView) -> None:
        """Another sort, filter or preset; the cursor follows its symbol."""
        self.view = view
        self._reorder()
        self.scroll_to_cursor()

    def set_watchlist(self, watchlist: frozenset[str]) -> None:
        """The user's watchlist (marked in the symbol column, listed by the Watchlist preset)."""
        self.watchlist = watchlist
        self._reorder()

    def sort_keys(self) -> tuple[str, ...]:
        """The sortable columns shown at the current width."""
        return sort_keys(self._columns)

    def _reorder(self, repaint: bool = True) -> None:
        symbol = self.selected_symbol
        rows = self.universe.rows if self.universe is not None else ()
        self.order = visible_rows(rows, self.view, self.watchlist)
        self.cursor = cursor_after_reorder(self.order, symbol, self.cursor)
        self.virtual_size = Size(self.size.width, len(self.order) + 1)
        if repaint:
            self.refresh()
        if self.selected_symbol != symbol:
            self.post_message(self.Selected(self.selected_symbol))

    # -- cursor --------------------------------------------------------------------------------

    def move_cursor(self, index: int) -> None:
        """Put the cursor on row `index` (clamped) and keep it in view."""
        if not self.order:
            return
        index = max(0, min(index, len(self.order) - 1))
        if index != self.cursor:
            self.cursor = index
            self.refresh()
            self.post_message(self.Selected(self.selected_symbol))
        self.scroll_to_cursor()

    def select_symbol(self, symbol: str) -> bool:
        """Move the cursor to `symbol` if it is listed."""
        for i, r in enumerate(self.order):
            if r.symbol == symbol:
                self.move_cursor(i)
                return True
        return False

    def scroll_to_cursor(self) -> None:
        """Scroll so the cursor row is visible (the header line stays on top)."""
        rows_visible = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows_visible:
            self.scroll_to(y=self.cursor - rows_visible + 1, animate=False, immediate=True)

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor(
            self.cursor + direction * max(1, self.scrollable_content_region.height - 2)
        )

    def action_edge(self, end: int) -> None:
        self.move_cursor(len(self.order) - 1 if end else 0)

    def on_key(self, event: events.Key) -> None:
        # Keys a fast typist sends right after `/` are queued here before the filter box gets
        # the focus: hand them over in order instead of letting them run table bindings.
        if event.key == "slash" and not self._typing:
            self._typing = True
        elif not (self._typing and event.is_printable and event.character):
            return
        event.stop()
        event.prevent_default()
        self.post_message(self.FilterTyped("" if event.key == "slash" else event.character or ""))

    def on_focus(self) -> None:
        self._typing = False

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.move_cursor(round(self.scroll_y) + event.y - 1)

    # -- rendering -----------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._layout(event.size.width)
        self.virtual_size = Size(event.size.width, len(self.order) + 1)

    def _layout(self, width: int) -> None:
        width = self.scrollable_content_region.width or width
        self._laid_out_for = width
        columns = columns_for(width)
        fixed = sum(c.width for c in columns if c.key != "spark") + len(columns) - 1
        spark = max(0, width - fixed)
        widths = tuple(spark if c.key == "spark" else c.width for c in columns)
        if (columns, widths) != (self._columns, self._widths):
            self._columns, self._widths = columns, widths
            self._lines.clear()
            self._sparks.clear()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width != self._laid_out_for:
            # The vertical scrollbar comes and goes with the row count without a resize event.
            self._layout(width)
        if y == 0:
            return self._header(width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self.order):
            self._painted.pop(y, None)
            if not self.order and y == 1:
                return Strip([Segment(self._empty_text()[:width], DIM)]).extend_cell_length(width)
            return Strip.blank(width)
        row = self.order[index]
        strip = self._row_strip(row, index == self.cursor, width)
        self._painted[y] = self._lines[row.symbol]
        return strip

    def _refresh_changed_lines(self) -> None:
        """Repaint the lines whose row, age, selection or watch mark differ from what they show."""
        width = self.scrollable_content_region.width
        top = round(self.scroll_y)
        for y in range(1, self.scrollable_content_region.height):
            index = top + y - 1
            painted = self._painted.get(y)
            if index >= len(self.order):
                if painted is not None:
                    self.refresh(Region(0, y, self.size.width, 1))
                continue
            row = self.order[index]
            key = self._line_key(row, index == self.cursor, width)
            if (
                painted is None
                or painted.row is not row
                or painted.key != key
                or painted.spark_pending
            ):
                self.refresh(Region(0, y, self.size.width, 1))

    def _empty_text(self) -> str:
        universe = self.universe
        if universe is None:
            return "  waiting for the engine's first snapshot…"
        if universe.problem:
            return f"  ✖ {universe.problem}"
        if self.view.filter:
            return f"  no symbol matches '{self.view.filter}' (esc clears the filter)"
        if self.view.preset == "watchlist":
            return "  watchlist empty: press w on a symbol to add it"
        return "  no tickers yet"

    def _header(self, width: int) -> Strip:
        segments: list[Segment] = []
        for column, w in zip(self._columns, self._widths, strict=True):
            label = column.label
            if column.key == self.view.sort:
                label = ("↓" if self.view.descending else "↑") + label
            text = label[:w].ljust(w) if column.key in ("symbol", "spark") else label[:w].rjust(w)
            segments.append(Segment(text, HEAD_SORT if column.key == self.view.sort else HEAD))
            segments.append(Segment(" "))
        return Strip(segments).crop_extend(0, width, None)

    def _spark(self, row: TickerRow, width: int) -> str:
        cached = self._sparks.get(row.symbol)
        if cached is not None and cached[0] == row.updated_ms:
            return cached[1]
        values: Sequence[float] = ()
        if self.spark_provider is not None:
            self.spark_fetches += 1
            values = self.spark_provider(row.symbol, width)
        bars = spark_text(values, width)
        if values:  # none yet (the daemon's answer is on its way): asked again at the next draw
            self._sparks[row.symbol] = (row.updated_ms, bars)
        else:
            self._sparks.pop(row.symbol, None)
        return bars

    def _line_key(
        self, row: TickerRow, selected: bool, width: int
    ) -> tuple[tuple[str, Style], bool, bool, int]:
        """What a row's line depends on besides the row itself (its age moves with the clock)."""
        return (age_cell(row, self.now_ms), selected, row.symbol in self.watchlist, width)

    def _row_strip(self, row: TickerRow, selected: bool, width: int) -> Strip:
        key = self._line_key(row, selected, width)
        age, _, watched, _ = key
        line = self._lines.get(row.symbol)
        if line is not None and line.row is row and line.key == key and not line.spark_pending:
            return line.strip
        self.lines_rendered += 1
        segments: list[Segment] = []
        pending = False
        for column, w in zip(self._columns, self._widths, strict=True):
            if column.key == "spark":
                text, style = self._spark(row, w).ljust(w), DIM
                pending = (
                    w > 0 and self.spark_provider is not None and row.symbol not in self._sparks
                )
            elif column.key == "updated_ms":
                text, style = age[0].rjust(w), age[1]
            elif column.key == "symbol":
                name = ("*" if watched else " ") + fmt.base(row.symbol)
                text, style = name[:w].ljust(w), WATCHED if watched else PLAIN
            else:
                text, style = cell(row, column, self.now_ms)
                text = text[:w].rjust(w)
            segments.append(Segment(text, style))
            segments.append(SPACE)
        segments.pop()  # the sparkline takes what the columns leave: the cells fill the width
        strip = Strip(segments)
        if strip.cell_length != width:  # too narrow for the columns: cut (a Strip crop is costly)
            strip = strip.crop_extend(0, width, None)
        if selected:
            strip = strip.apply_style(SELECTED)
        if len(self._lines) > 4 * max(64, len(self.order)):
            self._lines.clear()  # symbols that left the universe
        self._lines[row.symbol] = _Line(row, key, strip, pending)
        return strip
