"""Every failure is visible (issue 10, items 5-7): an unreachable exchange names its reason, every
simulator fault kind leaves a count or incident, and a malformed frame is recovered from at once.

Real engine, real ccxt.pro, real sockets on 127.0.0.1, the real simulator.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from loguru import logger

from scalp_radar.app.headless import status_line
from scalp_radar.core.limiter import RateLimiter
from scalp_radar.core.snapshot import EngineSnapshot, StreamState
from scalp_radar.engine.data_engine import DataEngine
from scalp_radar.sim import SimExchange, SimLimits
from scalp_radar.sim.faults import FAULT_KINDS
from scalp_radar.tui import format as fmt
from scalp_radar.tui.widgets.connection import ConnectionPane
from scalp_radar.tui.widgets.radar import RadarPane
from tests.engine_support import BTC, all_live, make_config, rig, wait_for
from tests.tui_fixtures import static_app

API_TIMEOUT_MS = 400  # ccxt's REST timeout in these tests: a silent server fails fast


def fast_config(symbols: list[str], timeframes: list[str], **engine: Any) -> Any:
    """The engine test config with a short REST timeout."""
    cfg = make_config(symbols, timeframes, **engine)
    api = cfg.exchange.api.model_copy(update={"timeout_ms": API_TIMEOUT_MS})
    return cfg.model_copy(update={"exchange": cfg.exchange.model_copy(update={"api": api})})


@contextlib.contextmanager
def warnings_logged() -> Any:
    """Collect the messages logged at WARNING or above while the block runs."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="WARNING")
    try:
        yield lines
    finally:
        logger.remove(sink)


@contextlib.asynccontextmanager
async def engine_at(url: str, cfg: Any) -> AsyncIterator[DataEngine]:
    """An engine (no database) pointed at `url`, stopped afterwards."""
    eng = DataEngine(cfg, None, RateLimiter.from_exchange_config(cfg.exchange), sim_url=url)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A socket that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def http_503_server() -> AsyncIterator[str]:
    """An HTTP server answering 503 to everything (REST and websocket upgrades alike)."""

    async def unavailable(_: web.Request) -> web.Response:
        return web.Response(status=503, text="Service Unavailable")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", unavailable)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def refused_port() -> AsyncIterator[str]:
    yield "http://127.0.0.1:1"


UNREACHABLE = [
    pytest.param(refused_port, "connection refused 127.0.0.1:1", id="refused"),
    pytest.param(silent_server, f"timeout after {API_TIMEOUT_MS / 1000:g} s", id="timeout"),
    pytest.param(http_503_server, "HTTP 503", id="http503"),
]


@pytest.mark.parametrize(("server", "reason"), UNREACHABLE)
async def test_unreachable_exchange_names_its_reason_everywhere_once(server, reason):
    cfg = fast_config([BTC, "ETH/USDT:USDT"], ["1m", "5m"])
    with warnings_logged() as warnings:
        async with server() as url, engine_at(url, cfg) as eng:
            # Several failed rounds of every stream: the reason must still be told only once.
            await wait_for(
                lambda: eng.problem.failures >= 3 * len(eng.streams), what="repeated failures"
            )
            snap = eng.snapshot(fresh=True)
    conn = snap.connection
    assert conn.problem == reason
    for s in snap.streams:
        assert s.state is not StreamState.LIVE
        assert s.last_error == reason
    line = status_line(snap)
    assert f"EXCHANGE UNREACHABLE: {reason}" in line
    told = [i for i in snap.incidents if "cannot reach the exchange" in i.message]
    assert [i.message for i in told] == [f"cannot reach the exchange: {reason}"]
    assert [w for w in warnings if "cannot reach" in w] == [f"cannot reach the exchange: {reason}"]


