"""Help: every key, and what the panes and badges mean."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]Keys[/b]
  [b]↑ ↓ / j k[/b]  select a symbol          [b]t[/b]      cycle the timeframe
  [b]enter[/b]      candlestick chart         [b]b[/b]      backfill history
  [b]?[/b]          this help                 [b]q[/b]      quit (stops the engine)
  [b]tab[/b]        focus a pane: ↑↓ scroll, enter opens a row's full text
  [b]escape[/b]     close a dialog or chart; back to the radar from a pane
  [b]x[/b]          cancel the running backfill (ctrl+x in its dialog)

[b]Market radar[/b] (when a universe runs)
  [b]s[/b] sort by next column  [b]r[/b] reverse  [b]/[/b] filter (esc clears)  [b]p[/b] panes
  [b]1[/b] Movers [b]2[/b] Surge [b]3[/b] Funding [b]4[/b] Spread [b]5[/b] OI [b]6[/b] Watchlist
  [b]w[/b] watch/unwatch  [b]enter[/b] detail  [b]ctrl+p[/b] command palette
  age: [b]48s![/b] stale ticker  [b]2sr[/b] from REST (its shard is down)

[b]Feed badges[/b]   ● live   ◌ stale (no update for a while)
              ↻ retry#n (reconnecting, next try in)   ✖ failed

[b]Buffers[/b]  candles held per timeframe (of 500); [b]![/b] = open gap;
          gaps d/h/o = detected / healed / still open
[b]Rate limiter[/b]  tokens left per bucket, queued requests, 429s seen
[b]Connection[/b]  problem streams first; rc = reconnects; clk = exchange
          clock offset
"""


class HelpScreen(ModalScreen[None]):
    """A modal listing the keys; escape or ? closes it (q still quits)."""

    BINDINGS = [
        Binding("escape,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Help"
            box.border_subtitle = "escape to close"
            yield Static(HELP, id="help-text")
