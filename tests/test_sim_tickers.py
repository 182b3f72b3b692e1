"""The market-wide side of the simulator: a 500-contract universe, tickers over REST and websocket
(real ccxt.pro parses every field), funding and open-interest endpoints."""

from __future__ import annotations

import asyncio
import json
import math
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from scalp_radar.exchange.factory import create_exchange
from scalp_radar.sim import SimExchange, SimLimits
from scalp_radar.sim.universe import build_universe

# The universe is shared by the module: each 1m day block is built once per process.
UNIVERSE = 500


@pytest.fixture
def sim_options() -> dict[str, Any]:
    return {"seed": 11, "speed": 30, "limits": SimLimits(), "contracts": UNIVERSE}


@asynccontextmanager
async def exchange(sim):
    e = create_exchange(None, sim.url, options={"ws": {"keepAlive": 5000}})
    # The simulator answers on this test's own loop: building 500 tickers on a loaded machine
    # may take longer than the 10 s REST timeout, which is not what these tests are about.
    e.timeout = 60_000
    await e.load_markets()
    try:
        yield e
    finally:
        await e.close()


def test_universe_is_deterministic_and_shaped_like_bitget() -> None:
    specs = build_universe(UNIVERSE, seed=11)
    assert specs == build_universe(UNIVERSE, seed=11)
    assert specs != build_universe(UNIVERSE, seed=12)
    assert len({s.inst_id for s in specs}) == UNIVERSE
    assert [s.base for s in specs[:3]] == ["BTC", "ETH", "SOL"]
    levels = [s.level for s in specs]
    assert min(levels) < 2e-5 and max(levels) > 5e4
    volumes = sorted((s.minute_volume * s.level * 1440 for s in specs), reverse=True)
    # Heavy tail: the top 10 trade more than the other 490 together; the tail is tiny.
    assert sum(volumes[:10]) > sum(volumes[10:])
    assert volumes[0] > 1e9 and volumes[-1] < 2e6
    funding = [s.funding_rate for s in specs]
    usual = sum(abs(f) <= 0.0003 for f in funding)
    assert usual > 0.85 * UNIVERSE and any(abs(f) >= 0.0004 for f in funding)
    statuses = [s.status for s in specs]
    assert 3 <= sum(st != "normal" for st in statuses) <= 10
    # Spreads follow liquidity: the busiest contracts quote tighter (in bps) than the tail.
    bps = [s.spread_ticks * s.tick / s.level * 1e4 for s in specs]
    assert sum(bps[:20]) / 20 < sum(bps[-100:]) / 100
    assert all(s.spread_ticks >= 2 for s in specs)
    # Requested symbols are always in, with their legacy market.
    with_arb = build_universe(20, seed=11, include=["ARB/USDT:USDT"])
    assert "ARBUSDT" in {s.inst_id for s in with_arb} and len(with_arb) == 20


async def test_contracts_lists_every_contract_and_ccxt_flags_inactive_ones(sim) -> None:
    async with exchange(sim) as ex:
        swaps = [m for m in ex.markets.values() if m["swap"] and m["settle"] == "USDT"]
        assert len(swaps) == UNIVERSE
        inactive = [m for m in swaps if not m["active"]]
        expected = [s for s in sim.market.specs.values() if s.status != "normal"]
        assert len(inactive) == len(expected) >= 3
        assert {m["info"]["symbolStatus"] for m in inactive} <= {
            "maintain",
            "off",
            "limit_open",
            "restrictedAPI",
        }


async def test_fetch_tickers_parses_every_field_for_every_contract(sim) -> None:
    async with exchange(sim) as ex:
        tickers = await ex.fetch_tickers()
        assert len(tickers) == UNIVERSE
        for symbol, t in tickers.items():
            assert symbol.endswith("/USDT:USDT") and t["symbol"] == symbol
            for key in ("last", "bid", "ask", "bidVolume", "askVolume", "high", "low", "open"):
                assert isinstance(t[key], float) and t[key] > 0, (symbol, key, t[key])
            assert t["bid"] < t["last"] < t["ask"]
            assert t["low"] <= t["last"] <= t["high"]
            assert math.isfinite(t["percentage"]) and t["quoteVolume"] > 0
            assert t["markPrice"] > 0 and t["indexPrice"] > 0
            info = t["info"]
            assert all(isinstance(v, str) for k, v in info.items() if k.startswith(("last", "bid")))
            assert info["deliveryStartTime"] is None and info["deliveryStatus"] == ""
            assert float(info["holdingAmount"]) > 0 and abs(float(info["fundingRate"])) < 0.01
            assert info["usdtVolume"] == info["quoteVolume"]
        btc = tickers["BTC/USDT:USDT"]
        forming = sim.market.forming("BTCUSDT", "1m", btc["timestamp"])
        assert btc["last"] == forming[4]  # tickers and candles share one price path
        assert btc["percentage"] == pytest.approx(
            (btc["last"] - btc["open"]) / btc["open"] * 100, abs=1e-3
        )


