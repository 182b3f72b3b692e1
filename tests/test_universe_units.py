"""The radar's pure parts: metrics with exact numbers (virtual time), ranking, universe
selection, the `universe:` config section, the connection gate and the status line."""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path

import msgspec
import pytest

from scalp_radar.app import arg_types
from scalp_radar.app.headless import status_dict
from scalp_radar.core.config import ConfigError, load_config
from scalp_radar.core.snapshot import (
    ConnectionFacts,
    EngineSnapshot,
    ShardSnapshot,
    ShardState,
    TickerRow,
    UniverseSnapshot,
    rank_rows,
)
from scalp_radar.engine.metrics import DAY_MS, MetricsBook, SymbolSeries
from scalp_radar.engine.universe import (
    apply_universe_override,
    select_universe,
    tradable_markets,
)
from scalp_radar.exchange.bitget import TickerUpdate, parse_ticker_row
from scalp_radar.exchange.shards import ConnectionGate, SubscribeBudget

REPO = Path(__file__).resolve().parent.parent
T0 = 1_800_000_000_000  # a multiple of 5 s: slot-aligned virtual time
NAN = float("nan")
SYM = "BTC/USDT:USDT"


def tick(
    ts_s: float,
    last: float,
    *,
    qv: float = 1_000_000.0,
    oi: float = 1_000.0,
    bid: float = NAN,
    ask: float = NAN,
    mark: float = NAN,
    funding: float = 0.0001,
) -> TickerUpdate:
    return TickerUpdate(
        inst_id="BTCUSDT",
        ts=T0 + int(ts_s * 1000),
        last=last,
        bid=bid,
        ask=ask,
        mark=mark,
        index_price=NAN,
        change_24h=0.012,
        quote_volume_24h=qv,
        funding_rate=funding,
        next_funding_ms=T0 + 8 * 3_600_000,
        open_interest=oi,
    )


# ---------------------------------------------------------------- metrics


def test_changes_use_the_price_of_exactly_k_minutes_ago() -> None:
    s = SymbolSeries(SYM)
    s.apply(tick(0, 100.0), "ws", 0)
    assert math.isnan(s.change_1m)  # no history yet
    s.apply(tick(60, 101.0), "ws", 0)
    assert s.change_1m == pytest.approx(1.0, rel=1e-12)
    assert math.isnan(s.change_5m)
    s.apply(tick(300, 110.0), "ws", 0)
    # 1 m ago the last price was still 101 (carried over the silent slots), 5 m ago it was 100.
    assert s.change_1m == pytest.approx((110 / 101 - 1) * 100, rel=1e-12)
    assert s.change_5m == pytest.approx(10.0, rel=1e-12)
    assert math.isnan(s.change_15m) and math.isnan(s.change_1h)
    s.apply(tick(900, 99.0), "ws", 0)
    assert s.change_15m == pytest.approx(-1.0, rel=1e-12)
    s.apply(tick(3600, 120.0), "ws", 0)
    assert s.change_1h == pytest.approx(20.0, rel=1e-12)
    assert s.change_5m == pytest.approx((120 / 99 - 1) * 100, rel=1e-12)
    row = s.row()
    assert row.change_24h == pytest.approx(1.2) and row.updated_ms == T0 + 3_600_000


def test_volume_surge_compares_the_last_5_minutes_with_the_hours_pace() -> None:
    v = 288_000.0  # the day's pace: 1000 per 5 min
    s = SymbolSeries(SYM)
    for k in range(0, 721):
        s.apply(tick(k * 5, 100.0, qv=v), "ws", 0)
    # A flat 24 h total means what rolled off was replaced at the same pace: surge 1.
    assert s.volume_surge == pytest.approx(1.0, rel=1e-12)
    s.apply(tick(3605, 100.0, qv=v + 9_000.0), "ws", 0)
    recent = 9_000.0 + v * 60 * 5_000 / DAY_MS  # 10_000
    hour = 9_000.0 + v * 720 * 5_000 / DAY_MS  # 21_000
    assert s.volume_surge == pytest.approx(recent / (hour / 12), rel=1e-12)
    assert s.volume_surge == pytest.approx(10_000 / 1_750, rel=1e-12)


