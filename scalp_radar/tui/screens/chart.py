"""The base of the screens that show one symbol: an info line over a plotext chart."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.clock import Clock
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual_plotext import PlotextPlot

from scalp_radar.core.snapshot import EngineSnapshot

# PlotextPlot costs 15-60 ms per redraw: at most this often, and only while visible.
REDRAW_EVERY_S = 1.0


class ChartScreen(Screen[None]):
    """Header, `#INFO_ID` line, `#CHART_ID` plot, footer; redraws throttled on the app's clock."""

    INFO_ID: ClassVar[str]
    CHART_ID: ClassVar[str]

    snapshot: reactive[EngineSnapshot | None] = reactive(None, always_update=True, init=False)

    def __init__(self, symbol: str, clock: Clock) -> None:
        super().__init__()
        self.symbol = symbol
        self.clock = clock  # the app's: frozen in tests, so the redraw throttle is testable
        self._last_draw = float("-inf")

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◎")
        yield Static("", id=self.INFO_ID)
        yield PlotextPlot(id=self.CHART_ID)
        yield Footer()

    def _redraw_due(self, force: bool) -> bool:
        """True (and the draw time noted) when forced or REDRAW_EVERY_S passed since the last."""
        now = self.clock.time
        if not force and now - self._last_draw < REDRAW_EVERY_S:
            return False
        self._last_draw = now
        return True

    def _blank_plot(self) -> PlotextPlot:
        """The chart widget, its data and figure cleared for a new draw."""
        plot = self.query_one(PlotextPlot)
        plot.plt.clear_data()
        plot.plt.clear_figure()
        return plot
