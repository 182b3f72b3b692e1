"""Cheap repaints: border text assigned only when it changed, and whether a widget is shown.

Assigning `border_title` parses its markup and repaints the widget even when the text is the
same; a pane nobody sees (display: none, or inside a hidden container) need not follow snapshots.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from textual.dom import DOMNode
from textual.widget import Widget

_borders: WeakKeyDictionary[Widget, tuple[str | None, str | None]] = WeakKeyDictionary()


def set_border_title(widget: Widget, title: str) -> None:
    """`widget.border_title = title`, skipped when it already shows `title`."""
    shown_title, shown_subtitle = _borders.get(widget, (None, None))
    if title != shown_title:
        _borders[widget] = (title, shown_subtitle)
        widget.border_title = title


def set_border_subtitle(widget: Widget, subtitle: str) -> None:
    """`widget.border_subtitle = subtitle`, skipped when it already shows `subtitle`."""
    shown_title, shown_subtitle = _borders.get(widget, (None, None))
    if subtitle != shown_subtitle:
        _borders[widget] = (shown_title, subtitle)
        widget.border_subtitle = subtitle


def is_displayed(widget: Widget) -> bool:
    """False when the widget or an ancestor has display: none (it is not on the screen)."""
    node: DOMNode | None = widget
    while isinstance(node, Widget):
        if not node.display:
            return False
        node = node.parent
    return True
