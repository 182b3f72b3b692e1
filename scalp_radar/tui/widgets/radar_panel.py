"""The radar panel: the market table, its filter box and the keys that sort, rank and watch."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.core.user_state import UserState, UserStateError
from scalp_radar.tui.radar_source import RadarSource
from scalp_radar.tui.radar_view import PRESET_KEYS, PRESET_TITLES
from scalp_radar.tui.widgets.market_radar import MarketRadar
from scalp_radar.tui.widgets.paint import set_border_subtitle, set_border_title


class RadarPanel(Vertical):
    """Every symbol of the universe; s/r sort, / filters, 1-6 presets, w watches, enter opens."""

    BINDINGS = [
        Binding("s", "sort_next", "Sort"),
        Binding("r", "sort_reverse", "Reverse", show=False),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("w", "watch", "Watch"),
        Binding("enter", "open", "Open"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        *(
            Binding(str(i + 1), f"preset('{name}')", PRESET_TITLES[name], show=False)
            for i, name in enumerate(PRESET_KEYS)
        ),
    ]

    class OpenDetail(Message):
        """The user asked for `symbol`'s detail screen."""

        def __init__(self, symbol: str) -> None:
            super().__init__()
            self.symbol = symbol

    def __init__(
        self,
        user_state: UserState,
        seam: RadarSource | None,
        *,
        id: str | None = None,  # noqa: A002
    ) -> None:
        super().__init__(id=id)
        self.user_state = user_state
        self.seam = seam
        self.assets: tuple[str, ...] = ()  # the configured `assets:` (always in the watchlist)
        self.demo = False
        self._universe_line = ""

    def compose(self) -> ComposeResult:
        # Disabled while hidden, so it never takes the focus (and the footer's keys) unasked.
        yield Input(
            placeholder="filter symbols (esc clears, enter keeps)",
            id="radar-filter",
            disabled=True,
            select_on_focus=False,  # keeps the keys handed over before it had the focus
        )
        yield MarketRadar(id="market")

    def on_mount(self) -> None:
        market = self.market
        if self.seam is not None:
            market.spark_provider = self.seam.sparkline
        self._sync_watchlist()
        self._retitle()

    @property
    def market(self) -> MarketRadar:
        return self.query_one(MarketRadar)

    # -- data ----------------------------------------------------------------------------------

    def show(self, snapshot: EngineSnapshot, demo: bool) -> None:
        """A new snapshot (the app calls this only when the snapshot object changed)."""
        if snapshot.symbols != self.assets:
            self.assets = snapshot.symbols
            self._sync_watchlist()
        self.demo = demo
        u = snapshot.universe
        self._universe_line = (
            f"{u.symbols} symbols · {u.tickers_live} live · shards {u.shards_up}/{len(u.shards)}"
            + (f" · [bold red]{u.limit_errors} limit errors[/]" if u.limit_errors else "")
            + (f" · [bold red]✖ {escape(u.problem)}[/]" if u.problem else "")
        )
        self.market.show(u, snapshot.taken_at_ms)
        self._retitle()

    def _sync_watchlist(self) -> None:
        self.market.set_watchlist(frozenset(self.assets) | frozenset(self.user_state.watchlist))

    def missing_watched(self) -> list[str]:
        """Watched symbols the radar has no ticker for (delisted, excluded, not yet seen)."""
        market = self.market
        listed = {r.symbol for r in market.universe.rows} if market.universe else set()
        return sorted(s for s in market.watchlist if s not in listed)

    def _retitle(self) -> None:
        market = self.market
        count = f"{len(market.order)}" if market.universe is not None else "…"
        title = f"Radar · {market.view.describe()} · {count} rows"
        set_border_title(self, f"{title} · [reverse bold] DEMO [/]" if self.demo else title)
        missing = self.missing_watched() if market.view.preset == "watchlist" else []
        if missing and market.universe is not None:
            names = ", ".join(s.split("/")[0] for s in missing[:3]) + (
                "…" if len(missing) > 3 else ""
            )
            set_border_subtitle(self, f"[bold yellow]no ticker for {escape(names)}[/]")
        else:
            set_border_subtitle(self, self._universe_line)

    # -- actions -------------------------------------------------------------------------------

    def action_sort_next(self) -> None:
        """Sort by the next column shown (wrapping); leaves a ranking preset."""
        market = self.market
        market.set_view(market.view.cycled(market.sort_keys()))
        self._retitle()

    def action_sort_reverse(self) -> None:
        """The same column, the other direction."""
        market = self.market
        market.set_view(market.view.reversed())
        self._retitle()

    def action_preset(self, name: str) -> None:
        """A ranking preset (1 Movers .. 5 OI) or 6 Watchlist: a new question, so the cursor
        goes to its first answer (data re-orders and sorts keep the cursor on its symbol)."""
        market = self.market
        market.set_view(market.view.with_preset(name))
        market.move_cursor(0)
        self._retitle()

    def action_filter(self) -> None:
        """Show the filter box and type into it."""
        box = self.query_one("#radar-filter", Input)
        box.disabled = False
        box.add_class("-shown")
        box.focus()

    def action_clear_filter(self) -> None:
        """Clear and hide the filter; the cursor stays on its symbol."""
        box = self.query_one("#radar-filter", Input)
        box.value = ""
        box.remove_class("-shown")
        box.disabled = True
        self._apply_filter("")
        self.market.focus()

    @on(MarketRadar.FilterTyped)
    def _typed(self, event: MarketRadar.FilterTyped) -> None:
        box = self.query_one("#radar-filter", Input)
        if not event.text:
            self.action_filter()
        else:
            box.insert_text_at_cursor(event.text)

    @on(Input.Changed, "#radar-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._apply_filter(event.value)

    @on(Input.Submitted, "#radar-filter")
    def _filter_kept(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.remove_class("-shown")
            event.input.disabled = True
        self.market.focus()

    def _apply_filter(self, text: str) -> None:
        market = self.market
        if market.view.filter != text.strip():
            market.set_view(market.view.filtered(text))
            self._retitle()

    def action_watch(self) -> None:
        """Add the selected symbol to the user's watchlist, or remove it (saved at once)."""
        symbol = self.market.selected_symbol
        if symbol is None:
            return
        if symbol in self.assets and symbol not in self.user_state.watchlist:
            self.notify(
                f"{escape(symbol)} is in assets.yaml: always watched (edit the config to drop it)",
                severity="warning",
            )
            return
        try:
            watched = self.user_state.toggle(symbol)
        except (OSError, UserStateError) as exc:
            self.notify(f"watchlist not saved: {escape(str(exc))}", severity="error")
            return
        self._sync_watchlist()
        said = self.seam.set_watchlist(tuple(self.user_state.watchlist)) if self.seam else ""
        verb = "added to" if watched else "removed from"
        self.notify(
            f"{escape(symbol)} {verb} your watchlist" + (f" · {escape(said)}" if said else "")
        )
        self._retitle()

    def action_open(self) -> None:
        """The detail screen of the selected symbol."""
        symbol = self.market.selected_symbol
        if symbol is not None:
            self.post_message(self.OpenDetail(symbol))
