"""The market radar driven through Textual's Pilot: sorting, filter, presets, `w`, the cursor."""

from __future__ import annotations

import json

import msgspec

from scalp_radar.tui.radar_view import RadarView, visible_rows
from scalp_radar.tui.screens.ticker_detail import TickerDetailScreen
from scalp_radar.tui.widgets.market_radar import MarketRadar
from tests.tui_fixtures import radar_app, universe_snapshot

SIZE = (80, 24)


def market(app) -> MarketRadar:  # noqa: ANN001
    return app.screen.query_one(MarketRadar)


def bases(radar: MarketRadar, n: int = 5) -> list[str]:
    return [r.symbol.split("/")[0] for r in radar.order[:n]]


async def test_opens_on_movers_and_s_cycles_r_reverses(tmp_path):
    app, _ = radar_app(state_file=tmp_path / "s.json")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        radar = market(app)
        assert radar.view.preset == "movers" and bases(radar, 1) == ["LINK"]
        await pilot.press("s")  # next column after 5m%: 1h%
        assert radar.view.sort == "change_1h" and radar.view.preset is None
        ups = [r.change_1h for r in radar.order if r.change_1h == r.change_1h]
        assert ups == sorted(ups, reverse=True)
        await pilot.press("r")
        downs = [r.change_1h for r in radar.order if r.change_1h == r.change_1h]
        assert downs == sorted(downs)


async def test_number_keys_pick_presets(tmp_path):
    app, _ = radar_app(state_file=tmp_path / "s.json")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        firsts = {}
        for key in "2345":
            await pilot.press(key)
            firsts[key] = (market(app).view.preset, bases(market(app), 1)[0])
        assert firsts == {
            "2": ("surge", "TRX"),
            "3": ("funding", "INJ"),
            "4": ("spread", "PEPE"),
            "5": ("oi", "PYTH"),
        }
        await pilot.press("6")  # watchlist = the configured assets (no user symbols yet)
        assert sorted(bases(market(app))) == ["BTC", "ETH", "SOL"]


async def test_slash_filters_escape_clears_and_the_cursor_keeps_its_symbol(tmp_path):
    app, _ = radar_app(state_file=tmp_path / "s.json")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        radar = market(app)
        assert radar.select_symbol("ETH/USDT:USDT")
        await pilot.press("slash", "e", "t", "h")
        assert sorted(bases(radar, 10)) == ["ETH", "ETHFI"]
        assert radar.selected_symbol == "ETH/USDT:USDT"
        await pilot.press("escape")
        assert radar.view.filter == "" and len(radar.order) == 60
        assert radar.selected_symbol == "ETH/USDT:USDT"
        assert app.focused is radar


async def test_selection_stays_on_its_symbol_when_a_new_snapshot_reorders(tmp_path):
    app, source = radar_app(state_file=tmp_path / "s.json")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        radar = market(app)
        await pilot.press("down", "down")
        symbol = radar.selected_symbol
        assert radar.cursor == 2 and symbol is not None
        snap = source.snapshot()
        assert snap is not None
        # The selected symbol becomes the biggest mover: it jumps to row 0, the cursor follows.
        rows = tuple(
            msgspec.structs.replace(r, change_5m=25.0) if r.symbol == symbol else r
            for r in snap.universe.rows
        )
        universe = msgspec.structs.replace(snap.universe, rows=rows)
        source.set_snapshot(
            msgspec.structs.replace(snap, universe=universe, taken_at_ms=snap.taken_at_ms + 250)
        )
        app.refresh_snapshot()
        await pilot.pause()
        assert radar.order[0].symbol == symbol
        assert radar.cursor == 0 and radar.selected_symbol == symbol


async def test_w_toggles_the_watchlist_in_the_state_file_and_the_engine_hears_it(tmp_path):
    state = tmp_path / "state" / "user-state.json"
    app, source = radar_app(state_file=state)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        radar = market(app)
        assert radar.select_symbol("PEPE/USDT:USDT")
        await pilot.press("w")
        assert json.loads(state.read_text()) == {"watchlist": ["PEPE/USDT:USDT"]}
        assert source.radar.watchlists[-1] == ("PEPE/USDT:USDT",)
        await pilot.press("6")
        assert sorted(bases(radar)) == ["BTC", "ETH", "PEPE", "SOL"]
        assert radar.select_symbol("PEPE/USDT:USDT")  # a preset puts the cursor on row 0
        await pilot.press("w")
        assert json.loads(state.read_text()) == {"watchlist": []}
        assert "PEPE" not in bases(radar)
    # A new app reads it back.
    state.write_text(json.dumps({"watchlist": ["WIF/USDT:USDT"]}))
    app2, _ = radar_app(state_file=state)
    async with app2.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("6")
        assert "WIF" in bases(market(app2))


async def test_w_on_a_configured_asset_changes_nothing(tmp_path):
    state = tmp_path / "s.json"
    app, _ = radar_app(state_file=state)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert market(app).select_symbol("BTC/USDT:USDT")
        await pilot.press("w")
        assert not state.exists()


