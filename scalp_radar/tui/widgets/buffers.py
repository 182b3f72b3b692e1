"""Buffers pane: fill per symbol x timeframe and gap counts (detected / healed / open)."""

from __future__ import annotations

from rich.text import Text

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.tui import format as fmt
from scalp_radar.tui.widgets.paint import set_border_subtitle, set_border_title
from scalp_radar.tui.widgets.table import Cell, PaneTable


class BuffersPane(PaneTable):
    """Rows are symbols; one column per timeframe showing n (of capacity); a gaps column."""

    def __init__(self, *, id: str = "buffers") -> None:  # noqa: A002
        super().__init__("Buffers", [], id=id)
        self.timeframes: tuple[str, ...] = ()

    def show(self, snapshot: EngineSnapshot) -> None:
        if snapshot.timeframes != self.timeframes:
            self.timeframes = snapshot.timeframes
            cols = [("sym", "", 4)] + [(tf, tf, 4) for tf in self.timeframes]
            self.set_columns([*cols, ("gaps", "d/h/o", 7)])
        rows: dict[str, dict[str, Cell]] = {}
        capacity = 0
        warnings = 0
        for symbol in snapshot.symbols:
            cells: dict[str, Cell] = {"sym": fmt.base(symbol)}
            detected = healed = open_ = 0
            for tf in self.timeframes:
                s = snapshot.stream(symbol, tf)
                if s is None:
                    cells[tf] = Text("—", style="dim")
                    continue
                capacity = max(capacity, s.buffer_capacity)
                detected += s.gaps_detected
                healed += s.gaps_healed
                open_ += s.gaps_open
                full = s.buffer_len >= s.buffer_capacity
                mark = "!" if s.gaps_open else ""
                style = "bold red" if s.gaps_open else "" if full else "yellow"
                cells[tf] = Text(f"{s.buffer_len}{mark}", style=style, justify="right")
            warnings += open_
            gap_style = "bold red" if open_ else "yellow" if detected > healed else "dim"
            cells["gaps"] = Text(f"{detected}/{healed}/{open_}", style=gap_style)
            rows[symbol] = cells
        self.sync_rows(rows)
        set_border_title(self, f"Buffers n/{capacity}" if capacity else "Buffers")
        notes = [f"[bold red]{warnings} open gaps[/]"] if warnings else []
        dropped = fmt.dropped_counts(snapshot.streams)
        if dropped:
            notes.append(f"[yellow]dropped {dropped}[/]")
        set_border_subtitle(self, " · ".join(notes))
