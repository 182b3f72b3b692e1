"""The main screen: radar on top, buffers / limiter / connection / incidents below."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.reactive import reactive, var
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.core.user_state import UserState
from scalp_radar.tui.messages import BackfillFinished, BackfillProgressed
from scalp_radar.tui.radar_source import RadarSource
from scalp_radar.tui.screens.fulltext import FullTextScreen
from scalp_radar.tui.screens.mirror import mirror_app_state, resync
from scalp_radar.tui.widgets.buffers import BuffersPane
from scalp_radar.tui.widgets.connection import ConnectionPane
from scalp_radar.tui.widgets.incidents import IncidentsPane
from scalp_radar.tui.widgets.limiter import LimiterPane
from scalp_radar.tui.widgets.radar import RadarPane
from scalp_radar.tui.widgets.radar_panel import RadarPanel
from scalp_radar.tui.widgets.table import PaneTable


class MainScreen(Screen[None]):
    """Everything at a glance; keys select a symbol, cycle the timeframe, open modals.

    Tab focuses the panes in turn (arrows scroll them, enter opens a row's full text); escape
    gives the keys back to the radar.
    """

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    AUTO_FOCUS = ""  # nothing: the radar owns the keys until the user tabs into a pane
    BINDINGS = [
        Binding("b", "app.backfill", "Backfill"),
        Binding("t", "app.cycle_timeframe", "Timeframe"),
        Binding("enter", "app.detail", "Chart"),
        Binding("j,down", "app.select(1)", "Select", key_display="j/k"),
        Binding("k,up", "app.select(-1)", "Prev", show=False),
        Binding("p", "toggle_panes", "Panes"),
        Binding("tab", "app.focus_next", "Focus", show=False),
        Binding("x", "app.cancel_backfill", "Cancel backfill", show=False),
        Binding("escape", "radar", "Radar", show=False),
    ]

    snapshot: var[EngineSnapshot | None] = var(None, always_update=True, init=False)
    timeframe: reactive[str | None] = reactive(None, init=False)
    selected: reactive[int] = reactive(0, init=False)
    demo: reactive[bool] = reactive(False, init=False)

    def __init__(self, user_state: UserState, radar_seam: RadarSource | None, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id)
        self.user_state = user_state
        self.radar_seam = radar_seam

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◎")
        panel = RadarPanel(self.user_state, self.radar_seam, id="radar-panel")
        panel.disabled = True  # until a snapshot with a universe arrives
        yield panel
        yield RadarPane(id="radar").data_bind(
            MainScreen.snapshot, MainScreen.timeframe, MainScreen.selected, MainScreen.demo
        )
        with Container(id="body"):
            yield BuffersPane().data_bind(MainScreen.snapshot)
            yield LimiterPane().data_bind(MainScreen.snapshot)
            yield ConnectionPane().data_bind(MainScreen.snapshot)
            yield IncidentsPane().data_bind(MainScreen.snapshot)
        yield Footer()

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

    def on_mount(self) -> None:
        mirror_app_state(self)

    def watch_snapshot(self, snapshot: EngineSnapshot | None) -> None:
        """With a universe running, the market radar replaces the watchlist's candle radar."""
        universe_on = snapshot is not None and snapshot.universe.mode != "off"
        if universe_on != self.has_class("-universe"):
            self.set_class(universe_on, "-universe")
            panel = self.query_one(RadarPanel)
            panel.disabled = not universe_on
            if universe_on:
                panel.market.focus()
        if snapshot is not None and universe_on:
            self.query_one(RadarPanel).show(snapshot, self.demo)

    def on_screen_resume(self) -> None:
        resync(self)

    def action_radar(self) -> None:
        """Leave the panes: j/k/enter act on the radar again."""
        self.set_focus(None)

    # -- full text of a row the pane had to cut ----------------------------------------------------

    @on(DataTable.RowSelected, "#incidents")
    @on(DataTable.RowSelected, "#connection")
    @on(DataTable.RowSelected, "#buffers")
    @on(DataTable.RowSelected, "#limiter")
    def _open_row(self, event: DataTable.RowSelected) -> None:
        event.stop()
        pane = event.data_table
        if isinstance(pane, PaneTable) and event.row_key.value is not None:
            title, text = pane.details(event.row_key.value)
            self.app.push_screen(FullTextScreen(title, text))

    # -- the backfill's progress, in the radar's subtitle while it runs -------------------------

    @on(BackfillProgressed)
    @on(BackfillFinished)
    def _backfill_changed(self, message: BackfillProgressed | BackfillFinished) -> None:
        self.query_one(RadarPane).backfill_text = (
            f"backfill {message.job.progress_text()}" if message.job.running else ""
        )