async def test_enter_opens_ticker_detail_and_pins_while_open(tmp_path):
    app, source = radar_app(state_file=tmp_path / "s.json")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert market(app).select_symbol("PEPE/USDT:USDT")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TickerDetailScreen)
        assert source.radar.pins == ["PEPE/USDT:USDT"]
        await pilot.press("escape")
        await pilot.pause()
        assert source.radar.pins == []


async def test_a_refresh_renders_only_visible_rows_and_their_sparklines(tmp_path):
    snap = universe_snapshot(500)
    app, source = radar_app(snap, state_file=tmp_path / "s.json")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        radar = market(app)
        assert len(radar.order) == 500
        visible = radar.scrollable_content_region.height - 1
        assert radar.lines_rendered <= 2 * visible  # first paint (maybe twice on resize)
        assert source.radar.spark_calls <= 2 * visible
        before_lines, before_sparks = radar.lines_rendered, source.radar.spark_calls
        # The same snapshot again: nothing re-rendered, no sparkline fetched.
        app.refresh_snapshot()
        await pilot.pause()
        assert radar.lines_rendered == before_lines
        assert source.radar.spark_calls == before_sparks
        # Every ticker new: only the visible rows are rendered again.
        rows = tuple(
            msgspec.structs.replace(r, updated_ms=r.updated_ms + 1) for r in snap.universe.rows
        )
        source.set_snapshot(
            msgspec.structs.replace(
                snap, universe=msgspec.structs.replace(snap.universe, rows=rows)
            )
        )
        app.refresh_snapshot()
        await pilot.pause()
        assert 0 < radar.lines_rendered - before_lines <= visible
        assert 0 < source.radar.spark_calls - before_sparks <= visible


async def test_a_sparkline_that_comes_after_the_first_draw_shows_without_a_new_ticker(tmp_path):
    """Regression: an attached dashboard's first ask for a row's sparkline gets nothing (the
    daemon answers later); the row kept a blank sparkline until its next ticker, minutes on a
    quiet symbol."""
    snap = universe_snapshot()
    app, source = radar_app(snap, state_file=tmp_path / "s.json")
    answers, source.radar.sparks = source.radar.sparks, {}  # nothing has come yet
    bars = set("▁▂▃▄▅▆▇█")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        radar = market(app)
        first = radar.order[0].symbol
        assert answers[first] and not bars & set(radar.render_line(1).text)
        source.radar.sparks = answers  # the daemon's answer arrives
        app.refresh_snapshot()  # the same snapshot: no ticker is new
        await pilot.pause()
        assert bars & set(radar.render_line(1).text)
        drawn = radar.lines_rendered
        app.refresh_snapshot()  # every sparkline there: nothing is drawn again
        await pilot.pause()
        assert radar.lines_rendered == drawn


def test_order_matches_the_pure_logic():
    rows = universe_snapshot().universe.rows
    assert visible_rows(rows, RadarView())[0].symbol == "LINK/USDT:USDT"


async def test_columns_refit_when_rows_arrive_and_the_scrollbar_appears(tmp_path):
    # Regression: laid out for the empty table (no scrollbar), rows then took the scrollbar's
    # cell and the age column was cut off ("ag" / "0" at 80x24 in the demo).
    snap = universe_snapshot()
    empty = msgspec.structs.replace(snap, universe=msgspec.structs.replace(snap.universe, rows=()))
    app, source = radar_app(empty, state_file=tmp_path / "s.json")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        radar = market(app)
        source.set_snapshot(snap)
        app.refresh_snapshot()
        await pilot.pause()
        header = radar.render_line(0).text
        first = radar.render_line(1).text
        assert header.rstrip().endswith("age"), header
        assert first.rstrip().endswith("0s"), first


async def test_keys_typed_right_after_slash_go_into_the_filter(tmp_path):
    # Regression: `/` focused the filter box later (call_later), so a fast typist's next keys
    # ("s" of "sol") still reached the table and re-sorted it instead of filtering.
    from textual import events

    app, _ = radar_app(state_file=tmp_path / "s.json")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key, char in (("slash", "/"), ("s", "s")):
            app.post_message(events.Key(key, char))
        await pilot.pause()
        # The box has the focus now; the rest is typed into it, after what was handed over
        # (regression: focusing selected the handed-over "s" and the next key replaced it).
        await pilot.press("o", "l")
        radar = market(app)
        assert radar.view.filter == "sol" and radar.view.sort == "change_5m"
        assert bases(radar) == ["SOL"]


async def test_watchlist_says_which_watched_symbols_have_no_ticker(tmp_path):
    state = tmp_path / "s.json"
    state.write_text(json.dumps({"watchlist": ["GONE/USDT:USDT", "WIF/USDT:USDT"]}))
    app, _ = radar_app(state_file=state)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("6")
        panel = app.screen.query_one("#radar-panel")
        assert sorted(bases(market(app))) == ["BTC", "ETH", "SOL", "WIF"]
        assert "no ticker for GONE" in str(panel.border_subtitle)
        await pilot.press("1")
        assert "no ticker" not in str(panel.border_subtitle)
