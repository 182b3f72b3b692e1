"""The whole text of a row that the pane had to cut (an incident, a stream's reason)."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class FullTextScreen(ModalScreen[None]):
    """Wrapped, scrollable text; escape or enter closes it."""

    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="fulltext-box") as box:
            box.border_title = self.title_text
            box.border_subtitle = "↑↓ scroll · esc close"
            # Engine text may contain [brackets] (e.g. "[Errno 111]"): never read it as markup.
            yield Static(escape(self.text), id="fulltext-text")
