"""The radar's sort, filter, presets and cursor rules as pure functions (no Textual)."""

from __future__ import annotations

import json
import math

import msgspec
import pytest

from scalp_radar.core.snapshot import TickerRow
from scalp_radar.core.user_state import UserState, UserStateError
from scalp_radar.tui.fixtures import universe_snapshot
from scalp_radar.tui.radar_view import (
    RadarView,
    columns_for,
    cursor_after_reorder,
    sort_keys,
    visible_rows,
)
from scalp_radar.tui.widgets.market_radar import pct_cell, spark_text

ROWS = universe_snapshot().universe.rows


def syms(rows: list[TickerRow]) -> list[str]:
    return [r.symbol.split("/")[0] for r in rows]


class TestPresets:
    def test_each_planted_event_ranks_first_in_its_preset(self):
        firsts = {
            name: syms(visible_rows(ROWS, RadarView().with_preset(name)))[0]
            for name in ("movers", "surge", "funding", "spread", "oi")
        }
        assert firsts == {
            "movers": "LINK",
            "surge": "TRX",
            "funding": "INJ",
            "spread": "PEPE",
            "oi": "PYTH",
        }

    def test_movers_rank_by_size_of_move_either_direction(self):
        rows = visible_rows(ROWS, RadarView().with_preset("movers"))
        sizes = [abs(r.change_5m) for r in rows]
        assert sizes == sorted(sizes, reverse=True)

    def test_watchlist_lists_only_watched_symbols_in_the_current_sort(self):
        view = RadarView().sorted_by("last").with_preset("watchlist")
        rows = visible_rows(ROWS, view, {"BTC/USDT:USDT", "ETH/USDT:USDT", "NOPE/USDT:USDT"})
        assert syms(rows) == ["BTC", "ETH"]
        assert view.sort == "last"

    def test_unknown_preset_is_refused_with_the_choices(self):
        with pytest.raises(ValueError, match="movers, surge"):
            RadarView().with_preset("volatility")


class TestSort:
    def test_unknown_metric_sorts_last_in_both_directions(self):
        view = RadarView().sorted_by("change_1h")
        down = visible_rows(ROWS, view)
        up = visible_rows(ROWS, view.reversed())
        assert syms(down)[-1] == "GALA" and syms(up)[-1] == "GALA"  # GALA has no hour yet
        assert all(not math.isnan(r.change_1h) for r in down[:-1])
        assert [r.change_1h for r in up[:-1]] == sorted(r.change_1h for r in down[:-1])

    def test_cycling_walks_the_sortable_columns_shown_and_wraps(self):
        keys = sort_keys(columns_for(77))
        view = RadarView(sort=keys[-1])
        seen = []
        for _ in keys:
            view = view.cycled(keys)
            seen.append(view.sort)
        assert seen == list(keys)
        assert "spark" not in keys

    def test_sorting_a_column_leaves_a_ranking_preset(self):
        view = RadarView().with_preset("funding").sorted_by("spread_bps")
        assert (view.preset, view.absolute, view.descending) == (None, False, True)

    def test_age_sort_puts_the_oldest_ticker_first(self):
        rows = visible_rows(ROWS, RadarView().sorted_by("updated_ms"))
        assert syms(rows)[0] == "LDO"  # the fixture's stale ticker (48 s old)

    def test_symbol_sort_is_alphabetical(self):
        rows = visible_rows(ROWS, RadarView().sorted_by("symbol").reversed())
        assert syms(rows)[:3] == sorted(syms(rows))[:3]


class TestFilter:
    def test_filter_is_a_case_insensitive_substring_of_the_symbol(self):
        rows = visible_rows(ROWS, RadarView().filtered(" et "))
        assert sorted(syms(rows)) == ["ETC", "ETH", "ETHFI", "FET", "THETA", "VET"]

    def test_filter_applies_inside_the_watchlist(self):
        view = RadarView().with_preset("watchlist").filtered("btc")
        assert syms(visible_rows(ROWS, view, {"BTC/USDT:USDT", "ETH/USDT:USDT"})) == ["BTC"]


