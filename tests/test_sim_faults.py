"""Every injected fault, and the ccxt exception (or raw push) the Bitget spec says it produces."""

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
BTC = "BTC/USDT:USDT"
CANDLE_1M = {"instType": "USDT-FUTURES", "channel": "candle1m", "instId": "BTCUSDT"}


@pytest.fixture
def sim_options() -> dict:
    return {
        "symbols": SYMBOLS,
        "seed": 3,
        "speed": 600,
        "limits": SimLimits.off(push_interval_s=0.02),
    }


@asynccontextmanager
async def exchange(sim, keep_alive_ms: int = 500, timeout_ms: int = 10_000):
    e = create_exchange(None, sim.url, options={"ws": {"keepAlive": keep_alive_ms}})
    e.enableRateLimit = False
    e.timeout = timeout_ms
    await e.load_markets()
    try:
        yield e
    finally:
        await e.close()


async def pending_watch(ex, symbol: str = BTC) -> asyncio.Task:
    """A watch_ohlcv call left pending on a live subscription."""
    await ex.watch_ohlcv(symbol, "1m")
    await ex.watch_ohlcv(symbol, "1m")
    task = asyncio.create_task(_watch_forever(ex, symbol))
    await asyncio.sleep(0.05)
    assert not task.done()
    return task


async def _watch_forever(ex, symbol: str) -> None:
    while True:
        await ex.watch_ohlcv(symbol, "1m")


async def raw_updates(sim, n: int, inject=None) -> list[str]:
    """The snapshot of candle1m BTCUSDT, inject(), then the next n text frames."""
    frames: list[str] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_url) as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "args": [CANDLE_1M]}))
        while True:
            msg = await asyncio.wait_for(ws.receive(), 3)
            if '"snapshot"' in msg.data:
                frames.append(msg.data)
                break
        if inject is not None:
            inject()
        while len(frames) < n + 1:
            msg = await asyncio.wait_for(ws.receive(), 3)
            frames.append(msg.data)
    return frames


def rows_of(frames: list[str]) -> list[list[float]]:
    rows = []
    for text in frames:
        try:
            frame = json.loads(text)
        except ValueError:
            continue
        rows.extend([float(x) for x in row[:6]] for row in frame.get("data", []))
    return rows


# -- REST faults ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "params", "error"),
    [
        ("rest429", {}, ccxt.DDoSProtection),
        ("rest429text", {}, ccxt.RateLimitExceeded),
        ("rest5xx", {"status": 502}, ccxt.ExchangeNotAvailable),
        ("rest5xx", {"status": 500}, ccxt.ExchangeNotAvailable),
        ("slow", {"delay": 1.0}, ccxt.RequestTimeout),
        ("restdrop", {"count": 2}, ccxt.ExchangeNotAvailable),
    ],
)
async def test_rest_faults_raise_the_documented_ccxt_errors(sim, kind, params, error) -> None:
    async with exchange(sim, timeout_ms=300) as ex:
        sim.faults.inject(kind, **{"count": 1, **params})
        with pytest.raises(error):
            await ex.fetch_ohlcv(BTC, "1m", limit=5)
        assert len(await ex.fetch_ohlcv(BTC, "1m", limit=5)) == 5  # the next call is served


async def test_rest_fault_burst_and_endpoint_filter(sim) -> None:
    async with exchange(sim) as ex:
        sim.faults.inject("rest429", count=2, endpoint="candles")
        assert await ex.fetch_time() > 0  # another endpoint: untouched
        for _ in range(2):
            with pytest.raises(ccxt.DDoSProtection):
                await ex.fetch_ohlcv(BTC, "1m", limit=5)
        assert len(await ex.fetch_ohlcv(BTC, "1m", limit=5)) == 5


async def test_rest_refused_when_the_simulator_is_down() -> None:
    sim = SimExchange(SYMBOLS, limits=SimLimits.off())
    await sim.start()
    async with exchange(sim) as ex:
        await sim.stop()
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await ex.fetch_time()


