"""Rate-limiter pane: token level per category as a bar, queued waiters, 429s seen."""

from __future__ import annotations

from rich.text import Text

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.tui import format as fmt
from scalp_radar.tui.widgets.paint import set_border_subtitle
from scalp_radar.tui.widgets.table import Cell, PaneTable

BAR_WIDTH = 8
SHORT = {"market_data": "market", "trade": "trade", "account": "account", "position": "position"}


class LimiterPane(PaneTable):
    """One row per category: a bar of tokens left, tokens/capacity, queued, 429s."""

    def __init__(self, *, id: str = "limiter") -> None:  # noqa: A002
        cols = [
            ("cat", "bucket", 8),
            ("bar", "tokens", BAR_WIDTH),
            ("lvl", "", 5),
            ("q", "q", 3),
            ("429", "429", 3),
        ]
        super().__init__("Rate limiter", cols, id=id)

    def show(self, snapshot: EngineSnapshot) -> None:
        rows: dict[str, dict[str, Cell]] = {}
        for b in snapshot.limiter:
            frac = b.tokens / b.capacity if b.capacity else 0.0
            rows[b.category] = {
                "cat": SHORT.get(b.category, b.category[:8]),
                "bar": fmt.level_bar(frac, BAR_WIDTH),
                "lvl": Text(f"{b.tokens:.0f}/{b.capacity:.0f}", justify="right"),
                "q": Text(
                    str(b.queued), style="bold yellow" if b.queued else "dim", justify="right"
                ),
                "429": Text(
                    str(b.rejected_429),
                    style="bold red" if b.rejected_429 else "dim",
                    justify="right",
                ),
            }
        self.sync_rows(rows)
        waits = max((b.max_wait_s for b in snapshot.limiter), default=0.0)
        set_border_subtitle(self, f"max wait {fmt.duration(waits)}" if waits >= 0.5 else "")
