"""Incidents pane: the latest disconnects, gaps, heals and errors, newest first."""

from __future__ import annotations

from rich.text import Text

from scalp_radar.core import timefmt
from scalp_radar.core.snapshot import EngineSnapshot, Incident
from scalp_radar.tui import format as fmt
from scalp_radar.tui.widgets.paint import set_border_title
from scalp_radar.tui.widgets.table import Cell, PaneTable

KIND_STYLE = {
    "error": "bold red",
    "disconnect": "red",
    "stale": "yellow",
    "gap": "yellow",
    "invalid": "yellow",
    "reconnect": "cyan",
    "heal": "green",
    "backfill": "blue",
}
MAX_ROWS = 50


class IncidentsPane(PaneTable):
    """Rebuilt only when the incident tuple changes (incidents are rare)."""

    def __init__(self, *, id: str = "incidents") -> None:  # noqa: A002
        cols = [("at", "UTC", 8), ("kind", "kind", 6), ("what", "what", None)]
        super().__init__("Incidents", cols, id=id)
        self._shown: tuple[Incident, ...] | None = None
        self._by_key: dict[str, Incident] = {}

    def show(self, snapshot: EngineSnapshot) -> None:
        incidents = snapshot.incidents[:MAX_ROWS]
        if incidents == self._shown:
            return
        self._shown = incidents
        rows: dict[str, dict[str, Cell]] = {}
        self._by_key = {f"{inc.at_ms}-{i}": inc for i, inc in enumerate(incidents)}
        for i, inc in enumerate(incidents):
            where = (
                f"{fmt.base(inc.symbol)} {inc.timeframe or ''}".strip() + " " if inc.symbol else ""
            )
            rows[f"{inc.at_ms}-{i}"] = {
                "at": fmt.clock_time(inc.at_ms),
                "kind": Text(inc.kind[:6], style=KIND_STYLE.get(inc.kind, "")),
                "what": f"{where}{inc.message}",
            }
        self.sync_rows(rows)
        set_border_title(self, f"Incidents ({len(snapshot.incidents)})")

    def details(self, row_key: str) -> tuple[str, str]:
        """The whole incident: when, what kind, where, the full message, how long."""
        inc = self._by_key.get(row_key)
        if inc is None:
            return super().details(row_key)
        where = f"{inc.symbol or 'all streams'} {inc.timeframe or ''}".strip()
        lines = [f"at:    {timefmt.utc_minute(inc.at_ms)}:{timefmt.clock_time(inc.at_ms)[-2:]} UTC"]
        lines += [f"kind:  {inc.kind}", f"where: {where}"]
        if inc.duration_s is not None:
            lines.append(f"took:  {timefmt.duration(inc.duration_s)}")
        lines += ["", inc.message]
        return f"Incident · {inc.kind}", "\n".join(lines)
