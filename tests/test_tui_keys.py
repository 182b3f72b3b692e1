"""Pilot tests of the dashboard's keys: cursor bursts, pane focus and scrolling, full-text rows."""

from __future__ import annotations

from textual import events

from scalp_radar.tui.fixtures import many_symbols_snapshot
from scalp_radar.tui.widgets.radar import RadarRow
from tests.tui_fixtures import static_app


async def test_fast_burst_of_j_keeps_the_cursor_in_view():
    # Regression: after a fast burst of j/k the ▶ row could stay scrolled out of view.
    app, _ = static_app(many_symbols_snapshot(12))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        scroller = app.screen.query_one("#radar-rows")
        # Queue all 30 presses before the app runs any of them (a key-repeat burst over SSH).
        for _ in range(30):
            app.post_message(events.Key("j", "j"))
        await pilot.pause()
        await pilot.pause()
        rows = list(app.screen.query(RadarRow))
        selected = rows[app.selected]
        assert app.selected == 30 % 12
        assert selected.has_class("-selected")
        assert scroller.region.contains_region(selected.region), (
            scroller.scroll_y,
            selected.region,
        )
