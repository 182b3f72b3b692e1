"""REST side of the simulator, driven by real ccxt.pro (and raw HTTP for the error bodies)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from scalp_radar.exchange.factory import create_exchange
from scalp_radar.sim import SimClock, SimExchange, SimLimits
from scalp_radar.sim.timeframes import DAY_MS, GRANULARITY, MINUTE_MS

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]


@pytest.fixture
def sim_options() -> dict:
    # A frozen clock a few minutes behind real time: ranges are exact and ccxt's own "now"
    # (real time) is always after the simulator's.
    clock = SimClock(start_ms=int(time.time() * 1000) - 5 * MINUTE_MS + 12_345)
    clock.freeze()
    return {"symbols": SYMBOLS, "seed": 11, "clock": clock}


@pytest.fixture
async def ex(sim):
    e = create_exchange(None, sim.url)
    e.enableRateLimit = False  # ccxt's own 20 req/s pacing is not under test here
    await e.load_markets()
    yield e
    await e.close()


async def raw_get(sim, path: str, **params) -> tuple[int, dict | str]:
    async with aiohttp.ClientSession() as http, http.get(sim.url + path, params=params) as r:
        text = await r.text()
        try:
            return r.status, await r.json(content_type=None)
        except ValueError:
            return r.status, text


async def test_load_markets_gives_usdt_swaps_without_the_coins_call(sim, ex) -> None:
    assert sorted(ex.markets) == sorted(SYMBOLS)
    btc = ex.markets["BTC/USDT:USDT"]
    assert btc["type"] == "swap" and btc["linear"] and btc["settle"] == "USDT"
    assert btc["contractSize"] == 1 and btc["active"] is True and btc["id"] == "BTCUSDT"
    assert btc["precision"]["price"] == 0.1
    assert sim.rest.counts["contracts"] == 6 and sim.rest.counts["coins"] == 0


async def test_fetch_time_is_the_simulated_clock(sim, ex) -> None:
    assert await ex.fetch_time() == sim.clock.now_ms()


async def test_fetch_ticker_matches_the_forming_candle(sim, ex) -> None:
    ticker = await ex.fetch_ticker("ETH/USDT:USDT")
    forming = sim.forming("ETH/USDT:USDT", "1m")
    assert ticker["last"] == forming[4]
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert ticker["low"] <= ticker["last"] <= ticker["high"]
    assert ticker["timestamp"] == sim.clock.now_ms()


async def test_fetch_ohlcv_recent_equals_truth_plus_the_forming_candle(sim, ex) -> None:
    rows = await ex.fetch_ohlcv("BTC/USDT:USDT", "1m")
    now = sim.clock.now_ms()
    assert len(rows) == 1000
    assert rows[-1] == sim.forming("BTC/USDT:USDT", "1m")
    assert rows[:-1] == sim.truth("BTC/USDT:USDT", "1m", rows[0][0], now)
    assert sim.rest.counts["candles"] == 1


async def test_fetch_ohlcv_with_since_and_limit(sim, ex) -> None:
    since = sim.candle_start("5m") - 300 * 5 * MINUTE_MS
    rows = await ex.fetch_ohlcv("SOL/USDT:USDT", "5m", since=since, limit=50)
    assert [r[0] for r in rows] == [since + i * 5 * MINUTE_MS for i in range(50)]
    assert rows == sim.truth("SOL/USDT:USDT", "5m", since, since + 50 * 5 * MINUTE_MS)


async def test_fetch_ohlcv_with_until(sim, ex) -> None:
    until = sim.candle_start("1h") - 10 * 3_600_000
    rows = await ex.fetch_ohlcv("ETH/USDT:USDT", "1h", limit=20, params={"until": until})
    assert len(rows) == 20 and rows[-1][0] == until - 3_600_000
    assert rows == sim.truth("ETH/USDT:USDT", "1h", rows[0][0], until)


async def test_fetch_ohlcv_older_than_the_recent_depth_uses_history(sim, ex) -> None:
    since = sim.candle_start("1m") - 40 * DAY_MS
    rows = await ex.fetch_ohlcv("BTC/USDT:USDT", "1m", since=since, limit=100)
    assert sim.rest.counts["history-candles"] == 1 and sim.rest.counts["candles"] == 0
    assert len(rows) == 100 and rows[0][0] == since
    assert rows == sim.truth("BTC/USDT:USDT", "1m", since, since + 100 * MINUTE_MS)


async def test_five_minutes_is_the_aggregate_of_one_minute_over_rest(sim, ex) -> None:
    start = sim.candle_start("5m") - 60 * 5 * MINUTE_MS
    fives = await ex.fetch_ohlcv("BTC/USDT:USDT", "5m", since=start, limit=60)
    ones = await ex.fetch_ohlcv("BTC/USDT:USDT", "1m", since=start, limit=300)
    for i, five in enumerate(fives):
        part = ones[5 * i : 5 * i + 5]
        assert part[0][0] == five[0]
        vol = 0.0
        for r in part:
            vol += r[5]
        assert five == [
            five[0],
            part[0][1],
            max(r[2] for r in part),
            min(r[3] for r in part),
            part[-1][4],
            vol,
        ]


@pytest.mark.parametrize(
    "tf", ["3m", "15m", "30m", "2h", "4h", "6h", "12h", "1d", "3d", "1w", "1M"]
)
async def test_every_ccxt_timeframe_is_served(sim, ex, tf) -> None:
    rows = await ex.fetch_ohlcv("SOL/USDT:USDT", tf, limit=4)  # ccxt caps 1M at 4
    assert len(rows) == 4 and rows == sorted(rows)
    assert rows[-1][0] == sim.candle_start(tf)
    assert rows[:-1] == sim.truth("SOL/USDT:USDT", tf, rows[0][0], rows[-1][0])


async def test_every_granularity_string_is_accepted(sim) -> None:
    for gran in GRANULARITY:
        status, body = await raw_get(
            sim,
            "/api/v2/mix/market/candles",
            symbol="BTCUSDT",
            granularity=gran,
            limit="3",
            productType="USDT-FUTURES",
        )
        assert status == 200 and body["code"] == "00000" and len(body["data"]) == 3, gran
        assert all(len(row) == 7 and all(isinstance(x, str) for x in row) for row in body["data"])


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "BTCUSDT", "granularity": "1min"}, "400172"),
        ({"symbol": "BTCUSDT", "granularity": "1h"}, "400172"),
        ({"symbol": "NOPEUSDT", "granularity": "1m"}, "40034"),
        ({"granularity": "1m"}, "40019"),
        (
            {
                "symbol": "BTCUSDT",
                "granularity": "1m",
                "startTime": "0",
                "endTime": str(91 * DAY_MS),
            },
            "40017",
        ),
        ({"symbol": "BTCUSDT", "granularity": "1m", "startTime": "abc"}, "400172"),
    ],
)
async def test_bad_candle_requests_get_bitget_errors(sim, params, code) -> None:
    status, body = await raw_get(
        sim, "/api/v2/mix/market/candles", productType="USDT-FUTURES", **params
    )
    assert status == 400 and body["code"] == code and body["data"] is None


async def test_limits_caps_and_recent_depth(sim) -> None:
    base = {"symbol": "ETHUSDT", "granularity": "1m", "productType": "USDT-FUTURES"}
    _, recent = await raw_get(sim, "/api/v2/mix/market/candles", limit="5000", **base)
    _, history = await raw_get(sim, "/api/v2/mix/market/history-candles", limit="5000", **base)
    _, default = await raw_get(sim, "/api/v2/mix/market/history-candles", **base)
    assert (len(recent["data"]), len(history["data"]), len(default["data"])) == (1000, 200, 100)
    # History never includes the forming candle; the recent endpoint does.
    assert int(history["data"][-1][0]) == sim.candle_start("1m") - MINUTE_MS
    assert int(recent["data"][-1][0]) == sim.candle_start("1m")
    old = sim.candle_start("1m") - 45 * DAY_MS
    _, too_old = await raw_get(
        sim, "/api/v2/mix/market/candles", startTime=str(old), endTime=str(old + 3_600_000), **base
    )
    _, via_history = await raw_get(
        sim,
        "/api/v2/mix/market/history-candles",
        startTime=str(old),
        endTime=str(old + 3_600_000),
        **base,
    )
    assert too_old["data"] == [] and len(via_history["data"]) == 60


async def test_contracts_answers_every_product_type(sim) -> None:
    for product in [
        "USDT-FUTURES",
        "COIN-FUTURES",
        "USDC-FUTURES",
        "SUSDT-FUTURES",
        "SCOIN-FUTURES",
        "SUSDC-FUTURES",
    ]:
        status, body = await raw_get(sim, "/api/v2/mix/market/contracts", productType=product)
        assert status == 200 and body["code"] == "00000"
        assert len(body["data"]) == (3 if product == "USDT-FUTURES" else 0)
    status, body = await raw_get(sim, "/api/v2/mix/market/contracts", productType="NOPE")
    assert status == 400 and body["code"] == "40019"


async def test_rest_rate_limit_answers_429_with_bitget_json() -> None:
    async with SimExchange(["BTC/USDT:USDT"], limits=SimLimits(rest_rates={"coins": 3.0})) as sim:
        results = await asyncio.gather(
            *(raw_get(sim, "/api/v2/spot/public/coins") for _ in range(8))
        )
        statuses = [s for s, _ in results]
        assert statuses.count(200) == 3 and statuses.count(429) == 5
        body = next(b for s, b in results if s == 429)
        assert body["code"] == "429" and body["msg"] == "Too Many Requests" and body["data"] is None
        # Other endpoints have their own budget (none configured here: unlimited).
        assert all(
            s == 200
            for s, _ in await asyncio.gather(
                *(raw_get(sim, "/api/v2/public/time") for _ in range(8))
            )
        )