# -- websocket connection faults ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "params", "code"),
    [("close", {}, "1000"), ("close", {"code": 1001}, "1001"), ("drop", {}, "1006")],
)
async def test_close_and_drop_raise_network_error_then_reconnect(sim, kind, params, code) -> None:
    async with exchange(sim) as ex:
        task = await pending_watch(ex)
        sim.faults.inject(kind, **params)
        with pytest.raises(ccxt.NetworkError, match=code):
            await asyncio.wait_for(task, 3)
        assert len(await ex.watch_ohlcv(BTC, "1m")) >= 1  # a fresh connection
        assert sim.hub.connections_total == 2


async def test_no_pong_raises_request_timeout(sim) -> None:
    async with exchange(sim, keep_alive_ms=150) as ex:
        task = await pending_watch(ex)
        sim.faults.inject("nopong")
        with pytest.raises(ccxt.RequestTimeout, match="ping-pong"):
            await asyncio.wait_for(task, 3)
        assert len(await ex.watch_ohlcv(BTC, "1m")) >= 1


async def test_stale_keeps_ponging_but_stops_pushing(sim) -> None:
    async with exchange(sim, keep_alive_ms=100) as ex:
        await ex.watch_ohlcv(BTC, "1m")
        sim.faults.inject("stale", duration=1.5)
        await asyncio.sleep(0.05)
        client = ex.clients[sim.ws_url]
        await asyncio.sleep(0.25)  # the first ping goes out after one keepAlive
        pong_before = client.lastPong
        assert pong_before is not None
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ex.watch_ohlcv(BTC, "1m"), 0.4)  # ccxt itself raises nothing
        assert client.lastPong > pong_before  # pings were still answered
        assert len(await asyncio.wait_for(ex.watch_ohlcv(BTC, "1m"), 2)) >= 1  # pushes resume


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("e30001", ccxt.BadRequest),
        ("e30006", ccxt.RateLimitExceeded),
        ("e30007", ccxt.RateLimitExceeded),
    ],
)
async def test_error_events_reject_pending_watchers(sim, kind, error) -> None:
    async with exchange(sim) as ex:
        task = await pending_watch(ex)
        sim.faults.inject(kind)
        with pytest.raises(error):
            await asyncio.wait_for(task, 3)


async def test_error_event_with_any_code(sim) -> None:
    async with exchange(sim) as ex:
        task = await pending_watch(ex)
        sim.faults.inject("error", code=30016)
        with pytest.raises(ccxt.BadRequest):
            await asyncio.wait_for(task, 3)


async def test_refused_handshake_is_a_network_error_with_retry_after(sim) -> None:
    sim.faults.inject("refuse", count=1, retry_after=1)
    async with exchange(sim) as ex:
        with pytest.raises(ccxt.NetworkError):
            await ex.watch_ohlcv(BTC, "1m")
        assert sim.hub.refused == 1
    async with aiohttp.ClientSession() as http:
        sim.faults.inject("refuse", retry_after=7)
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(sim.ws_url)
    assert info.value.status == 429 and info.value.headers["Retry-After"] == "7"


# -- push faults (raw frames) ------------------------------------------------------------------------
async def test_gap_skips_candles_in_pushes(sim) -> None:
    frames = await raw_updates(sim, 40, lambda: sim.faults.inject("gap", count=4))
    seen = sorted({int(r[0]) for r in rows_of(frames)})
    steps = [b - a for a, b in zip(seen, seen[1:], strict=False)]
    assert max(steps) >= 4 * 60_000  # at least three whole candles never pushed


async def test_duplicate_push(sim) -> None:
    frames = await raw_updates(sim, 6, lambda: sim.faults.inject("duplicate"))
    assert any(a == b for a, b in zip(frames, frames[1:], strict=False))


async def test_out_of_order_push(sim) -> None:
    frames = await raw_updates(sim, 6, lambda: sim.faults.inject("outoforder", back=3))
    ts = [int(r[0]) for r in rows_of(frames)]
    drops = [(a, b) for a, b in zip(ts, ts[1:], strict=False) if b < a]
    assert drops and drops[0][0] - drops[0][1] >= 3 * 60_000


