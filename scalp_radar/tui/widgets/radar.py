"""Radar pane: one row per symbol with price, change, sparkline and freshness badge."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive, var
from textual.widgets import Sparkline, Static

from scalp_radar.core.snapshot import EngineSnapshot, StreamSnapshot
from scalp_radar.tui import format as fmt
from scalp_radar.tui.widgets.paint import is_displayed, set_border_subtitle, set_border_title


class RadarRow(Horizontal):
    """One symbol; keeps its last shown values so unchanged cells are not repainted."""

    def __init__(self, symbol: str) -> None:
        super().__init__(classes="radar-row")
        self.symbol = symbol
        self._shown: dict[str, object] = {}
        self._pending: tuple[StreamSnapshot | None, bool] | None = None
        self._ready = False
        # Set when the pane removes this row: removal is asynchronous, and a row removed right
        # after it was mounted still gets its on_mount, with its cells already gone.
        self.retired = False

    def compose(self) -> ComposeResult:
        yield Static("  ", classes="mark")
        yield Static(fmt.short_symbol(self.symbol), classes="sym")
        yield Static("", classes="price")
        yield Static("", classes="chg")
        yield Sparkline([], classes="spark")
        yield Static("", classes="badge")

    def _set(self, name: str, value: object, apply) -> None:  # noqa: ANN001
        if self._shown.get(name) != value:
            self._shown[name] = value
            apply(value)

    def on_mount(self) -> None:
        # `is_mounted` only turns True after this handler, so track readiness ourselves.
        self._ready = True
        if self._pending is not None:
            self.show(*self._pending)

    def show(self, stream: StreamSnapshot | None, selected: bool) -> None:
        """Show one stream (the selected timeframe's) of this symbol."""
        if self.retired:
            return
        if not self._ready:
            self._pending = (stream, selected)
            return
        self.set_class(selected, "-selected")
        self._set("mark", "▶ " if selected else "  ", self.query_one(".mark", Static).update)
        closes = stream.recent_closes if stream else ()
        last = stream.last_candle.close if stream and stream.last_candle else None
        if last is None and closes:
            last = closes[-1]
        tick = stream.tick_size if stream else None
        self._set("price", fmt.price(last, tick), self.query_one(".price", Static).update)
        self._set(
            "chg", fmt.change_text(fmt.change_pct(closes)), self.query_one(".chg", Static).update
        )
        # Sparkline only redraws when given a new list object.
        self._set("spark", closes, lambda c: setattr(self.query_one(Sparkline), "data", list(c)))
        state = stream.state if stream else None
        self.set_class(state is not None and state.value != "live", "-degraded")
        self._set("badge", fmt.badge(stream), self.query_one(".badge", Static).update)


class RadarPane(Vertical):
    """Every symbol of the snapshot, in config order; rows are rebuilt only if symbols change."""

    snapshot: var[EngineSnapshot | None] = var(None, always_update=True, init=False)
    timeframe: reactive[str | None] = reactive(None, init=False)
    selected: reactive[int] = reactive(0, init=False)
    demo: reactive[bool] = reactive(False, init=False)
    backfill_text: reactive[str] = reactive("", init=False)

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.border_title = "Radar"
        self._symbols: tuple[str, ...] = ()
        self._behind = False  # a change arrived while hidden: catch up when shown
        # The current rows: a query would also find rows still being removed (their cells gone).
        self._rows: list[RadarRow] = []

    def compose(self) -> ComposeResult:
        with Horizontal(classes="radar-head"):
            yield Static("", classes="mark")
            yield Static("symbol", classes="sym")
            yield Static("last", classes="price")
            yield Static("chg", classes="chg")
            yield Static("recent closes", classes="spark-head")
            yield Static("feed", classes="badge")
        with VerticalScroll(id="radar-rows", can_focus=False):
            yield Static("waiting for the engine's first snapshot…", classes="radar-empty")

    # Any of the bound values changing redraws (cells repaint only where the text changed).
    def watch_snapshot(self) -> None:
        self._show()

    def watch_timeframe(self) -> None:
        self._show()

    def watch_selected(self) -> None:
        self._show()

    def watch_demo(self) -> None:
        self._show()

    def watch_backfill_text(self) -> None:
        self._show()

    def on_show(self) -> None:
        if self._behind:
            self._show()

    def _show(self) -> None:
        """Update every row for the selected timeframe (once shown: the market radar hides it)."""
        self._behind = not is_displayed(self)
        if self._behind:
            return
        snapshot, timeframe, demo = self.snapshot, self.timeframe, self.demo
        title = f"Radar · {timeframe or '—'}"
        set_border_title(self, f"{title} · [reverse bold] DEMO [/]" if demo else title)
        if snapshot is None:
            return
        if snapshot.symbols != self._symbols:
            self._symbols = snapshot.symbols
            for old in self._rows:
                old.retired = True
            self.query(RadarRow).remove()
            self.query(".radar-empty").remove()
            self._rows = [RadarRow(s) for s in self._symbols]
            self.query_one("#radar-rows").mount_all(self._rows)
        points = 0
        why: str | None = None
        for i, row in enumerate(self._rows):
            stream = snapshot.stream(row.symbol, timeframe) if timeframe else None
            points = max(points, len(stream.recent_closes) if stream else 0)
            row.show(stream, i == self.selected)
            if i == self.selected and stream is not None and (reason := fmt.why_down(stream)):
                why = f"[bold red]▶ {escape(stream.key)}: {escape(reason)}[/]"
        # The selected stream's reason when it is down, else what the change column measures.
        parts = [why] if why else ([f"chg over last {points} × {timeframe}"] if points else [])
        if self.backfill_text:
            parts.append(self.backfill_text)
        set_border_subtitle(self, " · ".join(parts))
        # Scroll once the layout is settled, to the row selected *then*: a burst of j/k queues
        # many of these, and each one reads the current selection, so the last one wins.
        self.call_after_refresh(self._keep_selected_in_view)

    def _keep_selected_in_view(self) -> None:
        rows = list(self.query(RadarRow))
        if 0 <= self.selected < len(rows):
            self.query_one("#radar-rows", VerticalScroll).scroll_to_widget(
                rows[self.selected], animate=False, immediate=True
            )