def test_surge_needs_15_minutes_of_history() -> None:
    s = SymbolSeries(SYM)
    s.apply(tick(0, 100.0), "ws", 0)
    s.apply(tick(895, 100.0), "ws", 0)
    assert math.isnan(s.volume_surge)
    s.apply(tick(900, 100.0), "ws", 0)
    assert not math.isnan(s.volume_surge)


def test_spread_basis_funding_and_open_interest_change() -> None:
    s = SymbolSeries(SYM)
    s.apply(tick(0, 100.0, oi=1_000.0), "ws", 3)
    s.apply(
        tick(900, 100.0, oi=1_100.0, bid=99.9, ask=100.1, mark=100.05, funding=-0.0005), "ws", 3
    )
    row = s.row()
    assert row.spread_bps == pytest.approx(20.0, rel=1e-9)
    assert row.basis_bps == pytest.approx(5.0, rel=1e-9)
    assert row.oi_change_15m == pytest.approx(10.0, rel=1e-12)
    assert row.funding_rate == -0.0005 and row.next_funding_ms == T0 + 8 * 3_600_000
    assert row.open_interest == 1_100.0 and row.shard_id == 3 and row.source == "ws"


def test_older_tickers_are_ignored_and_missing_fields_keep_the_known_value() -> None:
    s = SymbolSeries(SYM)
    s.apply(tick(10, 100.0, bid=99.0, ask=101.0), "ws", 0)
    assert s.apply(tick(5, 50.0), "ws", 0) is False
    assert s.last == 100.0
    s.apply(tick(20, 102.0), "rest", None)  # a REST row without bid/ask
    assert (s.bid, s.ask, s.last, s.source) == (99.0, 101.0, 102.0, "rest")


def test_a_silence_longer_than_the_ring_restarts_history_at_the_carried_price() -> None:
    s = SymbolSeries(SYM)
    s.apply(tick(0, 100.0), "ws", 0)
    s.apply(tick(3 * 3600, 130.0), "ws", 0)
    # Every reference inside the ring is the last price known before the silence.
    assert s.change_1h == pytest.approx(30.0, rel=1e-12)
    assert s.change_1m == pytest.approx(30.0, rel=1e-12)


def test_sparkline_is_evenly_spaced_and_only_on_demand() -> None:
    book = MetricsBook()
    for k in range(0, 13):
        book.update(SYM, tick(k * 5, 100.0 + k))
    assert book.sparkline(SYM, minutes=1, points=13) == [100.0 + k for k in range(13)]
    assert book.sparkline(SYM, minutes=1, points=4) == [100.0, 104.0, 108.0, 112.0]
    assert book.sparkline("ETH/USDT:USDT") == []


def test_rows_are_rebuilt_only_for_symbols_that_changed() -> None:
    book = MetricsBook()
    book.update(SYM, tick(0, 100.0))
    book.update("ETH/USDT:USDT", tick(0, 3000.0)._replace(inst_id="ETHUSDT"))
    first = book.rows([SYM, "ETH/USDT:USDT"])
    book.update(SYM, tick(5, 101.0))
    second = book.rows([SYM, "ETH/USDT:USDT"])
    assert second[1] is first[1]  # unchanged row: the same object, not rebuilt
    assert second[0] is not first[0] and second[0].last == 101.0
    book.drop([SYM])
    assert [r.symbol for r in book.rows([SYM, "ETH/USDT:USDT"])] == ["ETH/USDT:USDT"]


def test_parse_ticker_row_reads_bitgets_strings() -> None:
    row = {
        "instId": "BTCUSDT",
        "lastPr": "82000.5",
        "bidPr": "82000.4",
        "askPr": "82000.6",
        "markPrice": "82001",
        "indexPrice": "81990",
        "change24h": "0.0123",
        "quoteVolume": "123456.7",
        "fundingRate": "-0.0002",
        "nextFundingTime": "1800028800000",
        "holdingAmount": "1234.5",
        "ts": "1800000000123",
    }
    u = parse_ticker_row(row)
    assert u is not None
    assert (u.inst_id, u.ts, u.last, u.bid, u.ask, u.mark) == (
        "BTCUSDT",
        1_800_000_000_123,
        82000.5,
        82000.4,
        82000.6,
        82001.0,
    )
    assert (u.funding_rate, u.next_funding_ms, u.open_interest) == (
        -0.0002,
        1_800_028_800_000,
        1234.5,
    )
    rest = parse_ticker_row({"symbol": "ETHUSDT", "lastPr": "3000", "ts": ""}, fallback_ts=7)
    assert rest is not None and rest.ts == 7 and rest.next_funding_ms is None
    assert math.isnan(rest.bid)
    assert parse_ticker_row({"instId": "X", "lastPr": ""}) is None
    assert parse_ticker_row({"lastPr": "1"}) is None


