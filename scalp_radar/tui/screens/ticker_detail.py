"""Detail of a radar symbol without candle streams: its ticker, derived metrics and last hour."""

from __future__ import annotations

from rich.markup import escape
from textual.binding import Binding
from textual.clock import Clock
from textual.widgets import Static

from scalp_radar.core.snapshot import EngineSnapshot, TickerRow
from scalp_radar.tui import format as fmt
from scalp_radar.tui.radar_source import RadarSource
from scalp_radar.tui.screens.chart import ChartScreen
from scalp_radar.tui.screens.mirror import mirror_app_state


def ticker_text(row: TickerRow | None, now_ms: int, pinned: bool) -> str:
    """The ticker's facts as markup lines (every number says what it is)."""
    if row is None:
        return "[b]not in the universe any more[/b] (delisted or excluded)"

    def pct(v: float) -> str:
        return "—" if v != v else f"{v:+.2f}%"

    funding_in = fmt.duration((row.next_funding_ms - now_ms) / 1000) if row.next_funding_ms else "—"
    candles = (
        "candles: promoted while this screen is open"
        if pinned
        else "candles: not streamed for this symbol (ticker data only)"
    )
    return (
        f"[b]{escape(fmt.short_symbol(row.symbol))}[/b]  last {fmt.price(row.last)}  "
        f"bid {fmt.price(row.bid)}  ask {fmt.price(row.ask)}  spread {row.spread_bps:.1f} bps\n"
        f"chg 1m {pct(row.change_1m)}  5m {pct(row.change_5m)}  15m {pct(row.change_15m)}  "
        f"1h {pct(row.change_1h)}  24h {pct(row.change_24h)}\n"
        f"mark {fmt.price(row.mark)}  index {fmt.price(row.index)}  basis {row.basis_bps:+.1f} bps  "
        f"funding {row.funding_rate * 100:+.4f}% in {funding_in}\n"
        f"OI {row.open_interest:,.0f} ({pct(row.oi_change_15m)} 15m)  "
        f"surge {row.volume_surge:.1f}x  24h vol {row.quote_volume_24h:,.0f} USDT  "
        f"age {fmt.duration(max(0.0, (now_ms - row.updated_ms) / 1000))} via {row.source}\n"
        f"[dim]{candles}[/dim]"
    )


class TickerDetailScreen(ChartScreen):
    """Ticker facts and the last hour of prices; the symbol is pinned while open, if the engine can."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    INFO_ID = "ticker-info"
    CHART_ID = "ticker-chart"

    def __init__(self, symbol: str, seam: RadarSource | None, clock: Clock) -> None:
        super().__init__(symbol, clock)
        self.seam = seam
        self.pinned = False
        self._shown: tuple[object, ...] | None = None

    def on_mount(self) -> None:
        self.pinned = self.seam.pin(self.symbol) if self.seam is not None else False
        mirror_app_state(self, ("snapshot",))
        self.tick(self.snapshot, force=True)

    def watch_snapshot(self, snapshot: EngineSnapshot | None) -> None:
        self.tick(snapshot)

    def on_unmount(self) -> None:
        if self.seam is not None:
            self.seam.unpin(self.symbol)

    def tick(self, snapshot: EngineSnapshot | None, force: bool = False) -> None:
        """Redraw when the ticker changed, the chart at most once per REDRAW_EVERY_S."""
        if snapshot is None or not self.is_current:
            return
        row = snapshot.universe.row(self.symbol)
        if (row, self.pinned) == self._shown:
            return
        self._shown = (row, self.pinned)
        self.query_one("#ticker-info", Static).update(
            ticker_text(row, snapshot.taken_at_ms, self.pinned)
        )
        if not self._redraw_due(force):
            return
        plot = self._blank_plot()
        plt = plot.plt
        prices = list(self.seam.sparkline(self.symbol, 120)) if self.seam is not None else []
        if len(prices) >= 2:
            plt.plot(prices, marker="braille")
            plt.xticks([0, len(prices) - 1], ["-1h", "now"])
            plt.title(
                f"{fmt.short_symbol(self.symbol)} · last hour of prices ({len(prices)} points)"
            )
        else:
            plt.title("no price history yet")
        plot.refresh()
