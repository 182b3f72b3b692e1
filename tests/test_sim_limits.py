"""Every documented websocket limit is enforced and counted (`sim.violations`); connection faults
per shard (drop one, recycle all) against real ccxt.pro."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import ccxt
import pytest

from scalp_radar.exchange.factory import create_exchange
from scalp_radar.sim import SimExchange, SimLimits, parse_fault_spec
from scalp_radar.sim.limits import (
    WS_CHANNELS,
    WS_CONNECTIONS_OPEN,
    WS_MSGS_PER_S,
    WS_NEW_CONNECTIONS,
    WS_SUBSCRIBES_PER_HOUR,
)


def ticker_arg(inst: str) -> dict[str, str]:
    return {"instType": "USDT-FUTURES", "channel": "ticker", "instId": inst}


@asynccontextmanager
async def raw_ws(sim: SimExchange):
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_url) as ws:
        yield ws


async def events_until(ws, stop, wait_s: float = 5.0) -> list[dict]:
    """JSON events (not pushes) read until stop(event) is true."""
    seen: list[dict] = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), wait_s)
        if msg.type != aiohttp.WSMsgType.TEXT:
            seen.append({"closed": msg.type})
            return seen
        if msg.data == "pong":
            continue
        data = json.loads(msg.data)
        if "event" in data:
            seen.append(data)
            if stop(data):
                return seen


def subscribe(*insts: str) -> str:
    return json.dumps({"op": "subscribe", "args": [ticker_arg(i) for i in insts]})


# The universe of test_sim_tickers: its day blocks are built once per test process.
SEED = 11


@asynccontextmanager
async def universe(contracts: int = 500, **limits: Any):
    async with SimExchange(seed=SEED, contracts=contracts, limits=SimLimits(**limits)) as sim:
        yield sim


async def test_one_subscribe_message_with_many_args_counts_once() -> None:
    # Bitget counts subscribe *requests*: 300 args in one message are one of the 240 per hour
    # (counting args made watch_tickers over 50+ symbols trip 30006 on the 5th shard refresh).
    async with universe() as sim, raw_ws(sim) as ws:
        insts = list(sim.market.specs)[:300]
        await ws.send_str(subscribe(*insts))
        acks = await events_until(
            ws, lambda e: e.get("arg") == ticker_arg(insts[-1]) or e["event"] == "error"
        )
        assert all(e["event"] == "subscribe" for e in acks) and len(acks) == 300
        assert sim.connections()[0].tickers == 300
        assert sum(sim.violations.values()) == 0


async def test_subscribe_requests_per_hour_get_30006_and_are_counted() -> None:
    async with universe(20, ws_subscribes_per_hour=3, ws_msgs_per_s=None) as sim, raw_ws(sim) as ws:
        insts = list(sim.market.specs)
        for inst in insts[:3]:
            await ws.send_str(subscribe(inst))
            await events_until(ws, lambda e: e["event"] == "subscribe")
        await ws.send_str(subscribe(insts[3]))
        [error] = await events_until(ws, lambda e: e["event"] == "error")
        assert error["code"] == 30006
        assert sim.violations == {WS_SUBSCRIBES_PER_HOUR: 1}
        assert sim.connections()[0].subscribe_requests == 4


async def test_channels_per_connection_limit() -> None:
    async with universe(20, ws_max_channels=5) as sim, raw_ws(sim) as ws:
        insts = list(sim.market.specs)
        await ws.send_str(subscribe(*insts[:7]))
        seen = await events_until(ws, lambda e: e.get("arg", {}).get("instId") == insts[6])
        assert [e["event"] for e in seen] == ["subscribe"] * 5 + ["error"] * 2
        assert {e["code"] for e in seen if e["event"] == "error"} == {30006}
        assert sim.violations == {WS_CHANNELS: 2}


async def test_more_than_10_messages_a_second_closes_with_30007() -> None:
    async with universe(20) as sim, raw_ws(sim) as ws:
        for _ in range(11):
            await ws.send_str("ping")
        seen = await events_until(ws, lambda e: False)
        assert seen[0]["code"] == 30007 and "closed" in seen[-1]
        assert sim.violations == {WS_MSGS_PER_S: 1}


async def test_open_connections_and_new_connections_per_5_min() -> None:
    async with universe(20, ws_max_connections=2) as sim, aiohttp.ClientSession() as http:
        a = await http.ws_connect(sim.ws_url)
        b = await http.ws_connect(sim.ws_url)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(sim.ws_url)
        assert refused.value.status == 429
        assert sim.violations == {WS_CONNECTIONS_OPEN: 1}
        await a.close()
        await b.close()
    async with universe(20, ws_new_connections_per_5min=3) as sim, aiohttp.ClientSession() as http:
        for _ in range(3):
            ws = await http.ws_connect(sim.ws_url)
            await ws.close()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(sim.ws_url)
        assert refused.value.status == 429
        assert sim.violations == {WS_NEW_CONNECTIONS: 1}


@asynccontextmanager
async def shards(sim: SimExchange, count: int):
    """`count` ccxt.pro instances: one websocket connection each (ccxt never shards)."""
    exchanges = [create_exchange(None, sim.url, options={"ws": {"cost": 3}}) for _ in range(count)]
    try:
        for ex in exchanges:
            await ex.load_markets()
        yield exchanges
    finally:
        await asyncio.gather(*(ex.close() for ex in exchanges))


@pytest.mark.slow
async def test_all_500_tickers_over_10_connections_within_the_limits() -> None:
    limits = SimLimits(ticker_min_interval_s=1.0)
    async with SimExchange(seed=SEED, contracts=500, limits=limits) as sim:
        async with shards(sim, 10) as exchanges:
            symbols = [s.symbol for s in sim.market.specs.values()]
            groups = [symbols[i::10] for i in range(10)]
            await asyncio.gather(
                *(ex.watch_tickers(g) for ex, g in zip(exchanges, groups, strict=True))
            )
            for ex, group in zip(exchanges, groups, strict=True):
                for _ in range(50):
                    if set(group) <= set(ex.tickers):
                        break
                    await asyncio.wait_for(ex.watch_tickers(group), 5)
                assert set(group) <= set(ex.tickers)
            infos = sim.connections()
            assert len(infos) == 10 and all(c.tickers == 50 for c in infos)
            assert all(c.subscribe_requests == 1 for c in infos)
        assert sum(sim.violations.values()) == 0


async def test_drop_one_connection_then_recycle_all() -> None:
    # No pushes after the snapshots: each watch below stays pending until its connection goes.
    limits = SimLimits(ticker_min_interval_s=600)
    async with SimExchange(seed=SEED, contracts=30, limits=limits) as sim:
        async with shards(sim, 3) as exchanges:
            symbols = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
            pairs = list(zip(exchanges, symbols, strict=True))
            await asyncio.gather(*(ex.watch_ticker(s) for ex, s in pairs))
            pending = [asyncio.ensure_future(ex.watch_ticker(s)) for ex, s in pairs]
            await asyncio.sleep(0.05)
            sim.drop_connection(index=1)
            with pytest.raises(ccxt.NetworkError, match="1006"):
                await asyncio.wait_for(pending[1], 5)
            assert [info.id for info in sim.connections()] == [0, 2]
            assert not pending[0].done() and not pending[2].done()  # the other shards live on
            sim.recycle_connections()
            for task in (pending[0], pending[2]):
                with pytest.raises(ccxt.NetworkError, match="1001"):
                    await asyncio.wait_for(task, 5)
            assert sim.connections() == []
            # The next watch reconnects (a new connection, re-subscribed).
            again = await asyncio.wait_for(exchanges[1].watch_ticker(symbols[1]), 5)
            assert again["symbol"] == symbols[1]
            assert [info.id for info in sim.connections()] == [3]
        assert [kind for _, kind, _ in sim.faults.injected] == ["dropone", "recycle"]
        assert sum(sim.violations.values()) == 0


def test_shard_faults_in_the_fault_spec() -> None:
    plans = parse_fault_spec("dropone:index=2@5,recycle@10/3600,dropone@random/60")
    assert [(p.kind, p.params, p.at_s, p.every_s) for p in plans[:2]] == [
        ("dropone", {"index": 2}, 5.0, None),
        ("recycle", {"code": 1001}, 10.0, 3600.0),
    ]
    assert plans[2].params == {"index": -1} and plans[2].random_mean_s == 60.0
    with pytest.raises(ValueError, match="unknown parameter 'shard'"):
        parse_fault_spec("dropone:shard=1")


async def test_concurrent_handshakes_never_exceed_the_open_connection_limit() -> None:
    async with universe(20, ws_max_connections=2) as sim, aiohttp.ClientSession() as http:
        results = await asyncio.gather(
            *(http.ws_connect(sim.ws_url) for _ in range(5)), return_exceptions=True
        )
        opened = [r for r in results if isinstance(r, aiohttp.ClientWebSocketResponse)]
        refused = [r for r in results if isinstance(r, aiohttp.WSServerHandshakeError)]
        assert len(opened) == 2 and len(refused) == 3
        assert sim.violations == {WS_CONNECTIONS_OPEN: 3}
        for ws in opened:
            await ws.close()
