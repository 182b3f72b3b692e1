"""A snapshot tick repaints only what changed on screen, folded panes do no work, and the
dashboard's start-up heap is frozen out of the collector's full passes."""

from __future__ import annotations

import gc

import msgspec
from textual._compositor import Compositor
from textual.clock import MockClock
from textual.geometry import Region

from scalp_radar.tui.app import make_app
from scalp_radar.tui.radar_source import StaticRadarSource
from scalp_radar.tui.widgets.connection import ConnectionPane
from scalp_radar.tui.widgets.market_radar import MarketRadar
from tests.tui_fixtures import radar_app, universe_snapshot

SIZE = (80, 24)


class RepaintSpy:
    """Counts the compositor's full-screen repaints and collects the regions of partial ones."""

    def __init__(self, monkeypatch) -> None:  # noqa: ANN001
        self.full = 0
        self.regions: list[Region] = []
        full, partial = Compositor.render_full_update, Compositor.render_partial_update

        def render_full_update(compositor: Compositor, simplify: bool = False):  # noqa: ANN202
            self.full += 1
            return full(compositor, simplify)

        def render_partial_update(compositor: Compositor):  # noqa: ANN202
            self.regions.extend(compositor._dirty_regions)
            return partial(compositor)

        monkeypatch.setattr(Compositor, "render_full_update", render_full_update)
        monkeypatch.setattr(Compositor, "render_partial_update", render_partial_update)

    def reset(self) -> None:
        self.full = 0
        self.regions.clear()


async def test_a_snapshot_tick_repaints_the_radar_rows_not_the_whole_screen(tmp_path, monkeypatch):
    # Regression: the app's `snapshot` was a reactive, which repaints its owner: for the app that
    # is the whole screen, 4 times a second (a key press waited behind every full repaint).
    snap = universe_snapshot(500)
    app, source = radar_app(snap, state_file=tmp_path / "s.json")
    spy = RepaintSpy(monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(20):  # start-up settles (footer, scrollbar): until a pause paints nothing
            spy.reset()
            await pilot.pause()
            if not spy.regions and not spy.full:
                break
        radar = app.screen.query_one(MarketRadar)
        # The third row on screen got a new price (a new snapshot object), then the same again.
        rows = list(snap.universe.rows)
        i = rows.index(radar.order[2])
        rows[i] = msgspec.structs.replace(rows[i], last=rows[i].last * 1.01)
        universe = msgspec.structs.replace(snap.universe, rows=tuple(rows))
        source.set_snapshot(msgspec.structs.replace(snap, universe=universe))
        app.refresh_snapshot()
        await pilot.pause()
        app.refresh_snapshot()
        await pilot.pause()
        assert spy.full == 0
        # Only the changed row's line: not the panel's border, the header or the footer.
        assert spy.regions, "the changed row was not repainted"
        table = radar.content_region
        assert all(table.contains_region(r) for r in spy.regions), (table, spy.regions)
        assert {r.y for r in spy.regions} == {table.y + 1 + 2}  # (below the column header)


async def test_folded_panes_skip_snapshots_and_catch_up_when_shown(tmp_path, monkeypatch):
    # Regression: at 80x24 the status panes are folded away under the market radar, yet each
    # rebuilt its rows and border for every snapshot.
    shown: list[int] = []
    show = ConnectionPane.show

    def counting_show(pane: ConnectionPane, snapshot) -> None:  # noqa: ANN001
        shown.append(snapshot.taken_at_ms)
        show(pane, snapshot)

    monkeypatch.setattr(ConnectionPane, "show", counting_show)
    snap = universe_snapshot(60)
    app, source = radar_app(snap, state_file=tmp_path / "s.json")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pane = app.screen.query_one(ConnectionPane)
        assert not pane.region  # folded away
        shown.clear()
        for k in range(1, 4):
            source.set_snapshot(msgspec.structs.replace(snap, taken_at_ms=snap.taken_at_ms + k))
            app.refresh_snapshot()
            await pilot.pause()
        assert shown == []
        await pilot.press("p")  # unfold: the pane shows the latest snapshot at once
        await pilot.pause()
        assert pane.region
        assert shown and set(shown) == {snap.taken_at_ms + 3}  # (the 4 Hz tick may show it again)
        assert pane.row_count == len(snap.streams)


async def test_the_dashboard_freezes_the_start_up_heap_once_the_radar_is_shown(tmp_path):
    # Full collections walked the whole start-up heap every few seconds (up to 455 ms with 500
    # rows on a loaded machine, 39 ms once frozen), pausing keys and the engine thread alike.
    gc.unfreeze()
    snap = universe_snapshot(60)
    empty = msgspec.structs.replace(snap, universe=msgspec.structs.replace(snap.universe, rows=()))
    source = StaticRadarSource(empty)
    app = make_app(source, clock=MockClock(), state_file=tmp_path / "s.json", freeze_heap=True)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert gc.get_freeze_count() == 0  # markets not loaded yet: start-up goes on
            source.set_snapshot(snap)
            app.refresh_snapshot()
            await pilot.pause()
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the test process's heap is the collector's again
