"""A DataTable base for the status panes: keyed rows, cells repainted only on change.

Focusable (tab): arrows scroll the rows, enter posts RowSelected so the screen can open the
row's full text, which a narrow pane may cut.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.reactive import var
from textual.widgets import DataTable

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.tui.widgets.paint import is_displayed

Cell = str | Text


class PaneTable(DataTable[Cell]):
    """Rows and columns have explicit keys so ticks use `update_cell` instead of rebuilding."""

    snapshot: var[EngineSnapshot | None] = var(None, always_update=True, init=False)

    def __init__(
        self,
        title: str,
        columns: Sequence[tuple[str, str, int | None]],
        *,
        id: str,  # noqa: A002
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, show_cursor=False)
        self.border_title = title
        self._columns_spec: tuple[tuple[str, str, int | None], ...] = ()
        self._cells: dict[tuple[str, str], Cell] = {}
        self._row_order: tuple[str, ...] = ()
        self._shown_snapshot: EngineSnapshot | None = None
        self.set_columns(columns)

    def watch_snapshot(self, snapshot: EngineSnapshot | None) -> None:
        # A hidden pane (folded away at 80x24) skips snapshots and catches up when shown.
        if snapshot is not None and is_displayed(self):
            self._shown_snapshot = snapshot
            self.show(snapshot)

    def on_show(self) -> None:
        if self.snapshot is not None and self.snapshot is not self._shown_snapshot:
            self._shown_snapshot = self.snapshot
            self.show(self.snapshot)

    def show(self, snapshot: EngineSnapshot) -> None:
        """Show `snapshot` (each pane its part)."""
        raise NotImplementedError

    def details(self, row_key: str) -> tuple[str, str]:
        """(title, full text) of one row, for the full-text modal."""
        cells = [self._plain(self._cells.get((row_key, c[0]), "")) for c in self._columns_spec]
        return row_key, "\n".join(
            f"{label or key}: {cell}"
            for (key, label, _), cell in zip(self._columns_spec, cells, strict=True)
        )

    @staticmethod
    def _plain(cell: Cell) -> str:
        return cell.plain if isinstance(cell, Text) else cell

    # The cursor only shows while the pane has the keys.
    def on_focus(self) -> None:
        self.show_cursor = True

    def on_blur(self) -> None:
        self.show_cursor = False

    def set_columns(self, columns: Sequence[tuple[str, str, int | None]]) -> None:
        """Replace the columns (key, label, width); rows are rebuilt on the next sync."""
        columns = tuple(columns)
        if columns == self._columns_spec:
            return
        self.clear(columns=True)
        self._columns_spec = columns
        self._cells = {}
        self._row_order = ()
        for key, label, width in columns:
            self.add_column(label, key=key, width=width)

    def sync_rows(self, rows: dict[str, dict[str, Cell]]) -> None:
        """Make the table show `rows` (in order): update changed cells, add/remove/reorder rows."""
        order = tuple(rows)
        if order != self._row_order:
            # Membership or order changed (rare: a stream changed state): rebuild once, keeping
            # the cursor on the same row when it still exists.
            at = self.cursor_row
            cursor_key = self._row_order[at] if 0 <= at < len(self._row_order) else None
            self.clear()
            self._cells = {}
            for key in order:
                cells = rows[key]
                self.add_row(*(cells.get(c[0], "") for c in self._columns_spec), key=key)
                for col, value in cells.items():
                    self._cells[(key, col)] = value
            self._row_order = order
            if cursor_key in order:
                self.move_cursor(row=order.index(cursor_key), animate=False)
            return
        for key, cells in rows.items():
            for col, value in cells.items():
                if self._cells.get((key, col)) != value:
                    self._cells[(key, col)] = value
                    self.update_cell(key, col, value)
