"""Check boxes that stay readable without colour (NO_COLOR): unchecked boxes show no X."""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList
from textual.widgets.option_list import OptionDoesNotExist


class CheckBox(Checkbox):
    """A Checkbox whose mark is blank when off (Textual draws X in both states, by colour)."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # noqa: N802
        return "X" if self.value else " "


class CheckList(SelectionList[str]):
    """A SelectionList whose unselected entries show an empty box."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        if selection.value in self._selected:
            return strip
        segments = list(strip)
        if len(segments) > 1 and segments[1].text == "X":
            segments[1] = Segment(" ", segments[1].style, segments[1].control)
            return Strip(segments, strip.cell_length)
        return strip
