"""Websocket side of the simulator: real ccxt.pro watchers, raw frames for the protocol details."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import aiohttp
import ccxt
import pytest

from scalp_radar.exchange.factory import create_exchange
from scalp_radar.sim import SimClock, SimExchange, SimLimits

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
CANDLE_1M = {"instType": "USDT-FUTURES", "channel": "candle1m", "instId": "BTCUSDT"}


@pytest.fixture
def sim_options() -> dict:
    # 600x: a 1m candle closes every 0.1 s of real time.
    return {
        "symbols": SYMBOLS,
        "seed": 5,
        "speed": 600,
        "limits": SimLimits.off(push_interval_s=0.02),
    }


@asynccontextmanager
async def exchange(sim, keep_alive_ms: int = 500):
    e = create_exchange(None, sim.url, options={"ws": {"keepAlive": keep_alive_ms}})
    e.enableRateLimit = False
    await e.load_markets()
    try:
        yield e
    finally:
        await e.close()


@asynccontextmanager
async def raw_ws(sim):
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_url) as ws:
        yield ws


async def next_json(ws, wait_s: float = 3.0) -> dict:
    msg = await asyncio.wait_for(ws.receive(), wait_s)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def test_watch_ohlcv_snapshot_then_updates(sim) -> None:
    async with exchange(sim) as ex:
        snap = await ex.watch_ohlcv("BTC/USDT:USDT", "1m")
        assert len(snap) == 500
        steps = [b[0] - a[0] for a, b in zip(snap, snap[1:], strict=False)]
        assert set(steps) == {60_000}
        first_forming = snap[-1][0]
        assert snap[:-1] == sim.truth("BTC/USDT:USDT", "1m", snap[0][0], first_forming)
        updates = [await ex.watch_ohlcv("BTC/USDT:USDT", "1m") for _ in range(10)]
        assert all(1 <= len(u) <= 4 for u in updates)
        assert updates[-1][-1][0] > first_forming  # candles closed meanwhile


async def test_websocket_closes_equal_the_truth(sim) -> None:
    async with exchange(sim) as ex:
        await ex.watch_ohlcv("ETH/USDT:USDT", "1m")
        await ex.watch_ohlcv("ETH/USDT:USDT", "5m")
        for _ in range(40):  # ~0.8 s real = 8 simulated minutes
            await ex.watch_ohlcv("ETH/USDT:USDT", "1m")
        cache = list(ex.ohlcvs["ETH/USDT:USDT"]["1m"])
        forming = cache[-1][0]
        closed = [r for r in cache if r[0] < forming]
        assert closed == sim.truth("ETH/USDT:USDT", "1m", closed[0][0], forming)
        # The 5m channel pushes on its own: the 1m stream reaching a new 5m window does not
        # mean the 5m close has arrived yet. Wait for the 5m push that opens that window.
        window = forming - forming % 300_000
        while ex.ohlcvs["ETH/USDT:USDT"]["5m"][-1][0] < window:
            await ex.watch_ohlcv("ETH/USDT:USDT", "5m")
        five = list(ex.ohlcvs["ETH/USDT:USDT"]["5m"])
        five_closed = [r for r in five if r[0] + 300_000 <= forming]
        assert five_closed == sim.truth("ETH/USDT:USDT", "5m", five_closed[0][0], forming)


async def test_forming_updates_stay_inside_the_final_candle(sim) -> None:
    async with raw_ws(sim) as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "args": [CANDLE_1M]}))
        assert (await next_json(ws))["event"] == "subscribe"
        assert (await next_json(ws))["action"] == "snapshot"
        seen: dict[int, list[list[float]]] = {}
        for _ in range(60):
            frame = await next_json(ws)
            assert frame["action"] == "update" and frame["arg"] == CANDLE_1M
            for row in frame["data"]:
                assert len(row) == 8 and all(isinstance(x, str) for x in row)
                seen.setdefault(int(row[0]), []).append([float(x) for x in row[1:6]])
    closed = sorted(seen)[:-1]
    assert len(closed) >= 2
    for ts in closed[1:]:
        truth = sim.truth("BTCUSDT", "1m", ts, ts + 1)[0]
        final = seen[ts][-1]
        assert final == truth[1:]
        for o, h, lo, _c, v in seen[ts]:
            assert o == truth[1] and h <= truth[2] and lo >= truth[3] and v <= truth[5]


async def test_watch_ticker(sim) -> None:
    async with exchange(sim) as ex:
        first = await ex.watch_ticker("BTC/USDT:USDT")
        second = await ex.watch_ticker("BTC/USDT:USDT")
        assert first["symbol"] == "BTC/USDT:USDT" and second["timestamp"] >= first["timestamp"]
        assert second["bid"] < second["last"] < second["ask"]
        assert second["low"] <= second["last"] <= second["high"]


async def test_text_ping_gets_pong_and_ccxt_keepalive_holds(sim) -> None:
    async with raw_ws(sim) as ws:
        await ws.send_str("ping")
        msg = await asyncio.wait_for(ws.receive(), 2)
        assert msg.data == "pong"
    async with exchange(sim, keep_alive_ms=100) as ex:
        await ex.watch_ohlcv("BTC/USDT:USDT", "1m")
        for _ in range(30):  # 0.6 s > 2 keepalive periods: pongs arrive, no RequestTimeout
            await ex.watch_ohlcv("BTC/USDT:USDT", "1m")
        client = ex.clients[sim.ws_url]
        assert client.lastPong is not None


async def test_unsubscribe_is_acked(sim) -> None:
    async with exchange(sim) as ex:
        await ex.watch_ohlcv("BTC/USDT:USDT", "1m")
        assert await ex.un_watch_ohlcv("BTC/USDT:USDT", "1m") is True
    async with raw_ws(sim) as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "args": [CANDLE_1M]}))
        await ws.send_str(json.dumps({"op": "unsubscribe", "args": [CANDLE_1M]}))
        events = []
        while len(events) < 2:
            frame = await next_json(ws)
            if "event" in frame:
                events.append(frame)
        assert events == [
            {"event": "subscribe", "arg": CANDLE_1M},
            {"event": "unsubscribe", "arg": CANDLE_1M},
        ]


async def test_unknown_instrument_gets_30001(sim) -> None:
    bad = {"instType": "USDT-FUTURES", "channel": "candle1m", "instId": "BADUSDT"}
    async with raw_ws(sim) as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "args": [bad]}))
        frame = await next_json(ws)
    assert frame["event"] == "error" and frame["code"] == 30001 and frame["arg"] == bad
    assert "instId:BADUSDT doesn't exist" in frame["msg"] and frame["op"] == "subscribe"


async def test_every_ccxt_websocket_timeframe_and_the_unmapped_channels(sim) -> None:
    async with raw_ws(sim) as ws:
        channels = [
            "candle3m",
            "candle1H",
            "candle4H",
            "candle6H",
            "candle12H",
            "candle1D",
            "candle2H",
            "candle6Hutc",
        ]
        args = [{"instType": "USDT-FUTURES", "channel": c, "instId": "ETHUSDT"} for c in channels]
        await ws.send_str(json.dumps({"op": "subscribe", "args": args}))
        snapshots = set()
        while len(snapshots) < len(channels):
            frame = await next_json(ws, wait_s=10)
            assert frame.get("event") != "error", frame
            if frame.get("action") == "snapshot":
                snapshots.add(frame["arg"]["channel"])
                assert len(frame["data"]) > 1


@pytest.mark.parametrize(
    ("limits", "expected_code"),
    [
        (SimLimits.off(ws_idle_timeout_s=0.3), 1000),  # no subscription within the idle time
        (SimLimits.off(ws_ping_timeout_s=0.3), 1000),  # no ping
        (SimLimits.off(ws_max_lifetime_s=0.3), 1001),  # forced recycle
    ],
)
async def test_connection_limits_close_the_socket(limits, expected_code) -> None:
    async with SimExchange(SYMBOLS, limits=limits) as sim, raw_ws(sim) as ws:
        if limits.ws_idle_timeout_s is None:
            await ws.send_str(json.dumps({"op": "subscribe", "args": [CANDLE_1M]}))
        while True:
            msg = await asyncio.wait_for(ws.receive(), 3)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
        assert ws.close_code == expected_code


async def test_more_than_ten_messages_a_second_gets_30007_and_a_close() -> None:
    async with (
        SimExchange(SYMBOLS, limits=SimLimits.off(ws_msgs_per_s=10)) as sim,
        raw_ws(sim) as ws,
    ):
        for _ in range(11):
            await ws.send_str("ping")
        frames = []
        while True:
            msg = await asyncio.wait_for(ws.receive(), 3)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frames.append(msg.data)
        assert frames[:10] == ["pong"] * 10
        assert json.loads(frames[10])["code"] == 30007


async def test_recycle_raises_network_error_in_ccxt_and_the_next_call_reconnects() -> None:
    async with (
        SimExchange(
            SYMBOLS, speed=600, limits=SimLimits.off(ws_max_lifetime_s=0.4, push_interval_s=0.02)
        ) as sim,
        exchange(sim) as ex,
    ):
        await ex.watch_ohlcv("BTC/USDT:USDT", "1m")
        with pytest.raises(ccxt.NetworkError, match="1001"):
            for _ in range(200):
                await ex.watch_ohlcv("BTC/USDT:USDT", "1m")
        again = await ex.watch_ohlcv("BTC/USDT:USDT", "1m")
        assert len(again) >= 1 and sim.hub.connections_total == 2


async def test_connection_cap_refuses_the_handshake() -> None:
    async with SimExchange(SYMBOLS, limits=SimLimits.off(ws_max_connections=1)) as sim, raw_ws(sim):
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(sim.ws_url)
        assert info.value.status == 429 and info.value.headers["Retry-After"] == "1"


async def test_every_candle_closed_since_the_last_push_arrives_final() -> None:
    # Regression: an update carried at most the last 3 candles closed since the previous push, so
    # when the pusher fell behind (a loaded machine at 600x) older candles stayed in the client
    # with a forming value that never equalled the truth.
    clock = SimClock()
    clock.freeze()
    limits = SimLimits.off(push_interval_s=0.02)
    async with SimExchange(SYMBOLS, seed=5, clock=clock, limits=limits) as sim, raw_ws(sim) as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "args": [CANDLE_1M]}))
        assert (await next_json(ws))["event"] == "subscribe"
        assert (await next_json(ws))["action"] == "snapshot"
        before = sim.candle_start("1m")
        clock.advance(6 * 60_000)  # six candles close between two pushes
        while True:
            frame = await next_json(ws)
            rows = [[int(r[0]), *map(float, r[1:6])] for r in frame["data"]]
            if rows[-1][0] > before:
                break
        assert rows[:-1] == sim.truth("BTCUSDT", "1m", before, rows[-1][0])
        assert len(rows) == 7
