"""A read-only DataTable base for the status panes: keyed rows, cells repainted only on change."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

Cell = str | Text


class PaneTable(DataTable):
    """Rows and columns have explicit keys so ticks use `update_cell` instead of rebuilding."""

    can_focus = False  # keys belong to the radar; panes are read-only

    def __init__(
        self, title: str, columns: Sequence[tuple[str, str, int | None]], *, id: str
    ) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="none", zebra_stripes=False, show_cursor=False)
        self.border_title = title
        self._columns_spec: tuple[tuple[str, str, int | None], ...] = ()
        self._cells: dict[tuple[str, str], Cell] = {}
        self._row_order: tuple[str, ...] = ()
        self.set_columns(columns)

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
            # Membership or order changed (rare: a stream changed state): rebuild once.
            self.clear()
            self._cells = {}
            for key in order:
                cells = rows[key]
                self.add_row(*(cells.get(c[0], "") for c in self._columns_spec), key=key)
                for col, value in cells.items():
                    self._cells[(key, col)] = value
            self._row_order = order
            return
        for key, cells in rows.items():
            for col, value in cells.items():
                if self._cells.get((key, col)) != value:
                    self._cells[(key, col)] = value
                    self.update_cell(key, col, value)