async def test_refused_websocket_handshake_is_a_reason_then_recovery_is_told(tmp_path):
    """The simulator's `refuse` fault: HTTP 429 on the upgrade, then the exchange is back."""
    cfg = make_config([BTC], ["1m"])
    with warnings_logged() as warnings:
        async with rig(tmp_path, cfg) as r:
            eng = r.engine
            await wait_for(lambda: all_live(eng), what="streams live")
            r.sim.faults.inject("refuse", count=2, retry_after=0.2)
            r.sim.faults.inject("drop")
            await wait_for(lambda: eng.problem.failures >= 1, what="a refused handshake")
            down = eng.snapshot(fresh=True)
            await wait_for(lambda: all_live(eng), what="streams live again")
            up = eng.snapshot(fresh=True)
    reason = "HTTP 429 on the websocket handshake"
    assert down.connection.problem == reason
    assert f"EXCHANGE UNREACHABLE: {reason}" in status_line(down)
    assert up.connection.problem is None and up.connection.connect_failures >= 1
    assert "failed connects" in status_line(up)
    messages = [i.message for i in up.incidents]
    assert f"cannot reach the exchange: {reason}" in messages
    assert any(m.startswith("exchange reachable again") for m in messages)
    assert sum("cannot reach" in w for w in warnings) == 1


async def test_tui_shows_the_reason_in_the_connection_pane_header_and_selected_stream():
    cfg = fast_config([BTC], ["1m"])
    async with refused_port() as url, engine_at(url, cfg) as eng:
        await wait_for(lambda: eng.problem.failures >= 2, what="failed connects")
        snap = eng.snapshot(fresh=True)
    reason = "connection refused 127.0.0.1:1"
    app, _ = static_app(snap, demo=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        pane = app.screen.query_one(ConnectionPane)
        assert reason in str(pane.border_title)
        assert "failed connects" in str(pane.border_subtitle)
        why = pane.get_cell(f"{BTC} 1m", "why")
        assert reason in str(why)
        assert reason in str(app.screen.query_one(RadarPane).border_subtitle)
        assert reason in app.sub_title


# --- item 6: every fault kind of the simulator surfaces ----------------------------------------


def _rest_trigger(kind: str, **params: Any) -> Callable[[SimExchange], None]:
    """Arm a REST fault, then make the engine call REST: a gap is healed over REST."""

    def inject(sim: SimExchange) -> None:
        sim.faults.inject(kind, **params)
        sim.faults.inject("gap", count=2)

    return inject


def _one(kind: str, **params: Any) -> Callable[[SimExchange], None]:
    return lambda sim: sim.faults.inject(kind, **params)


def _refuse(sim: SimExchange) -> None:
    sim.faults.inject("refuse", count=1, retry_after=0.1)
    sim.faults.inject("drop")  # the handshake refusal needs a new dial


def reconnected(snap: EngineSnapshot) -> bool:
    return snap.connection.reconnects >= 1


def recreated(snap: EngineSnapshot) -> bool:
    return snap.connection.exchange_recreations >= 1


def _total(attr: str) -> Callable[[EngineSnapshot], bool]:
    return lambda snap: sum(getattr(s, attr) for s in snap.streams) >= 1


def _conn(attr: str) -> Callable[[EngineSnapshot], bool]:
    return lambda snap: getattr(snap.connection, attr) >= 1


RECONNECTS = r"reconnects [1-9]"
RECREATED = r"ws .*\b[1-9]\d* re-created"
# kind -> (how to inject it, what the snapshot must count, what the status line must say)
FAULTS: dict[str, tuple[Callable[[SimExchange], None], Callable[[EngineSnapshot], bool], str]] = {
    "close": (_one("close"), reconnected, RECONNECTS),
    "drop": (_one("drop"), reconnected, RECONNECTS),
    "dropone": (_one("dropone", index=0), reconnected, RECONNECTS),
    "recycle": (_one("recycle"), reconnected, RECONNECTS),
    "stale": (_one("stale", duration=3), reconnected, RECONNECTS),
    "nopong": (_one("nopong", duration=3), reconnected, RECONNECTS),
    "error": (_one("error"), recreated, RECREATED),
    "e30001": (_one("e30001"), recreated, RECREATED),
    "e30006": (_one("e30006"), recreated, RECREATED),
    "e30007": (_one("e30007"), reconnected, RECONNECTS),
    "gap": (_one("gap"), _total("gaps_detected"), r"gaps [1-9]"),
    "duplicate": (_one("duplicate"), _total("duplicates_dropped"), r"dropped .*1 duplicate"),
    "outoforder": (_one("outoforder"), _total("out_of_order_dropped"), r"dropped .*out-of-order"),
    "invalid": (_one("invalid"), _total("invalid_dropped"), r"dropped .*1 invalid"),
    "malformed": (_one("malformed"), _conn("malformed_frames"), r"ws .*1 malformed"),
    "refuse": (_refuse, _conn("connect_failures"), r"failed connects"),
    "rest429": (_rest_trigger("rest429", count=1), _conn("rest_429s"), r"REST 1 429"),
    "rest429text": (_rest_trigger("rest429text", count=1), _conn("rest_429s"), r"REST 1 429"),
    "rest5xx": (_rest_trigger("rest5xx", count=1), _conn("rest_errors"), r"REST .*1 failed"),
    "slow": (_rest_trigger("slow", count=1, delay=1), _conn("rest_errors"), r"REST .*1 failed"),
    "restdrop": (_rest_trigger("restdrop"), _conn("rest_errors"), r"REST .*[1-9] failed"),
}


# A busy server (client frames read late) is a load the engine absorbs: nothing to surface.
ABSORBED = {"busy"}


def test_every_fault_kind_is_covered():
    assert set(FAULTS) | ABSORBED == set(FAULT_KINDS)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(FAULTS))
