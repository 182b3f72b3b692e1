"""Connection pane: state per stream (problems first), reconnects, age, updates/s, why it is down;
process facts and failure counts in the border."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text

from scalp_radar.core import timefmt
from scalp_radar.core.snapshot import EngineSnapshot, StreamSnapshot
from scalp_radar.tui import format as fmt
from scalp_radar.tui.widgets.paint import set_border_subtitle, set_border_title
from scalp_radar.tui.widgets.table import Cell, PaneTable


class ConnectionPane(PaneTable):
    """One row per stream; uptime, clock offset and total reconnects in the border."""

    def __init__(self, *, id: str = "connection") -> None:  # noqa: A002
        cols = [
            ("stream", "stream", 7),
            ("state", "state", 10),
            ("age", "age", 5),
            ("ups", "upd/s", 5),
            ("rc", "rc", 2),
            ("why", "why", None),
        ]
        super().__init__("Connection", cols, id=id)
        self._streams: dict[str, StreamSnapshot] = {}

    def show(self, snapshot: EngineSnapshot) -> None:
        index = {s.key: i for i, s in enumerate(snapshot.streams)}
        streams = sorted(snapshot.streams, key=lambda s: (fmt.STATE_RANK[s.state], index[s.key]))
        self._streams = {s.key: s for s in streams}
        rows: dict[str, dict[str, Cell]] = {}
        for s in streams:
            rows[s.key] = {
                "stream": f"{fmt.base(s.symbol)} {s.timeframe}",
                "state": fmt.badge(s, compact=True),
                "age": Text(fmt.duration(s.last_update_age_s), justify="right"),
                "ups": Text(f"{s.updates_per_s:.1f}", justify="right"),
                "rc": Text(
                    str(s.reconnects), style="yellow" if s.reconnects else "dim", justify="right"
                ),
                "why": Text(fmt.why_down(s) or "", style="red"),
            }
        self.sync_rows(rows)
        c = snapshot.connection
        live = sum(1 for s in snapshot.streams if s.state.value == "live")
        ws = "" if c.websocket_enabled else " · ws off"
        db = "" if c.database_ok else " · [bold red]db down[/]"
        total = sum(s.updates_per_s for s in snapshot.streams)
        title = f"Connection {live}/{len(snapshot.streams)} live · {total:.0f} upd/s"
        if c.problem:
            title += f" · [bold red]✖ {escape(c.problem)}[/]"
        set_border_title(self, title)
        faults = fmt.fault_counts(c)
        set_border_subtitle(
            self,
            f"up {fmt.duration(c.uptime_s)} · rc {c.reconnects} · clk {timefmt.offset_ms(c.clock_offset_ms)}{ws}{db}"
            + (f" · [yellow]{faults}[/]" if faults else ""),
        )

    def details(self, row_key: str) -> tuple[str, str]:
        """Everything known about one stream, reason and last error in full."""
        s = self._streams.get(row_key)
        if s is None:
            return super().details(row_key)
        lines = [
            f"state:       {fmt.badge(s).plain}",
            f"last update: {timefmt.duration(s.last_update_age_s)} ago",
            f"updates/s:   {s.updates_per_s:.1f}",
            f"reconnects:  {s.reconnects}",
        ]
        if s.attempt:
            lines.append(f"attempt:     {s.attempt}")
        if s.next_retry_in_s is not None:
            lines.append(f"next try in: {timefmt.duration(s.next_retry_in_s)}")
        lines.append(f"buffer:      {s.buffer_len}/{s.buffer_capacity} candles")
        lines.append(
            f"gaps:        {s.gaps_detected} found, {s.gaps_healed} healed, {s.gaps_open} open"
        )
        if s.reason:
            lines += ["", f"reason: {s.reason}"]
        if s.last_error and s.last_error != s.reason:
            lines += ["", f"last error: {s.last_error}"]
        return f"Stream {s.key}", "\n".join(lines)