# ---------------------------------------------------------------- ranking


def _row(symbol: str, **values: float) -> TickerRow:
    # Every float column blank (NaN) unless given: the columns are TickerRow's own.
    base = {f.name: NAN for f in msgspec.structs.fields(TickerRow) if f.type in ("float", float)}
    base.update(values)
    return TickerRow(symbol=symbol, next_funding_ms=None, updated_ms=0, **base)  # type: ignore[arg-type]


def test_ranking_sorts_floats_with_nan_last_and_absolute_presets() -> None:
    rows = (
        _row("A", change_5m=1.0, funding_rate=0.0001),
        _row("B", change_5m=-3.0, funding_rate=-0.002),
        _row("C", change_5m=NAN, funding_rate=0.001),
        _row("D", change_5m=2.0, funding_rate=NAN),
    )
    assert [r.symbol for r in rank_rows(rows, "change_5m")] == ["D", "A", "B", "C"]
    assert [r.symbol for r in rank_rows(rows, "change_5m", descending=False)] == [
        "B",
        "A",
        "D",
        "C",
    ]
    u = UniverseSnapshot(mode="all", symbols=4, rows=rows)
    assert [r.symbol for r in u.preset("movers")] == ["B", "D", "A", "C"]
    assert [r.symbol for r in u.preset("funding", 2)] == ["B", "C"]
    with pytest.raises(ValueError, match="cannot rank by 'symbol'"):
        u.ranked("symbol")


# ---------------------------------------------------------------- universe


def _market(symbol: str, *, active: bool | None = True, linear: bool = True) -> dict[str, object]:
    base = symbol.split("/")[0]
    quote = symbol.split("/")[1].split(":")[0]
    return {
        "id": f"{base}{quote}",
        "swap": ":" in symbol,
        "linear": linear,
        "settle": "USDT" if linear else base,
        "quote": quote,
        "active": active,
    }


def test_tradable_markets_are_active_linear_usdt_swaps() -> None:
    markets = {
        "BTC/USDT:USDT": _market("BTC/USDT:USDT"),
        "ETH/USDT:USDT": _market("ETH/USDT:USDT", active=None),  # not said: kept
        "OLD/USDT:USDT": _market("OLD/USDT:USDT", active=False),  # delisted
        "BTC/USD:BTC": _market("BTC/USD:BTC", linear=False),
        "BTC/USDT": _market("BTC/USDT"),  # spot
    }
    assert tradable_markets(markets) == {"BTC/USDT:USDT": "BTCUSDT", "ETH/USDT:USDT": "ETHUSDT"}


def test_select_universe_modes_exclude_floor_and_watchlist() -> None:
    cfg = load_config().universe
    markets = {f"S{i}/USDT:USDT": f"S{i}USDT" for i in range(6)}
    volumes = {f"S{i}/USDT:USDT": float(i * 100) for i in range(5)}  # S5 has no volume
    watch = ["S0/USDT:USDT", "NOPE/USDT:USDT"]
    all_ = select_universe(cfg, markets, volumes, watch)
    assert all_ == [f"S{i}/USDT:USDT" for i in (4, 3, 2, 1, 0, 5)]
    top = cfg.model_copy(update={"mode": "top", "top": 2})
    assert select_universe(top, markets, volumes, watch) == [
        "S4/USDT:USDT",
        "S3/USDT:USDT",
        "S0/USDT:USDT",
    ]
    floor = cfg.model_copy(update={"min_quote_volume_24h": 250.0, "exclude": ["S4/USDT:USDT"]})
    assert select_universe(floor, markets, volumes, watch) == ["S3/USDT:USDT", "S0/USDT:USDT"]
    wl = cfg.model_copy(update={"mode": "watchlist"})
    assert select_universe(wl, markets, volumes, watch) == ["S0/USDT:USDT"]


