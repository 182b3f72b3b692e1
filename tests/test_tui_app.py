"""Pilot tests of the dashboard's key flows over fixed snapshots (no engine)."""

from __future__ import annotations

import msgspec
from textual.widgets import Sparkline, Static

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.tui.fixtures import SYMBOLS, TIMEFRAMES
from scalp_radar.tui.screens.detail import DetailScreen
from scalp_radar.tui.screens.help import HelpScreen
from scalp_radar.tui.screens.main import MainScreen
from scalp_radar.tui.widgets.buffers import BuffersPane
from scalp_radar.tui.widgets.connection import ConnectionPane
from scalp_radar.tui.widgets.radar import RadarPane, RadarRow
from tests.tui_fixtures import degraded_snapshot, healthy_snapshot, static_app


def rows(app) -> list[RadarRow]:
    return list(app.screen.query(RadarRow))


def row_text(row: RadarRow, cls: str) -> str:
    return str(row.query_one(f".{cls}", Static).render())


async def test_radar_shows_one_row_per_symbol_with_selected_timeframe_closes():
    snapshot = healthy_snapshot()
    app, _ = static_app(snapshot)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        radar = rows(app)
        assert [r.symbol for r in radar] == list(SYMBOLS)
        btc = snapshot.stream("BTC/USDT:USDT", "1m")
        assert radar[0].query_one(Sparkline).data == list(btc.recent_closes)
        assert row_text(radar[0], "price") == "98,414.8"
        assert "live" in row_text(radar[0], "badge")
        assert "DEMO" in app.screen.query_one(RadarPane).border_title
        assert "DEMO" in app.sub_title


async def test_t_cycles_timeframe_and_wraps():
    snapshot = healthy_snapshot()
    app, _ = static_app(snapshot)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        seen = [app.timeframe]
        for _ in TIMEFRAMES:
            await pilot.press("t")
            seen.append(app.timeframe)
        assert seen == [*TIMEFRAMES, TIMEFRAMES[0]]
        await pilot.press("t")  # 5m
        await pilot.pause()
        eth = rows(app)[1]
        assert eth.query_one(Sparkline).data == list(
            snapshot.stream(eth.symbol, "5m").recent_closes
        )
        assert "5m" in app.screen.query_one(RadarPane).border_title


async def test_j_k_and_arrows_move_the_selection_with_wrap():
    app, _ = static_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.selected == 0
        await pilot.press("j")
        assert app.selected == 1
        await pilot.press("down", "down")
        assert app.selected == 0  # wrapped
        await pilot.press("k")
        assert app.selected == 2
        await pilot.press("up")
        assert app.selected == 1
        await pilot.pause()
        assert [r.has_class("-selected") for r in rows(app)] == [False, True, False]
        assert app.selected_symbol == SYMBOLS[1]