async def test_every_fault_kind_surfaces_in_snapshot_status_line_and_tui(tmp_path, kind):
    inject, counted, shown = FAULTS[kind]
    # Pushes skipped by a gap must not look stale; the stale fault itself needs a quick watchdog.
    cfg = fast_config([BTC], ["1m"], stale_min_s=1.0 if kind == "stale" else 3.0)
    limits = SimLimits.off(push_interval_s=0.05)
    async with rig(tmp_path, cfg, limits=limits) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), what="streams live")
        before = eng.snapshot(fresh=True)
        assert not counted(before)
        inject(r.sim)
        await wait_for(lambda: counted(eng.snapshot(fresh=True)), what=f"{kind} counted")
        snap = eng.snapshot(fresh=True)
    line = status_line(snap)
    assert re.search(shown, line), line
    assert re.search(shown, status_line(before)) is None
    # The TUI shows the same counts: connection pane border, buffers border, incidents pane.
    tui = " ".join(
        [
            fmt.fault_counts(snap.connection),
            fmt.dropped_counts(snap.streams),
            f"rc {snap.connection.reconnects}",
            " ".join(f"{s.gaps_detected}/{s.gaps_healed}/{s.gaps_open}" for s in snap.streams),
        ]
    )
    assert tui != " ".join(
        [
            fmt.fault_counts(before.connection),
            fmt.dropped_counts(before.streams),
            f"rc {before.connection.reconnects}",
            " ".join(f"{s.gaps_detected}/{s.gaps_healed}/{s.gaps_open}" for s in before.streams),
        ]
    )


# --- item 7: a malformed frame kills ccxt's receive loop: recover at once ----------------------


@pytest.mark.slow
async def test_malformed_frame_recovers_by_receive_loop_check_not_by_staleness(tmp_path):
    # A stale bound far beyond the guard's timeout: recovery can only come from the guard.
    cfg = make_config([BTC, "ETH/USDT:USDT"], ["1m", "5m"], stale_min_s=30.0)
    async with rig(tmp_path, cfg) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), what="streams live")
        updates = {s.key: s.updates for s in eng.streams}
        r.sim.faults.inject("malformed")
        await wait_for(lambda: eng.holder.malformed_frames >= 1, 10, "the malformed frame")
        # Every stream updates again (fresh rows after the frame) well before staleness.
        await wait_for(
            lambda: all_live(eng) and all(s.updates > updates[s.key] + 2 for s in eng.streams),
            10,
            "all streams updating again",
        )
        snap = eng.snapshot(fresh=True)
    conn = snap.connection
    assert conn.malformed_frames == 1
    assert conn.exchange_recreations == 1
    assert sum(s.stale_events for s in eng.streams) == 0
    assert not [i for i in snap.incidents if i.kind == "stale"]
    died = [i for i in snap.incidents if i.kind == "error"]
    assert len(died) == 1
    assert died[0].message.startswith("websocket receive loop died on a malformed frame")
    assert re.search(r"ws 1 malformed, 1 re-created", status_line(snap))
