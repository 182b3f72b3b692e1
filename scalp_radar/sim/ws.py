"""The public websocket `/v2/ws/public` (bitget-v2-public.md section 3): one session per socket."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web
from loguru import logger

from scalp_radar.sim.clock import SimClock
from scalp_radar.sim.faults import FaultInjector
from scalp_radar.sim.format import dumps, ws_row_json
from scalp_radar.sim.limits import (
    WS_CHANNELS,
    WS_CONNECTIONS_OPEN,
    WS_MSGS_PER_S,
    WS_NEW_CONNECTIONS,
    WS_SUBSCRIBES_PER_HOUR,
    SimLimits,
    SlidingWindow,
)
from scalp_radar.sim.market import Market
from scalp_radar.sim.rest import RestApi, rows_back
from scalp_radar.sim.timeframes import WS_CHANNEL, align, next_start

_INF = math.inf
_HEAVY_SNAPSHOT_TFS = {"6h", "12h", "1d", "3d", "1w", "1M"}
_MAX_CATCH_UP = 100  # closed candles one update may carry after the pusher fell behind
_FIREHOSE_YIELD_EVERY = 32  # pushes between two yields to the loop in firehose mode


@dataclass
class Sub:
    """One subscribed channel of a session."""

    arg: dict
    arg_json: str
    inst: str
    kind: str  # "candle" or "ticker"
    tf: str = ""
    last_ts: int | None = None  # start of the forming candle at the last push
    skip_until: int | None = None  # gap fault: no pushes until the forming candle reaches this
    cache_key: int = -1  # simulated second of cache_rows: the forming row changes once a second
    cache_rows: str = ""


@dataclass(frozen=True)
class ConnectionInfo:
    """One open websocket connection as tests and benchmarks see it."""

    id: int  # order of opening, from 0
    channels: int
    tickers: int
    subscribe_requests: int
    received: int  # client frames, pings included
    pushed: int


class WsSession:
    """A client connection: subscriptions, heartbeat, limits and the pusher."""

    def __init__(self, hub: WsHub, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.hub = hub
        self.ws = ws
        self.transport = request.transport
        self.subs: dict[tuple[str, str, str], Sub] = {}
        now = time.monotonic()
        self.opened = now
        self.last_ping = now
        self.subscribed = False
        self.stale_until = 0.0
        self.nopong_until = 0.0
        self.busy_until = 0.0  # client frames wait unread until then (the "busy" fault)
        limits = hub.limits
        self.msg_window = SlidingWindow(limits.ws_msgs_per_s, 1.0) if limits.ws_msgs_per_s else None
        self.sub_window = (
            SlidingWindow(limits.ws_subscribes_per_hour, 3600.0)
            if limits.ws_subscribes_per_hour
            else None
        )
        self.closing = False
        self.pushed = 0
        self.received = 0  # client frames, pings included
        self.subscribe_requests = 0
        self.id = hub.connections_total  # order of opening, from 0
        self._wake = asyncio.Event()

    # -- sending ----------------------------------------------------------------------------
    async def send(self, text: str) -> None:
        """Send one text frame unless the socket is going away."""
        if self.closing or self.ws.closed:
            return
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            self.closing = True

    async def send_error(self, code: int, msg: str, arg: dict | None = None, op: str | None = None):
        """A Bitget error event."""
        event: dict = {"event": "error"}
        if arg is not None:
            event["arg"] = arg
        event["code"] = code
        event["msg"] = msg
        if op is not None:
            event["op"] = op
        await self.send(dumps(event))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Graceful close."""
        if self.closing:
            return
        self.closing = True
        logger.debug("sim ws close {} {}", code, reason)
        # The peer may already be gone.
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode())

    def abort(self) -> None:
        """Abrupt TCP drop: the client sees 1006."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    # -- receiving ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve the connection until it closes."""
        tasks = [asyncio.create_task(self._pusher()), asyncio.create_task(self._guard())]
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                pause = self.busy_until - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                await self._on_text(msg.data)
                if self.closing:
                    break
        finally:
            self.closing = True
            self.hub.feed.drop_session(self)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _on_text(self, text: str) -> None:
        self.received += 1
        if self.msg_window is not None and not self.msg_window.hit():
            self.hub.violation(WS_MSGS_PER_S)
            await self.send_error(30007, "request over limit,connection close")
            await self.close(1008, "request over limit")
            return
        if text == "ping":
            self.last_ping = time.monotonic()
            if self.nopong_until <= time.monotonic():
                await self.send("pong")
            return
        try:
            message = json.loads(text)
            op = message["op"]
            args = message["args"]
            if not isinstance(args, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            await self.send_error(30016, "Param error")
            return
        if op == "subscribe":
            # Bitget counts subscribe *requests* (messages), however many args each carries.
            self.subscribe_requests += 1
            if self.sub_window is not None and not self.sub_window.hit():
                self.hub.violation(WS_SUBSCRIBES_PER_HOUR)
                await self.send_error(30006, "request too many")
                return
            for arg in args:
                await self._subscribe(arg)
        elif op == "unsubscribe":
            for arg in args:
                await self._unsubscribe(arg)
        else:
            await self.send_error(30016, f"Param error: unknown op {op!r}")

    def _resolve(self, arg: object) -> tuple[str, str, str] | None:
        """(inst, kind, tf) for a valid arg, else None."""
        if not isinstance(arg, dict):
            return None
        inst_type = str(arg.get("instType", ""))
        channel = str(arg.get("channel", ""))
        inst = self.hub.market.resolve(str(arg.get("instId", "")))
        if inst_type.upper() not in ("USDT-FUTURES", "MC") or inst is None:
            return None
        if channel == "ticker":
            return inst, "ticker", ""
        if channel.startswith("candle") and channel[6:] in WS_CHANNEL:
            return inst, "candle", WS_CHANNEL[channel[6:]]
        return None

    async def _subscribe(self, arg: object) -> None:
        resolved = self._resolve(arg)
        if resolved is None:
            a = arg if isinstance(arg, dict) else {}
            msg = (
                f"instType:{a.get('instType')},channel:{a.get('channel')},"
                f"instId:{a.get('instId')} doesn't exist"
            )
            await self.send_error(30001, msg, arg=a, op="subscribe")
            return
        assert isinstance(arg, dict)
        limits = self.hub.limits
        inst, kind, tf = resolved
        key = (inst, kind, tf)
        if (
            key not in self.subs
            and limits.ws_max_channels is not None
            and len(self.subs) >= limits.ws_max_channels
        ):
            self.hub.violation(WS_CHANNELS)
            await self.send_error(30006, "request too many", arg=arg, op="subscribe")
            return
        self.subscribed = True
        await self.send(dumps({"event": "subscribe", "arg": arg}))
        sub = Sub(arg=arg, arg_json=dumps(arg), inst=inst, kind=kind, tf=tf)
        self.subs[key] = sub
        await self._snapshot(sub)
        if kind == "ticker":
            self.hub.feed.add(inst, self)
        else:
            self._wake.set()

    async def _unsubscribe(self, arg: object) -> None:
        resolved = self._resolve(arg)
        if resolved is None or resolved not in self.subs:
            a = arg if isinstance(arg, dict) else {}
            await self.send_error(30016, "Param error: not subscribed", arg=a, op="unsubscribe")
            return
        del self.subs[resolved]
        if resolved[1] == "ticker":
            self.hub.feed.remove(resolved[0], self)
        await self.send(dumps({"event": "unsubscribe", "arg": arg}))

    # -- pushing -----------------------------------------------------------------------------
    async def _snapshot(self, sub: Sub) -> None:
        now = self.hub.clock.now_ms()
        if sub.kind == "ticker":
            data = dumps([self.hub.rest.ticker_data(sub.inst, now, rest=False)])
            await self.send(
                f'{{"action":"snapshot","arg":{sub.arg_json},"data":{data},"ts":{now}}}'
            )
            return
        if sub.tf in _HEAVY_SNAPSHOT_TFS:
            # Hundreds of days of 1m truth to build: off the loop, which keeps serving.
            rows = await asyncio.to_thread(self._snapshot_rows, sub, now)
        else:
            rows = self._snapshot_rows(sub, now)
        sub.last_ts = rows[-1][0]
        body = ",".join(ws_row_json(r) for r in rows)
        await self.send(f'{{"action":"snapshot","arg":{sub.arg_json},"data":[{body}],"ts":{now}}}')

    def _snapshot_rows(self, sub: Sub, now: int) -> list:
        market = self.hub.market
        forming_ts = align(sub.tf, now)
        start = rows_back(sub.tf, forming_ts, self.hub.limits.snapshot_rows - 1)
        rows = market.candles(sub.inst, sub.tf, start, forming_ts, now)
        rows.append(market.forming(sub.inst, sub.tf, now))
        return rows

    def _candle_frame(self, sub: Sub, now: int) -> str | None:
        """The update frame of a candle channel at now (None while a gap fault hides it)."""
        market = self.hub.market
        forming = market.forming(sub.inst, sub.tf, now)
        ts = forming[0]
        if sub.skip_until is not None:
            if ts < sub.skip_until:
                return None
            sub.skip_until = None
            sub.last_ts = ts  # resume without catching up: the skipped candles stay missing
        rows: list[str] = []
        if sub.last_ts is not None and ts > sub.last_ts:
            # Every candle closed since the last push, final values (a stalled pusher must not
            # leave older ones at a forming value in the client; beyond the cap: REST heals).
            closed = market.candles(sub.inst, sub.tf, sub.last_ts, ts, now)[-_MAX_CATCH_UP:]
            rows.extend(ws_row_json(r) for r in closed)
        sub.last_ts = ts
        key = now // 1000
        if key != sub.cache_key or rows:
            sub.cache_key = key
            sub.cache_rows = ws_row_json(forming)
        rows.append(sub.cache_rows)
        return f'{{"action":"update","arg":{sub.arg_json},"data":[{",".join(rows)}],"ts":{now}}}'

    async def _push_candle(self, sub: Sub, now: int) -> None:
        fault = self.hub.faults.take_push()
        if fault is None:
            frame = self._candle_frame(sub, now)
            if frame is not None:
                await self.send(frame)
                self.pushed += 1
            return
        kind, params = fault
        logger.debug("sim push fault {} on {} {}", kind, sub.inst, sub.tf)
        if kind == "malformed":
            await self.send(f'{{"action":"update","arg":{sub.arg_json},"data":[["17')
            self.pushed += 1
            return
        if kind == "gap":
            forming_ts = align(sub.tf, now)
            count = max(1, int(params.get("count", 3)))
            skip = forming_ts
            for _ in range(count):
                skip = next_start(sub.tf, skip)
            sub.skip_until = skip
            return
        frame = self._candle_frame(sub, now)
        if frame is None:
            return
        if kind == "invalid":
            ts, o, h, lo, c, v = self.hub.market.forming(sub.inst, sub.tf, now)
            # High and low swapped: high < low, also on a flat candle that just opened.
            bad = ws_row_json((ts, o, lo, max(h, lo * 1.01), c, v))
            frame = f'{{"action":"update","arg":{sub.arg_json},"data":[{bad}],"ts":{now}}}'
        await self.send(frame)
        self.pushed += 1
        if kind == "duplicate":
            await self.send(frame)
            self.pushed += 1
        elif kind == "outoforder":
            back = max(1, int(params.get("back", 3)))
            forming_ts = align(sub.tf, now)
            old_ts = rows_back(sub.tf, forming_ts, back)
            old = self.hub.market.candles(sub.inst, sub.tf, old_ts, old_ts + 1, now)
            if old:
                row = ws_row_json(old[0])
                await self.send(
                    f'{{"action":"update","arg":{sub.arg_json},"data":[{row}],"ts":{now}}}'
                )
                self.pushed += 1

    async def _pusher(self) -> None:
        limits = self.hub.limits
        clock = self.hub.clock
        interval = limits.push_interval_s
        firehose = limits.is_firehose
        sent = 0
        while not self.closing:
            candles = [sub for sub in self.subs.values() if sub.kind == "candle"]
            if not candles:
                self._wake.clear()
                await self._wake.wait()
                continue
            if not firehose:
                await asyncio.sleep(interval)
            if time.monotonic() < self.stale_until:
                if firehose:
                    await asyncio.sleep(0.01)
                continue
            for sub in candles:
                if self.closing:
                    return
                if sub.kind != "candle" or self.subs.get((sub.inst, "candle", sub.tf)) is not sub:
                    continue  # unsubscribed meanwhile
                await self._push_candle(sub, clock.now_ms())
                sent += 1
            if firehose and sent >= _FIREHOSE_YIELD_EVERY:
                sent = 0
                await asyncio.sleep(0)

    async def _guard(self) -> None:
        """Idle, missing-ping and lifetime limits (real seconds)."""
        limits = self.hub.limits
        while not self.closing:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if (
                limits.ws_idle_timeout_s is not None
                and not self.subscribed
                and now - self.opened > limits.ws_idle_timeout_s
            ):
                await self.close(1000, "no subscription")
            elif (
                limits.ws_ping_timeout_s is not None
                and now - self.last_ping > limits.ws_ping_timeout_s
            ):
                await self.close(1000, "no ping")
            elif (
                limits.ws_max_lifetime_s is not None
                and now - self.opened > limits.ws_max_lifetime_s
            ):
                await self.close(1001, "forced reconnect")

    # -- faults --------------------------------------------------------------------------------
    async def apply_fault(self, kind: str, params: dict) -> None:
        """Apply a connection fault to this session."""
        duration = float(params.get("duration", 0) or 0)
        until = time.monotonic() + duration if duration > 0 else _INF
        if kind == "close":
            await self.close(int(params.get("code", 1000)), "fault")
        elif kind == "drop":
            self.abort()
        elif kind == "stale":
            self.stale_until = until
        elif kind == "nopong":
            self.nopong_until = until
        elif kind == "busy":
            self.busy_until = time.monotonic() + duration
        else:  # error events
            code = int(params.get("code", 30001))
            if code == 30001:
                first = next(iter(self.subs.values()), None)
                arg = (
                    first.arg
                    if first
                    else {"instType": "USDT-FUTURES", "channel": "candle1m", "instId": "BADUSDT"}
                )
                await self.send_error(
                    30001,
                    f"instType:{arg.get('instType')},channel:{arg.get('channel')},"
                    f"instId:{arg.get('instId')} doesn't exist",
                    arg=arg,
                    op="subscribe",
                )
            elif code == 30007:
                await self.send_error(30007, "request over limit,connection close")
                await self.close(1008, "request over limit")
            elif code == 30006:
                await self.send_error(30006, "request too many")
            else:
                await self.send_error(code, f"error {code}")


@dataclass(eq=False)
class WsHub:
    """All websocket sessions of one simulator."""

    market: Market
    clock: SimClock
    limits: SimLimits
    faults: FaultInjector
    rest: RestApi
    sessions: set[WsSession] = field(default_factory=set, init=False)
    connections_total: int = field(default=0, init=False)
    refused: int = field(default=0, init=False)
    violations: Counter[str] = field(default_factory=Counter, init=False)
    on_violation: Callable[[str], None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.feed = TickerFeed(self)
        self._fault_rng = random.Random(self.faults.seed)
        per_5min = self.limits.ws_new_connections_per_5min
        self._handshakes = SlidingWindow(per_5min, 300.0) if per_5min else None

    def violation(self, kind: str) -> None:
        """Count one violation of a documented limit."""
        self.violations[kind] += 1
        if self.on_violation is not None:
            self.on_violation(kind)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler of /v2/ws/public."""
        refuse = self.faults.take_refuse()
        # Every handshake counts toward the 300 per 5 min, refused ones included.
        over_rate = self._handshakes is not None and not self._handshakes.hit()
        too_many = (
            self.limits.ws_max_connections is not None
            and len(self.sessions) >= self.limits.ws_max_connections
        )
        if over_rate:
            self.violation(WS_NEW_CONNECTIONS)
        elif too_many:
            self.violation(WS_CONNECTIONS_OPEN)
        if refuse is not None or too_many or over_rate:
            self.refused += 1
            retry = str(int((refuse or {}).get("retry_after", 1)))
            return web.Response(
                status=429, text="Too Many Requests", headers={"Retry-After": retry}
            )
        ws = web.WebSocketResponse(autoping=True, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        session = WsSession(self, ws, request)
        self.sessions.add(session)
        self.connections_total += 1
        self.feed.start()
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            if not ws.closed:
                await session.close()
        return ws

    async def apply_fault(self, kind: str, params: dict) -> None:
        """Apply a connection fault to every open session (dropone: to one of them)."""
        sessions = sorted(self.sessions, key=lambda s: s.id)
        if kind == "dropone":
            if sessions:
                index = int(params.get("index", -1))
                if index < 0:
                    index = self._fault_rng.randrange(len(sessions))
                if index < len(sessions):
                    sessions[index].abort()
            return
        if kind == "recycle":
            code = int(params.get("code", 1001))
            await asyncio.gather(*(s.close(code, "forced reconnect") for s in sessions))
            return
        for session in sessions:
            await session.apply_fault(kind, params)

    def connections(self) -> list[ConnectionInfo]:
        """The open connections in opening order, with their counters."""
        return [
            ConnectionInfo(
                s.id,
                len(s.subs),
                sum(1 for k in s.subs if k[1] == "ticker"),
                s.subscribe_requests,
                s.received,
                s.pushed,
            )
            for s in sorted(self.sessions, key=lambda s: s.id)
        ]

    async def close_all(self) -> None:
        """Close every session (server shutdown)."""
        await self.feed.stop()
        await asyncio.gather(*(s.close(1001, "server stopping") for s in list(self.sessions)))

    @property
    def pushes(self) -> int:
        """Update frames pushed by the open sessions."""
        return sum(s.pushed for s in self.sessions)


class TickerFeed:
    """Pushes every subscribed `ticker` channel at Bitget's cadence, for all sessions at once.

    Each contract has its own mean gap between changes in simulated time (busy contracts change
    several times a second, quiet ones every ~10-15 s); the real gap is that divided by the
    clock's speed, never under `limits.ticker_min_interval_s` (Bitget pushes at most every
    ~100-300 ms). A push goes out only when a field changed. One frame body per contract and
    push, shared by its subscribers: serving 500 contracts costs a heap and a dict.
    """

    def __init__(self, hub: WsHub) -> None:
        self.hub = hub
        self.subscribers: dict[str, set[WsSession]] = {}
        self.pushes = 0  # ticker frames sent since start (all sessions)
        self._heap: list[tuple[float, str]] = []
        self._last: dict[str, str] = {}  # inst -> fields of its last push (change detection)
        self._rng = random.Random(20261125)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def mean_gap_s(self, inst: str) -> float:
        """Mean simulated seconds between two changes of a contract's ticker (by liquidity)."""
        spec = self.hub.market.spec(inst)
        quote_volume = spec.minute_volume * spec.level * 1440
        return min(15.0, max(0.15, 0.15 * math.sqrt(3e9 / max(quote_volume, 1.0))))

    def _gap_s(self, inst: str) -> float:
        floor = self.hub.limits.ticker_min_interval_s
        draw = self._rng.expovariate(1.0 / self.mean_gap_s(inst)) / self.hub.clock.speed
        return max(floor * (1.0 + 2.0 * self._rng.random()) if floor > 0 else 0.0, draw)

    def start(self) -> None:
        """Run the feed on the current loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop pushing."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def add(self, inst: str, session: WsSession) -> None:
        """session subscribed to inst's ticker."""
        sessions = self.subscribers.setdefault(inst, set())
        if not sessions:
            heapq.heappush(self._heap, (time.monotonic() + self._gap_s(inst), inst))
            self._wake.set()
        sessions.add(session)

    def remove(self, inst: str, session: WsSession) -> None:
        """session unsubscribed from inst's ticker."""
        sessions = self.subscribers.get(inst)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self.subscribers[inst]  # its heap entry is dropped when due

    def drop_session(self, session: WsSession) -> None:
        """A closed session leaves every ticker it watched."""
        for key in [k for k in session.subs if k[1] == "ticker"]:
            self.remove(key[0], session)

    async def _run(self) -> None:
        heap = self._heap
        while True:
            if not heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = heap[0][0] - time.monotonic()
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            _, inst = heapq.heappop(heap)
            sessions = self.subscribers.get(inst)
            if not sessions:
                continue
            heapq.heappush(heap, (time.monotonic() + self._gap_s(inst), inst))
            await self._push(inst, sessions)

    async def _push(self, inst: str, sessions: set[WsSession]) -> None:
        now = self.hub.clock.now_ms()
        fields = self.hub.rest.tickers.ws(inst, now)
        ts = fields.pop("ts")
        key = dumps(fields)
        if self._last.get(inst) == key:
            return  # nothing changed: Bitget pushes on change
        self._last[inst] = key
        fields["ts"] = ts
        data = dumps([fields])
        mono = time.monotonic()
        for session in list(sessions):
            if session.closing or mono < session.stale_until:
                continue
            sub = session.subs.get((inst, "ticker", ""))
            if sub is None:
                continue
            await session.send(
                f'{{"action":"snapshot","arg":{sub.arg_json},"data":{data},"ts":{now}}}'
            )
            session.pushed += 1
            self.pushes += 1