def test_universe_override_parses_and_applies() -> None:
    assert arg_types.universe("all") == {"mode": "all"}
    assert arg_types.universe("TOP:25") == {"mode": "top", "top": 25}
    assert arg_types.universe("watchlist") == {"mode": "watchlist"}
    for bad in ("top", "top:0", "top:x", "some", "top:2001", "top:-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected all, top:N"):
            arg_types.universe(bad)
    config = apply_universe_override(load_config(), arg_types.universe("top:7"))
    assert (config.universe.mode, config.universe.top) == ("top", 7)
    assert config.universe.channels_per_shard == 50  # the rest of the section is kept


def test_movers_choices_in_the_parser_match_the_ranking_columns() -> None:
    from scalp_radar.app.cli import build_parser
    from scalp_radar.app.movers_cmd import MOVERS_BY

    args = build_parser().parse_args(["movers", "--by", "oi_change"])
    assert args.by == "oi_change"
    for by in MOVERS_BY:
        assert build_parser().parse_args(["movers", "--by", by]).by == by


# ---------------------------------------------------------------- config


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    target = tmp_path / "cfg"
    shutil.copytree(REPO / "config", target)
    return target


def test_shipped_universe_section_is_documented_and_valid() -> None:
    u = load_config(REPO / "config").universe
    assert (u.mode, u.channels_per_shard, u.subscribes_per_hour) == ("all", 50, 200)
    text = (REPO / "config" / "assets.yaml").read_text()
    for key in type(u).model_fields:
        assert f"  {key}:" in text, f"universe.{key} is not documented in assets.yaml"


@pytest.mark.parametrize(
    ("old", "new", "key", "expected"),
    [
        (
            "channels_per_shard: 50 ",
            "channels_per_shard: 1001 ",
            "universe.channels_per_shard",
            "1000",
        ),
        (
            "subscribes_per_hour: 200 ",
            "subscribes_per_hour: 241 ",
            "universe.subscribes_per_hour",
            "240",
        ),
        ("messages_per_s: 5 ", "messages_per_s: 11 ", "universe.messages_per_s", "10"),
        ("mode: all", "mode: everything", "universe.mode", "'all', 'top' or 'watchlist'"),
        ("exclude: []", "exclude: [LUNA]", "universe.exclude", "BTC/USDT:USDT"),
        (
            "markets_refresh_s: 3600 ",
            "markets_refresh_s: 7200 ",
            "universe.markets_refresh_s",
            "3600",
        ),
        ("hot_count: 10", "hot_cnt: 10", "universe.hot_cnt", ""),
    ],
)
def test_bad_universe_values_name_file_line_and_key(
    cfg: Path, old: str, new: str, key: str, expected: str
) -> None:
    path = cfg / "assets.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    message = str(info.value)
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if new.strip() in ln)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: {key}: "), message
    assert expected in message.split(f" {key}: ", 1)[1]


# ---------------------------------------------------------------- pacing


class VirtualTime:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_connection_gate_spaces_dials_and_caps_new_connections_per_window() -> None:
    t = VirtualTime()
    gate = ConnectionGate(
        spacing_s=0.3, max_new=3, window_s=300.0, max_open=10, clock=t, sleep=t.sleep
    )
    times = []
    for _ in range(5):
        await gate.acquire()
        times.append(round(t.now, 6))
    # Three dials 0.3 s apart, then the window is full until the first dial is 300 s old.
    assert times == [0.0, 0.3, 0.6, 300.0, 300.3]
    assert gate.open == 5 and gate.dials_in_window() == 3


async def test_connection_gate_waits_for_a_closed_socket_when_all_are_open() -> None:
    import asyncio

    t = VirtualTime()
    gate = ConnectionGate(spacing_s=0.0 + 0.05, max_new=300, max_open=2, clock=t, sleep=t.sleep)
    await gate.acquire()
    await gate.acquire()
    third = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not third.done()
    gate.release()
    await asyncio.wait_for(third, 1.0)
    assert gate.open == 2


def test_subscribe_budget_is_a_sliding_hour() -> None:
    t = VirtualTime()
    budget = SubscribeBudget(2, clock=t)
    budget.record()
    t.now = 10
    budget.record()
    assert not budget.allows() and budget.used() == 2
    t.now = 3600.0
    assert budget.allows() and budget.used() == 1
    budget.reset()
    assert budget.used() == 0