async def test_degraded_snapshot_shows_problems_first():
    app, _ = static_app(degraded_snapshot(), demo=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "stale" in row_text(rows(app)[0], "badge")
        assert "retry#3" in row_text(rows(app)[2], "badge")
        conn = app.screen.query_one(ConnectionPane)
        first = [str(r.key.value) for r in conn.ordered_rows][:4]
        assert first == [
            "SOL/USDT:USDT 1h",
            "SOL/USDT:USDT 1m",
            "SOL/USDT:USDT 5m",
            "BTC/USDT:USDT 1m",
        ]
        buffers = app.screen.query_one(BuffersPane)
        assert str(buffers.get_cell("ETH/USDT:USDT", "1m")) == "455!"
        assert "open gaps" in buffers.border_subtitle
        assert "DEMO" not in app.screen.query_one(RadarPane).border_title


async def test_new_snapshot_updates_cells_in_place():
    snapshot = healthy_snapshot()
    app, source = static_app(snapshot)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        buffers = app.screen.query_one(BuffersPane)
        row_keys = [r.key for r in buffers.ordered_rows]
        btc = snapshot.stream("BTC/USDT:USDT", "1m")
        closes = (*btc.recent_closes[1:], 99_999.9)
        changed = msgspec.structs.replace(
            btc,
            recent_closes=closes,
            last_candle=msgspec.structs.replace(btc.last_candle, close=99_999.9),
            buffer_len=321,
        )
        streams = tuple(changed if s is btc else s for s in snapshot.streams)
        source.set_snapshot(msgspec.structs.replace(snapshot, streams=streams))
        app.refresh_snapshot()
        await pilot.pause()
        assert row_text(rows(app)[0], "price") == "99,999.9"
        assert rows(app)[0].query_one(Sparkline).data[-1] == 99_999.9
        assert str(buffers.get_cell("BTC/USDT:USDT", "1m")) == "321"
        assert [r.key for r in buffers.ordered_rows] == row_keys  # rows kept, cells updated


async def test_waits_for_first_snapshot_then_fills():
    app, source = static_app(None)
    source.set_snapshot(None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert rows(app) == []
        assert app.screen.query(".radar-empty")
        await pilot.press("b")
        assert isinstance(app.screen, MainScreen)  # nothing to backfill yet
        source.set_snapshot(healthy_snapshot())
        app.refresh_snapshot()
        await pilot.pause()
        assert len(rows(app)) == 3
        assert "live" in row_text(rows(app)[0], "badge")


async def test_help_opens_and_escape_closes():
    app, _ = static_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_enter_opens_detail_chart_for_selected_symbol():
    app, _ = static_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("j", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.symbol == SYMBOLS[1]
        info = str(app.screen.query_one("#detail-info", Static).render())
        assert "ETH/USDT 1m" in info
        await pilot.press("t")
        await pilot.pause()
        assert "ETH/USDT 5m" in str(app.screen.query_one("#detail-info", Static).render())
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_detail_redraw_is_throttled_to_the_app_clock():
    snapshot = healthy_snapshot()
    app, source = static_app(snapshot)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        drawn = screen._drawn
        btc = snapshot.stream("BTC/USDT:USDT", "1m")
        newer = msgspec.structs.replace(btc, recent_closes=(*btc.recent_closes, 1.0))
        source.set_snapshot(
            msgspec.structs.replace(snapshot, streams=(newer, *snapshot.streams[1:]))
        )
        app.refresh_snapshot()
        assert screen._drawn == drawn  # frozen clock: < 1 s since the last draw
        app.clock.set_time(app.clock.time + 1.5)
        app.refresh_snapshot()
        assert screen._drawn != drawn


async def test_q_quits_and_stops_the_source_once():
    app, source = static_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        assert app.wait_source_stopped(1.0)
        assert source.stop_calls == 1
    assert app.wait_source_stopped(1.0)
    assert source.stop_calls == 1  # unmount did not stop it twice
    assert app.return_code == 0


async def test_q_quits_from_the_detail_screen():
    app, source = static_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter", "q")
    assert app.wait_source_stopped(1.0)
    assert source.stop_calls == 1


async def test_leaving_without_q_still_stops_the_source():
    app, source = static_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert source.stop_calls == 0
    assert app.wait_source_stopped(1.0)
    assert source.stop_calls == 1


async def test_no_color_env_renders_monochrome(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app, _ = static_app(degraded_snapshot())
    assert app.no_color
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        svg = app.export_screenshot()
    # Monochrome: the badge text carries the meaning, and no red/green/yellow fills remain.
    assert "stale" in svg and "retry#3" in svg
    for colour in ("#98e024", "#f4005f", "#fd971f"):
        assert colour not in svg


def test_snapshot_source_protocol_and_static_plan():
    from scalp_radar.history.types import BackfillRequest
    from scalp_radar.tui.source import SnapshotSource, StaticSource

    source = StaticSource(healthy_snapshot())
    assert isinstance(source, SnapshotSource)
    day = 86_400_000
    plan = source.plan_backfill(BackfillRequest(("BTC/USDT:USDT",), ("1m", "1h"), 0, day)).result()
    assert plan.requests == 8 + 1  # 1440 one-minute candles in 200s, 24 hourly in one
    assert plan.expected_candles == 1440 + 24
    assert isinstance(source.snapshot(), EngineSnapshot)


async def test_main_screen_keeps_updating_under_the_backfill_modal():
    snapshot = healthy_snapshot()
    app, source = static_app(snapshot)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("b")
        btc = snapshot.stream("BTC/USDT:USDT", "1m")
        moved = msgspec.structs.replace(
            btc, last_candle=msgspec.structs.replace(btc.last_candle, close=1234.5)
        )
        source.set_snapshot(
            msgspec.structs.replace(snapshot, streams=(moved, *snapshot.streams[1:]))
        )
        app.refresh_snapshot()
        await pilot.pause()
        main = app.screen_stack[-2]
        assert isinstance(main, MainScreen)
        assert str(main.query(RadarRow).first().query_one(".price", Static).render()) == "1,234.5"


async def test_engine_demo_flag_forces_the_demo_badge():
    app, _ = static_app(healthy_snapshot(demo=True), demo=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "DEMO" in app.sub_title
        assert "DEMO" in app.screen.query_one(RadarPane).border_title


async def test_q_quits_from_the_help_screen():
    app, source = static_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark", "q")
    assert app.wait_source_stopped(1.0)
    assert source.stop_calls == 1


async def test_long_watchlist_scrolls_to_keep_the_selection_visible():
    from scalp_radar.tui.fixtures import many_symbols_snapshot

    app, _ = static_app(many_symbols_snapshot(10))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        scroller = app.screen.query_one("#radar-rows")
        assert len(rows(app)) == 10 and scroller.scroll_y == 0
        await pilot.press("k")  # wraps to the last symbol
        await pilot.pause()
        await pilot.pause()
        last = rows(app)[-1]
        assert last.has_class("-selected") and scroller.scroll_y > 0
        assert scroller.region.contains_region(last.region)
        assert app.screen.query_one(ConnectionPane).region.height >= 5  # status panes keep room


async def test_refresh_tick_during_modal_teardown_does_not_crash():
    # Regression: the refresh timer fired while the app was tearing the backfill modal down
    # (its widgets already removed) and NoMatches escaped, crashing the app on exit.
    app, _ = static_app(healthy_snapshot())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        await app.screen.query_one("#bf-buttons").remove()
        app.refresh_snapshot()
        await pilot.pause()
        assert app.is_running


async def test_symbols_changing_in_two_snapshots_in_a_row_do_not_crash_the_radar():
    """Regression: a second symbol change before the first one's rows were gone queried the
    dying rows (their cells already removed): NoMatches '.mark' crashed the app. A pinned or hot
    symbol's streams arriving one timeframe after the other does exactly this."""
    snapshot = healthy_snapshot()
    app, source = static_app(snapshot)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first = snapshot.symbols[0]
        fewer = msgspec.structs.replace(
            snapshot, streams=tuple(s for s in snapshot.streams if s.symbol != first)
        )
        for snap in (fewer, snapshot, fewer):  # no pause in between, as snapshots may come
            source.set_snapshot(snap)
            app.refresh_snapshot()
        await pilot.pause()
        assert [r.symbol for r in rows(app)] == list(fewer.symbols)