class TestCursor:
    def test_cursor_follows_its_symbol_after_a_reorder(self):
        order = visible_rows(ROWS, RadarView().sorted_by("last"))
        assert order[cursor_after_reorder(order, "SOL/USDT:USDT", 0)].symbol == "SOL/USDT:USDT"

    def test_cursor_keeps_its_row_number_when_its_symbol_is_filtered_out(self):
        order = visible_rows(ROWS, RadarView().filtered("ET"))
        assert cursor_after_reorder(order, "SOL/USDT:USDT", 1) == 1
        assert cursor_after_reorder(order, "SOL/USDT:USDT", 40) == len(order) - 1
        assert cursor_after_reorder([], "SOL/USDT:USDT", 5) == 0


class TestColumns:
    @pytest.mark.parametrize(("width", "must", "absent"), [
        (77, {"change_5m", "change_1h", "funding_rate", "spark"}, {"change_24h", "basis_bps"}),
        (117, {"change_15m", "change_24h", "quote_volume_24h"}, {"change_1m"}),
        (157, {"change_1m", "basis_bps"}, set()),
        (197, {"change_1m", "basis_bps"}, set()),
    ])  # fmt: skip
    def test_columns_fit_the_width(self, width: int, must: set[str], absent: set[str]):
        columns = columns_for(width)
        keys = {c.key for c in columns}
        assert must <= keys and not (absent & keys)
        assert sum(c.width for c in columns) + len(columns) - 1 <= width

    def test_percent_cells_fit_six_cells_and_never_show_minus_zero(self):
        assert [pct_cell(v)[0] for v in (1.234, -12.34, 123.4, -0.0001, float("nan"))] == [
            "+1.23", "-12.3", "+123", "0.00", "—",
        ]  # fmt: skip

    def test_sparkline_resamples_to_the_width_and_keeps_the_newest_point(self):
        bars = spark_text([float(i) for i in range(100)], 10)
        assert len(bars) == 10 and bars[-1] == "█" and bars[0] == "▁"
        assert spark_text([1.0], 10) == "" and spark_text([2.0, 2.0], 4) == "▁▁"


class TestUserState:
    def test_toggle_writes_the_file_and_load_reads_it_back(self, tmp_path):
        path = tmp_path / "deep" / "state.json"
        state = UserState.load(path)
        assert state.watchlist == [] and not path.exists()  # reading never creates it
        assert state.toggle("PEPE/USDT:USDT") is True
        assert state.toggle("WIF/USDT:USDT") is True
        assert state.toggle("PEPE/USDT:USDT") is False
        assert json.loads(path.read_text()) == {"watchlist": ["WIF/USDT:USDT"]}
        assert UserState.load(path).watchlist == ["WIF/USDT:USDT"]

    @pytest.mark.parametrize(("text", "why"), [
        ("{not json", "not JSON"),
        ('{"watchlist": "BTC"}', "key 'watchlist': expected a list"),
    ])  # fmt: skip
    def test_a_broken_file_is_one_line_naming_it_and_is_left_untouched(self, tmp_path, text, why):
        path = tmp_path / "state.json"
        path.write_text(text)
        with pytest.raises(UserStateError, match=why) as info:
            UserState.load(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
        assert path.read_text() == text

    def test_env_var_moves_the_default_file(self, tmp_path, monkeypatch):
        from scalp_radar.core.user_state import STATE_FILE_ENV, default_state_file

        monkeypatch.setenv(STATE_FILE_ENV, str(tmp_path / "x.json"))
        assert default_state_file() == tmp_path / "x.json"


def test_fixture_rows_are_deterministic():
    again = universe_snapshot().universe.rows
    assert [msgspec.structs.astuple(r) for r in again[:5]] == [
        msgspec.structs.astuple(r) for r in ROWS[:5]
    ]