# ---------------------------------------------------------------- status line


def test_status_dict_has_the_universe_and_top_10_of_each_preset() -> None:
    rows = tuple(
        _row(f"S{i}/USDT:USDT", change_5m=float(i - 6), spread_bps=float(i), last=1.0)
        for i in range(12)
    )
    universe = UniverseSnapshot(
        mode="all",
        symbols=12,
        rows=rows,
        shards=(
            ShardSnapshot(0, ShardState.LIVE, 10, 1, 1, 0.1),
            ShardSnapshot(1, ShardState.RECONNECTING, 2, 1, 2, 9.0, reason="NetworkError: 1006"),
        ),
        tickers_live=10,
    )
    facts = ConnectionFacts("bitget", True, True, 1.0, 0, None)
    d = status_dict(EngineSnapshot(0, (), (), facts, (), universe))["universe"]
    assert (d["symbols"], d["tickers_live"], d["shards_up"], d["shards_down"]) == (12, 10, 1, 1)
    assert d["shards_not_live"] == [
        {"shard": 1, "state": "reconnecting", "reason": "NetworkError: 1006"}
    ]
    assert set(d["top"]) == {"movers", "surge", "funding", "spread", "oi"}
    movers = d["top"]["movers"]
    assert len(movers) == 10 and movers[0] == {
        "symbol": "S0/USDT:USDT",
        "change_5m": -6.0,
        "last": 1.0,
    }
    assert d["top"]["surge"][0]["volume_surge"] is None  # NaN becomes null in JSON
    assert [m["symbol"] for m in d["top"]["spread"][:2]] == ["S11/USDT:USDT", "S10/USDT:USDT"]


def test_the_radar_travels_to_attached_viewers_over_the_daemon_wire() -> None:
    from scalp_radar.engine import wire

    universe = UniverseSnapshot(
        mode="top",
        symbols=1,
        rows=(_row("A/USDT:USDT", change_5m=1.5, last=2.0),),
        shards=(ShardSnapshot(0, ShardState.LIVE, 1, 1, 1, 0.1),),
        tickers_live=1,
        rejected=("B/USDT:USDT",),
    )
    facts = ConnectionFacts("bitget", True, True, 1.0, 0, None)
    frame = wire.encode_frame(wire.SnapshotFrame(1, EngineSnapshot(5, (), (), facts, (), universe)))
    message = wire.decode_server(frame[4:])
    assert isinstance(message, wire.SnapshotFrame)
    got = message.snapshot.universe
    assert (got.mode, got.tickers_live, got.rejected) == ("top", 1, ("B/USDT:USDT",))
    assert got.rows[0].change_5m == 1.5 and math.isnan(got.rows[0].bid)
    assert (
        got.shards[0].state is ShardState.LIVE and got.preset("movers")[0].symbol == "A/USDT:USDT"
    )


def test_seeded_history_never_fills_a_window_shorter_than_its_label() -> None:
    from scalp_radar.engine.metrics import HistoryPoint

    now_s = 7_230.0  # the first ticker, at least half a minute after the newest stored minute
    minute = (T0 + int(now_s * 1000)) // 60_000 * 60_000 - 60_000

    def seeded(minutes_back: list[int]) -> SymbolSeries:
        s = SymbolSeries(SYM)
        s.apply(tick(now_s, 110.0), "rest", None)
        points = [HistoryPoint(minute - m * 60_000, 100.0, NAN, 5.0) for m in minutes_back]
        assert s.seed(sorted(points))
        return s

    full = seeded(list(range(61, -1, -1)))
    assert full.change_5m == pytest.approx(10.0) and full.change_1h == pytest.approx(10.0)
    # History from 4.5 min before the ticker: no 5 min change (never one over a shorter window).
    short = seeded([3, 2, 1, 0])
    assert short.change_1m == pytest.approx(10.0) and short.change_5m != short.change_5m
    # The minute the 5 min window starts from is missing: blank, not the next minute's price.
    holed = seeded([m for m in range(20, -1, -1) if m not in (4, 5)])
    assert holed.change_5m != holed.change_5m and holed.change_15m == pytest.approx(10.0)
    # Live slots are never overwritten, and a second seed over them changes nothing.
    assert not full.seed([HistoryPoint(minute - 90 * 60_000, 1.0, 1.0, 1.0)])
