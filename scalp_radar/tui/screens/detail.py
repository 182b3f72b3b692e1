"""Detail screen: a candlestick chart of one symbol's buffer for the selected timeframe."""

from __future__ import annotations

from textual.binding import Binding
from textual.clock import Clock
from textual.reactive import reactive
from textual.widgets import Static

from scalp_radar.core.snapshot import StreamSnapshot
from scalp_radar.tui import format as fmt
from scalp_radar.tui.screens.chart import ChartScreen
from scalp_radar.tui.screens.mirror import mirror_app_state, resync

STATE = ("snapshot", "timeframe")

MAX_CANDLES = 120


class DetailScreen(ChartScreen):
    """Candles of the selected symbol; `t` cycles the timeframe, escape goes back."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("t", "app.cycle_timeframe", "Timeframe"),
    ]

    INFO_ID = "detail-info"
    CHART_ID = "chart"

    timeframe: reactive[str | None] = reactive(None, init=False)

    def __init__(self, symbol: str, clock: Clock) -> None:
        super().__init__(symbol, clock)
        self._drawn: tuple[object, ...] | None = None

    def on_mount(self) -> None:
        mirror_app_state(self, STATE)

    def on_screen_resume(self) -> None:
        resync(self, STATE)

    def watch_snapshot(self) -> None:
        self.redraw()

    def watch_timeframe(self) -> None:
        self.redraw(force=True)

    def redraw(self, force: bool = False) -> None:
        """Redraw when the stream changed, at most once per REDRAW_EVERY_S (app clock)."""
        snapshot = self.snapshot
        if snapshot is None:
            return
        tf = self.timeframe
        stream = snapshot.stream(self.symbol, tf) if tf else None
        key = (
            tf,
            stream.recent_candles if stream else None,
            stream.recent_closes if stream else None,
        )
        if key == self._drawn:
            return
        # A new timeframe is drawn at once; the same one at most once per REDRAW_EVERY_S.
        same_tf = self._drawn is not None and self._drawn[0] == tf
        if not self._redraw_due(force or not same_tf):
            return
        self._drawn = key
        self._draw(stream, tf)

    def _draw(self, stream: StreamSnapshot | None, tf: str | None) -> None:
        info = self.query_one("#detail-info", Static)
        plot = self._blank_plot()
        plt = plot.plt
        name = f"{fmt.short_symbol(self.symbol)} {tf or ''}"
        if stream is None:
            info.update(f"{name}: no stream")
            plot.refresh()
            return
        last = stream.last_candle
        info.update(
            f"[b]{name}[/b]  last {fmt.price(last.close if last else None, stream.tick_size)}  "
            f"chg {fmt.change_text(fmt.change_pct(stream.recent_closes)).markup}  "
            f"feed {fmt.badge(stream).markup}  buffer {stream.buffer_len}/{stream.buffer_capacity}"
        )
        candles = stream.recent_candles[-MAX_CANDLES:]
        if candles:
            xs = list(range(len(candles)))
            data = {
                "Open": [c.open for c in candles],
                "Close": [c.close for c in candles],
                "High": [c.high for c in candles],
                "Low": [c.low for c in candles],
            }
            # plotext's stubs type the x axis as date strings; it takes plain positions as well.
            plt.candlestick(xs, data)  # type: ignore[arg-type]
            ticks = xs[:: max(1, len(xs) // 6)]
            labels = [fmt.clock_time(candles[i].timestamp)[:5] for i in ticks]
            plt.xticks([float(i) for i in ticks], labels)
            plt.title(f"{name} · {len(candles)} candles (UTC)")
        elif stream.recent_closes:
            plt.plot(list(stream.recent_closes), marker="braille")
            plt.title(f"{name} · closes (no candles in snapshot)")
        plot.refresh()
