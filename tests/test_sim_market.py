"""The simulated market's truth: deterministic, continuous, realistic, exactly aggregated."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scalp_radar.sim import SimClock, SimExchange, SimLimits, parse_fault_spec
from scalp_radar.sim.market import LISTING_MS, Market
from scalp_radar.sim.timeframes import DAY_MS, MINUTE_MS, align, next_start

NOW = 1_795_500_000_000  # 2026-11-24, a fixed "now" for pure market tests
SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "ZZTOP/USDT:USDT"]


def aggregate(rows: list, ts: int) -> tuple:
    """The reference aggregation: open of first, max high, min low, close of last, sum volume."""
    vol = 0.0
    for r in rows:
        vol += r[5]
    return (ts, rows[0][1], max(r[2] for r in rows), min(r[3] for r in rows), rows[-1][4], vol)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(SYMBOLS, seed=7)


def test_same_seed_same_candles_other_seed_other_candles(market: Market) -> None:
    start = NOW - 3 * DAY_MS
    again = Market(SYMBOLS, seed=7).candles("ETHUSDT", "1m", start, start + 600_000, NOW)
    assert market.candles("ETH/USDT:USDT", "1m", start, start + 600_000, NOW) == again
    other = Market(SYMBOLS, seed=8).candles("ETHUSDT", "1m", start, start + 600_000, NOW)
    assert [r[4] for r in other] != [r[4] for r in again]


def test_prices_are_continuous_across_minutes_and_days(market: Market) -> None:
    start = align("1d", NOW) - 3 * DAY_MS - 30 * MINUTE_MS  # spans two day boundaries
    rows = market.candles("BTC/USDT:USDT", "1m", start, start + 2 * DAY_MS, NOW)
    assert len(rows) == 2 * 1440
    for prev, cur in zip(rows, rows[1:], strict=False):
        assert cur[0] - prev[0] == MINUTE_MS
        assert cur[1] == prev[4]  # open == previous close, including at midnight


def test_every_candle_is_valid(market: Market) -> None:
    for symbol in SYMBOLS:
        rows = market.candles(symbol, "1m", NOW - DAY_MS, NOW, NOW)
        for _, o, h, lo, c, v in rows:
            assert lo > 0 and v > 0
            assert h >= max(o, c) and lo <= min(o, c)


@pytest.mark.parametrize(
    ("symbol", "low", "high"), [("BTC", 45_000, 140_000), ("ETH", 1_500, 5_500), ("SOL", 60, 400)]
)
def test_levels_are_realistic(market: Market, symbol: str, low: float, high: float) -> None:
    end = align("1d", NOW)
    rows = market.candles(f"{symbol}/USDT:USDT", "1d", end - 200 * DAY_MS, end, NOW)
    assert len(rows) == 200
    assert low < min(r[3] for r in rows) and max(r[2] for r in rows) < high


def test_unknown_symbol_gets_a_stable_level() -> None:
    a = Market(["ZZTOP/USDT:USDT"], seed=1).candles("ZZTOPUSDT", "1m", NOW - 60_000, NOW, NOW)
    b = Market(["ZZTOP/USDT:USDT"], seed=1).candles("ZZTOPUSDT", "1m", NOW - 60_000, NOW, NOW)
    assert a == b and 0.001 < a[0][4] < 10_000


def test_volatility_clusters_and_volume_spikes(market: Market) -> None:
    rows = market.candles("BTCUSDT", "1m", NOW - 30 * DAY_MS, NOW, NOW)
    ranges = [(r[2] - r[3]) / r[4] for r in rows]
    vols = sorted(r[5] for r in rows)
    median_vol = vols[len(vols) // 2]
    assert vols[-1] > 5 * median_vol  # spikes
    # Clustering: big ranges follow big ranges more often than chance.
    big = sorted(ranges)[int(len(ranges) * 0.9)]
    after_big = [b > big for a, b in zip(ranges, ranges[1:], strict=False) if a > big]
    assert sum(after_big) / len(after_big) > 0.2  # vs 0.1 unconditionally


@pytest.mark.parametrize("tf", ["3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"])
def test_higher_timeframes_are_exact_aggregates_of_1m(market: Market, tf: str) -> None:
    end = align("1d", NOW)
    start = end - 2 * DAY_MS
    ones = market.candles("SOLUSDT", "1m", start, end, NOW)
    rows = market.candles("SOLUSDT", tf, start, end, NOW)
    assert rows
    i = 0
    for row in rows:
        nxt = next_start(tf, row[0])
        part = [r for r in ones[i:] if r[0] < nxt]
        i += len(part)
        assert row == aggregate(part, row[0])


@pytest.mark.parametrize("tf", ["3d", "1w", "1M"])
def test_long_timeframes_aggregate_days(market: Market, tf: str) -> None:
    end = align(tf, NOW)
    start = align(tf, end - 60 * DAY_MS)
    days = market.candles("ETHUSDT", "1d", start, end, NOW)
    rows = market.candles("ETHUSDT", tf, start, end, NOW)
    assert rows and rows[0][0] == start
    for row in rows:
        part = [d for d in days if row[0] <= d[0] < next_start(tf, row[0])]
        agg = aggregate(part, row[0])
        assert row[:5] == agg[:5] and row[5] == pytest.approx(agg[5])


def test_no_candle_before_listing_or_after_now(market: Market) -> None:
    assert market.candles("BTCUSDT", "1m", LISTING_MS - DAY_MS, LISTING_MS, NOW) == []
    rows = market.candles("BTCUSDT", "1m", NOW - 10 * MINUTE_MS, NOW + DAY_MS, NOW)
    assert rows[-1][0] + MINUTE_MS <= NOW


def test_forming_candle_converges_to_the_truth(market: Market) -> None:
    minute = align("1m", NOW) - 10 * MINUTE_MS
    truth = market.candles("BTCUSDT", "1m", minute, minute + MINUTE_MS, NOW)[0]
    seen = [market.forming("BTCUSDT", "1m", minute + s * 1000) for s in range(60)]
    assert all(f[0] == minute and f[1] == truth[1] for f in seen)
    assert seen[-1][2] == truth[2] and seen[-1][3] == truth[3]  # extremes reached before close
    for a, b in zip(seen, seen[1:], strict=False):
        assert b[2] >= a[2] and b[3] <= a[3] and b[5] >= a[5]  # monotone high/low/volume
        assert truth[3] <= b[4] <= truth[2]
    assert seen[-1][5] <= truth[5]


def test_forming_higher_timeframe_combines_closed_minutes(market: Market) -> None:
    hour = align("1h", NOW) - 3_600_000
    at = hour + 25 * MINUTE_MS + 30_000
    forming = market.forming("ETHUSDT", "1h", at)
    closed = market.candles("ETHUSDT", "1m", hour, hour + 25 * MINUTE_MS, NOW)
    part = market.forming("ETHUSDT", "1m", at)
    ref = aggregate([*closed, part], hour)
    assert forming[:5] == ref[:5] and forming[5] == pytest.approx(ref[5])


def test_a_year_of_1m_candles_is_served_in_one_call(market: Market) -> None:
    rows = Market(["BTC/USDT:USDT"], seed=3).candles("BTCUSDT", "1m", NOW - 365 * DAY_MS, NOW, NOW)
    assert len(rows) == 365 * 1440 - 1 or len(rows) == 365 * 1440


def test_clock_speed_freeze_and_advance() -> None:
    t = [100.0]
    clock = SimClock(speed=60, start_ms=1_000_000, monotonic=lambda: t[0])
    assert clock.now_ms() == 1_000_000
    t[0] += 1.0
    assert clock.now_ms() == 1_060_000  # one real second = one simulated minute
    clock.freeze()
    t[0] += 5.0
    assert clock.now_ms() == 1_060_000
    clock.advance(60_000)
    assert clock.now_ms() == 1_120_000
    clock.resume()
    t[0] += 0.5
    assert clock.now_ms() == 1_150_000
    with pytest.raises(ValueError, match="speed"):
        SimClock(speed=0)


def test_truth_returns_only_closed_candles_of_a_frozen_clock() -> None:
    clock = SimClock(start_ms=NOW + 30_000)
    clock.freeze()
    sim = SimExchange(["BTC/USDT:USDT"], clock=clock, limits=SimLimits.off())
    rows = sim.truth("BTC/USDT:USDT", "1m", NOW - 5 * MINUTE_MS, NOW + 10 * MINUTE_MS)
    # NOW is minute-aligned: at NOW + 30 s the candle of NOW is still forming.
    assert [r[0] for r in rows] == [NOW - k * MINUTE_MS for k in range(5, 0, -1)]
    assert all(r[0] + MINUTE_MS <= clock.now_ms() for r in rows)


def test_fault_spec_syntax() -> None:
    plans = parse_fault_spec("drop@10,stale:duration=20@30,gap:random,rest429:count=5@5/60")
    assert [p.kind for p in plans] == ["drop", "stale", "gap", "rest429"]
    assert plans[0].at_s == 10 and plans[1].params["duration"] == 20
    assert plans[2].random_mean_s == 30 and plans[3].every_s == 60 and plans[3].params["count"] == 5
    assert parse_fault_spec("gap:random/50")[0].random_mean_s == 50
    assert parse_fault_spec("slow:delay=2@random/5")[0].random_mean_s == 5
    for bad, word in [
        ("boom@1", "boom"),
        ("drop@x", "'x'"),
        ("slow:delay", "KEY=VALUE"),
        ("gap:size=2", "size"),
    ]:
        with pytest.raises(ValueError, match=word):
            parse_fault_spec(bad)


def test_sim_never_imports_textual() -> None:
    code = (
        "import sys, scalp_radar.sim, scalp_radar.app.sim_cmd, scalp_radar.exchange.factory;"
        "sys.exit(1 if any(m == 'textual' or m.startswith('textual.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_first_requests_in_a_fresh_process_may_run_concurrently() -> None:
    # Regression: the shared normal table was filled in place, and a REST worker thread reading
    # it while another thread built it raised IndexError (an HTTP 500 on a fresh simulator).
    code = (
        "import threading\n"
        "from scalp_radar.sim.market import Market\n"
        "errors = []\n"
        "barrier = threading.Barrier(8)\n"
        "def work(i):\n"
        "    m = Market(['BTC/USDT:USDT'], seed=i)\n"
        "    barrier.wait()\n"
        "    try:\n"
        "        m.candles('BTC/USDT:USDT', '1m', 1_699_990_000_000, 1_700_000_000_000, now_ms=1_700_000_000_000)\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc))\n"
        "threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(errors)\n"
    )
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        assert out.stdout.strip() == "[]", out.stdout