async def test_invalid_candle_push(sim) -> None:
    frames = await raw_updates(sim, 6, lambda: sim.faults.inject("invalid"))
    bad = [r for r in rows_of(frames) if r[2] < r[3]]
    assert len(bad) == 1


async def test_malformed_frame_is_pushed_and_kills_the_ccxt_connection(sim) -> None:
    frames = await raw_updates(sim, 6, lambda: sim.faults.inject("malformed"))
    broken = []
    for text in frames:
        try:
            json.loads(text)
        except ValueError:
            broken.append(text)
    assert len(broken) == 1
    # ccxt 4.5.90 parses with orjson inside a callback: the error stops its receive loop, so
    # the watcher only learns of it from the keepalive (RequestTimeout); the next call redials.
    async with exchange(sim, keep_alive_ms=150) as ex:
        task = await pending_watch(ex)
        sim.faults.inject("malformed")
        with pytest.raises(ccxt.RequestTimeout):
            await asyncio.wait_for(task, 3)
        assert len(await asyncio.wait_for(ex.watch_ohlcv(BTC, "1m"), 2)) >= 1


# -- scheduling -------------------------------------------------------------------------------------
class VirtualSeconds:
    """A fault clock the test moves by hand: schedules fire when the test says, not the machine."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_scheduled_and_random_faults() -> None:
    clock = VirtualSeconds()
    limits = SimLimits.off(push_interval_s=0.02)
    async with SimExchange(SYMBOLS, seed=3, speed=600, limits=limits, fault_clock=clock) as sim:
        async with exchange(sim) as ex:
            task = await pending_watch(ex)
            sim.faults.schedule("drop", at_s=10.0)
            clock.now = 9.9
            sim.faults.run_due()
            await asyncio.sleep(0.05)  # let a wrongly fired drop reach the client
            assert not task.done()
            clock.now = 10.0
            sim.faults.run_due()
            with pytest.raises(ccxt.NetworkError, match="1006"):
                await asyncio.wait_for(task, 3)
            assert sim.faults.injected[-1][1] == "drop"
        sim.faults.random("duplicate", mean_interval_s=0.05)
        for _ in range(12):
            clock.now += 0.05
            sim.faults.run_due()
        kinds = [k for _, k, _ in sim.faults.injected]
        assert kinds.count("duplicate") >= 2
        sim.faults.clear()
        count = len(sim.faults.injected)
        clock.now += 10.0
        sim.faults.run_due()
        assert len(sim.faults.injected) == count


async def test_random_faults_are_reproducible_for_a_seed() -> None:
    from scalp_radar.sim import FaultInjector

    def draws(seed: int) -> list[str]:
        t = [0.0]
        inj = FaultInjector(seed=seed, clock=lambda: t[0])
        inj.begin()
        inj.random("rest429", mean_interval_s=1.0)
        inj.random("gap", mean_interval_s=2.0)
        seen = []
        for step in range(200):
            t[0] = step * 0.1
            before = len(inj.injected)
            inj.run_due()
            seen.extend(f"{step}:{k}" for _, k, _ in inj.injected[before:])
        return seen

    assert draws(9) == draws(9) and draws(9) != draws(10) and len(draws(9)) > 10


async def test_invalid_candle_push_on_a_flat_candle_still_has_high_below_low() -> None:
    # Regression: high and low were swapped; on a candle that just opened (high == low) the
    # "invalid" push was valid, so the fault sometimes tested nothing.
    clock = SimClock(start_ms=SimClock().now_ms() // 60_000 * 60_000)  # on a minute's open
    clock.freeze()
    async with SimExchange([BTC], clock=clock, limits=SimLimits.off(push_interval_s=0.05)) as sim:
        ts, _, high, low, _, _ = sim.forming(BTC, "1m")
        assert ts == clock.now_ms() and high == low  # the flat case this test is about
        frames = await raw_updates(sim, 3, lambda: sim.faults.inject("invalid"))
    bad = [r for r in rows_of(frames) if r[2] < r[3]]
    assert len(bad) == 1
