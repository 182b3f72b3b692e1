"""The main screen: radar on top, buffers / limiter / connection / incidents below."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer, Header

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.tui.widgets.buffers import BuffersPane
from scalp_radar.tui.widgets.connection import ConnectionPane
from scalp_radar.tui.widgets.incidents import IncidentsPane
from scalp_radar.tui.widgets.limiter import LimiterPane
from scalp_radar.tui.widgets.radar import RadarPane
from scalp_radar.tui.widgets.radar_panel import RadarPanel

if TYPE_CHECKING:
    from scalp_radar.tui.app import ScalpRadarApp


class MainScreen(Screen):
    """Everything at a glance; keys select a symbol, cycle the timeframe, open modals."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("b", "app.backfill", "Backfill"),
        Binding("t", "app.cycle_timeframe", "Timeframe"),
        Binding("enter", "app.detail", "Chart"),
        Binding("j,down", "app.select(1)", "Select", key_display="j/k"),
        Binding("k,up", "app.select(-1)", "Prev", show=False),
        Binding("p", "toggle_panes", "Panes"),
    ]

    app: ScalpRadarApp  # type: ignore[assignment]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◎")
        panel = RadarPanel(self.app.user_state, self.app.radar_seam, id="radar-panel")
        panel.disabled = True  # until a snapshot with a universe arrives
        yield panel
        yield RadarPane(id="radar")
        with Container(id="body"):
            yield BuffersPane()
            yield LimiterPane()
            yield ConnectionPane()
            yield IncidentsPane()
        yield Footer()

    ready = False

    def action_toggle_panes(self) -> None:
        """Cycle the status panes under the market radar: connection + incidents, then buffers +
        limiter, then none (at 36+ rows they are always there and `p` hides them)."""
        if self.has_class("-tall"):
            self.toggle_class("-panes")
        elif self.has_class("-panes-2"):
            self.remove_class("-panes", "-panes-2")
        elif self.has_class("-panes"):
            self.add_class("-panes-2")
        else:
            self.add_class("-panes")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Panes only fold away when the market radar is there to take their space.
        return action != "toggle_panes" or self.has_class("-universe")

    @on(RadarPanel.OpenDetail)
    def _open_detail(self, event: RadarPanel.OpenDetail) -> None:
        self.app.open_detail(event.symbol)

    _shown: tuple[object, ...] | None = None

    def on_mount(self) -> None:
        self.ready = True
        self.app.refresh_snapshot()

    def tick(self, snapshot: EngineSnapshot | None) -> None:
        """Show `snapshot`; called by the app's refresh timer inside batch_update()."""
        app = self.app
        # The engine publishes a new object when anything changed: skip identical ticks.
        shown = (snapshot, app.timeframe, app.selected, app.demo)
        if self._shown is not None and all(a is b for a, b in zip(shown, self._shown, strict=True)):
            return
        self._shown = shown
        # With a universe running, the market radar replaces the watchlist's candle radar.
        universe_on = snapshot is not None and snapshot.universe.mode != "off"
        if universe_on != self.has_class("-universe"):
            self.set_class(universe_on, "-universe")
            panel = self.query_one(RadarPanel)
            panel.disabled = not universe_on
            if universe_on:
                panel.market.focus()
        if snapshot is not None and universe_on:
            self.query_one(RadarPanel).show(snapshot, app.demo)
        else:
            self.query_one(RadarPane).show(snapshot, app.timeframe, app.selected, app.demo)
        if snapshot is None:
            return
        self.query_one(BuffersPane).show(snapshot)
        self.query_one(LimiterPane).show(snapshot)
        self.query_one(ConnectionPane).show(snapshot)
        self.query_one(IncidentsPane).show(snapshot)