async def test_websocket_tickers_carry_every_field(sim) -> None:
    symbols = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT"]
    async with exchange(sim) as ex:
        one = await ex.watch_ticker("DOGE/USDT:USDT")
        assert one["symbol"] == "DOGE/USDT:USDT"
        seen: set[str] = set()
        for _ in range(40):
            t = await asyncio.wait_for(ex.watch_tickers(symbols), 5)
            seen.update(t)
            if seen == set(symbols):
                break
        assert seen == set(symbols)
        for symbol in symbols:
            t = ex.tickers[symbol]
            for key in ("last", "bid", "ask", "bidVolume", "askVolume", "percentage"):
                assert t[key] is not None, (symbol, key)
            assert t["quoteVolume"] > 0 and t["bid"] < t["last"] < t["ask"]
            info = t["info"]
            for key in ("fundingRate", "holdingAmount", "markPrice", "indexPrice"):
                assert float(info[key]) == float(info[key]) and isinstance(info[key], str)
            assert int(info["nextFundingTime"]) > sim.clock.now_ms() - 1000
            assert int(info["nextFundingTime"]) % 3_600_000 == 0
    assert sim.ticker_pushes > 0
    assert sum(sim.violations.values()) == 0


async def test_funding_and_open_interest_endpoints(sim) -> None:
    async with exchange(sim) as ex:
        rates = await ex.fetch_funding_rates()
        assert len(rates) == UNIVERSE
        btc = rates["BTC/USDT:USDT"]
        assert btc["fundingRate"] is not None and btc["markPrice"] > 0
        one = await ex.fetch_funding_rate("ETH/USDT:USDT")
        assert one["interval"] in ("1h", "4h", "8h") and one["fundingTimestamp"] > 0
        assert one["fundingTimestamp"] % 3_600_000 == 0
        oi = await ex.fetch_open_interest("SOL/USDT:USDT")
        assert oi["symbol"] == "SOL/USDT:USDT" and oi["openInterestAmount"] > 0


def test_ticker_cadence_follows_liquidity_and_the_clock_speed() -> None:
    slow = SimExchange(seed=11, contracts=UNIVERSE, speed=1)
    fast = SimExchange(seed=11, contracts=UNIVERSE, speed=20)
    busy, quiet = "BTCUSDT", list(slow.market.specs)[-1]
    assert slow.hub.feed.mean_gap_s(busy) <= 0.2 <= 5 <= slow.hub.feed.mean_gap_s(quiet)

    def mean_gap(sim: SimExchange, inst: str) -> float:
        gaps = [sim.hub.feed._gap_s(inst) for _ in range(400)]
        assert min(gaps) >= sim.limits.ticker_min_interval_s  # never faster than Bitget's ~100 ms
        return sum(gaps) / len(gaps)

    assert mean_gap(slow, quiet) > 10 * mean_gap(slow, busy)
    assert mean_gap(fast, quiet) < mean_gap(slow, quiet) / 5  # simulated time runs 20x faster
    assert mean_gap(fast, busy) >= 0.1  # the per-symbol cap is real time


async def test_busy_symbols_push_often_quiet_ones_rarely() -> None:
    async with SimExchange(seed=11, contracts=UNIVERSE, limits=SimLimits()) as sim:
        await _count_pushes(sim)


async def _count_pushes(sim: SimExchange) -> None:
    quiet = list(sim.market.specs)[-1]
    args = [
        {"instType": "USDT-FUTURES", "channel": "ticker", "instId": i} for i in ("BTCUSDT", quiet)
    ]
    counts = {"BTCUSDT": 0, quiet: 0}
    last_ts = 0
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_url) as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "args": args}))
        while counts["BTCUSDT"] < 8:
            msg = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            if msg.get("arg", {}).get("channel") == "ticker" and "data" in msg:
                counts[msg["arg"]["instId"]] += 1
                if msg["arg"]["instId"] == "BTCUSDT":
                    assert int(msg["data"][0]["ts"]) >= last_ts
                    last_ts = int(msg["data"][0]["ts"])
    assert counts[quiet] <= 3  # its snapshot, and rarely a change


def test_per_symbol_caches_stay_small_over_hours() -> None:
    # Regression: each contract kept 4096 forming-minute paths and 1024 partial candles, sized for
    # three symbols; with 500 contracts that grew by GBs over a long demo.
    sim = SimExchange(seed=11, contracts=UNIVERSE)
    inst = "BTCUSDT"
    now = sim.clock.now_ms()
    for minute in range(200):
        sim.tickers.rest(inst, now + minute * 60_000)
    sm = sim.market._by_id[inst]
    assert len(sm._ticks) <= 8 and len(sm._closed_part) <= 32
