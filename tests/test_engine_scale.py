"""Candle streams at scale: sharded over sockets inside Bitget's limits, a failure costs its shard,
streams added and removed at runtime (watchlist, pinned), buffers that hold numbers."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import pytest

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.snapshot import StreamState
from scalp_radar.engine.buffer import CandleBuffer
from scalp_radar.sim import SimLimits
from tests.engine_support import BTC, ETH, all_live, make_config, rig, wait_for

SOL = "SOL/USDT:USDT"


def _limits(**overrides: object) -> SimLimits:
    """Bitget's documented websocket limits, REST limits off (the tests make few calls)."""
    return SimLimits(rest_rates=None, push_interval_s=0.05, **overrides)  # type: ignore[arg-type]


def _sharded_config(
    symbols: list[str],
    per_connection: int,
    subscribes_per_hour: int,
    stale_min_s: float = 1.0,
    rate_per_s: float = 5,
) -> object:
    cfg = make_config(symbols, ["1m", "5m"], stale_min_s=stale_min_s)
    ws = cfg.exchange.websocket.model_copy(
        update={
            "streams_per_connection": per_connection,
            "subscribes_per_hour": subscribes_per_hour,
            "dial_spacing_s": 0.05,
            "subscribe_rate_per_s": rate_per_s,
        }
    )
    return type(cfg).model_construct(
        **dict(cfg.__dict__, exchange=cfg.exchange.model_copy(update={"websocket": ws}))
    )


@pytest.mark.slow
async def test_many_streams_shard_over_sockets_and_all_go_live_without_violations(
    tmp_path: Path,
) -> None:
    """60 streams where one socket may take 40 subscribes: one socket tripped 30006 at the 41st
    and dropped every stream; sharded 10 a socket they all go live with no limit violated."""
    from scalp_radar.sim.universe import build_universe

    symbols = [spec.symbol for spec in build_universe(30, seed=7)]
    # At SPEED a 1m stream is stale after 1.5 real seconds without an update: a loaded machine
    # stalling that long would recycle a socket (a 7th connection) though no limit was hit.
    cfg = _sharded_config(symbols, per_connection=10, subscribes_per_hour=30, stale_min_s=10.0)
    limits = _limits(ws_subscribes_per_hour=40)
    async with rig(tmp_path, cfg, sim_symbols=symbols, limits=limits) as r:
        await wait_for(lambda: all_live(r.engine), 30, "all 60 streams live")
        assert len(r.engine.streams) == 60
        assert not r.sim.violations, dict(r.sim.violations)
        conns = r.sim.connections()
        assert len(conns) == 6 and all(c.channels <= 10 for c in conns)
        assert sum(s.holder.recycles for s in r.engine.shards.shards) == 0
        snap = r.engine.snapshot(fresh=True)
        assert all(s.state is StreamState.LIVE for s in snap.streams)


async def test_a_busy_server_never_reads_a_burst_of_subscribes(tmp_path: Path) -> None:
    """A server busy for 1.6 s reads the frames sent meanwhile at once, counting them as it reads:
    subscribes spaced at 8/s queued 13 deep and tripped 30007 (10 a second). One subscribe in
    flight per socket (the next waits for the answer to the last) never queues a burst."""
    from scalp_radar.sim.universe import build_universe

    symbols = [spec.symbol for spec in build_universe(8, seed=7)]
    cfg = _sharded_config(symbols, per_connection=50, subscribes_per_hour=200, rate_per_s=8)
    async with rig(tmp_path, cfg, sim_symbols=symbols, limits=_limits()) as r:
        await wait_for(lambda: bool(r.sim.connections()), 10, "the first socket")
        r.sim.faults.inject("busy", duration=1.6)
        await wait_for(lambda: all_live(r.engine), 30, "all 16 streams live")
        assert not r.sim.violations, dict(r.sim.violations)
        assert sum(s.holder.recycles for s in r.engine.shards.shards) == 0


async def test_streams_queued_to_subscribe_follow_a_recreated_shard(tmp_path: Path) -> None:
    """Streams waiting their turn to subscribe held the instance they saw before queueing; one
    re-created meanwhile (an error event) was closed, and their subscribes dialled it again: a
    socket nobody closes, outside the gate's count. They subscribe on the current instance."""
    from scalp_radar.sim.universe import build_universe

    symbols = [spec.symbol for spec in build_universe(8, seed=7)]
    cfg = _sharded_config(symbols, per_connection=50, subscribes_per_hour=200)
    async with rig(tmp_path, cfg, sim_symbols=symbols, limits=_limits()) as r:
        await wait_for(lambda: sum(c.channels for c in r.sim.connections()) >= 3, 10, "3 subs")
        r.sim.faults.inject("e30006")
        await wait_for(lambda: all_live(r.engine), 30, "all 16 streams live")
        assert r.engine.shards.shards[0].holder.recycles == 1
        await wait_for(lambda: len(r.sim.connections()) == 1, 5, "the old socket closed")
        assert [c.channels for c in r.sim.connections()] == [16]


async def test_a_dropped_socket_costs_only_its_own_shard(tmp_path: Path) -> None:
    """Dropping one shard's socket re-dials that shard alone: every other stream stays live."""
    symbols = [BTC, ETH, SOL]
    cfg = _sharded_config(symbols, per_connection=2, subscribes_per_hour=200)
    async with rig(tmp_path, cfg, sim_symbols=symbols, limits=_limits()) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), 20, "all streams live")
        assert len(eng.shards.shards) == 3
        before = {s.key: s.reconnects for s in eng.streams}
        r.sim.drop_connection(0)
        await wait_for(lambda: sum(s.reconnects for s in eng.streams) >= 2, 20, "a shard down")
        await wait_for(lambda: all_live(eng), 20, "the dropped shard live again")
        hit = {s.key for s in eng.streams if s.reconnects > before[s.key]}
        shard_of = {s.key: s.connection for s in eng.streams}
        assert len(hit) == 2 and len({shard_of[k] for k in hit}) == 1  # one shard's two streams
        untouched = [s for s in eng.streams if s.key not in hit]
        assert len(untouched) == 4 and all(
            s.reconnects == 0 and StreamState.RECONNECTING not in s.state_log for s in untouched
        )
        assert not r.sim.violations, dict(r.sim.violations)


async def test_pin_and_watch_add_and_remove_candle_streams_at_runtime(tmp_path: Path) -> None:
    """pin/unpin and watch_symbol/unwatch_symbol start and stop real streams without a restart;
    stopping unsubscribes on the socket (counted, paced) and the channel leaves the simulator."""
    cfg = make_config([BTC], ["1m"])
    async with rig(tmp_path, cfg, sim_symbols=[BTC, ETH, SOL], limits=_limits()) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), 15, "BTC live")
        await eng.pin(ETH)
        assert {s.key for s in eng.streams} == {f"{BTC} 1m", f"{ETH} 1m", f"{ETH} 5m"}
        await wait_for(lambda: all_live(eng), 15, "the pinned streams live")
        assert r.sim.connections()[0].channels == 3
        await eng.watch_symbol(SOL, [TimeFrame.M5])
        await eng.pin(SOL)  # already watched: adds its missing 1m stream only
        await wait_for(lambda: len(eng.streams) == 5 and all_live(eng), 15, "SOL streams live")
        await eng.unpin(ETH)
        await eng.unwatch_symbol(SOL)  # still pinned: its 5m stays for the pin
        assert {s.key for s in eng.streams} == {f"{BTC} 1m", f"{SOL} 1m", f"{SOL} 5m"}
        await wait_for(lambda: r.sim.connections()[0].channels == 3, 10, "channels unsubscribed")
        shard = eng.shards.shards[0]
        assert shard.unsubscribes == 2 and shard.budget.used() == 5 + 2
        assert not r.sim.violations, dict(r.sim.violations)
        assert all(s.state is StreamState.LIVE for s in eng.streams)
        # The user's watchlist (state file) as a whole: added symbols stream, removed ones stop.
        await eng.set_user_watchlist([ETH])
        assert f"{ETH} 5m" in {s.key for s in eng.streams}
        await eng.set_user_watchlist([])
        assert {s.key for s in eng.streams} == {f"{BTC} 1m", f"{SOL} 1m", f"{SOL} 5m"}


def test_a_full_buffer_holds_numbers_not_candle_objects() -> None:
    """500 closed candles cost ~24 kB of arrays (was ~650 kB of pydantic Candles)."""
    tf = TimeFrame.M1
    step = tf.to_milliseconds()
    gc.collect()
    tracemalloc.start()
    try:
        buf = CandleBuffer(BTC, tf, 500)
        for i in range(600):
            c = Candle(
                symbol=BTC,
                timeframe=tf,
                timestamp=i * step,
                open=100.0 + i,
                high=101.0 + i,
                low=99.0 + i,
                close=100.5 + i,
                volume=float(i),
            )
            buf.apply(c)
        del c
        gc.collect()
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert retained < 64 * 1024, f"one full buffer retains {retained} bytes"
    assert len(buf.closed) == 500
    assert buf.closed.nbytes() <= 500 * 48 + 6 * 1024  # six columns, amortised growth
    assert buf.closed[-1].close == 100.5 + 598 and buf.closed[0].timestamp == 99 * step


@pytest.mark.slow
async def test_hot_promotion_and_demotion_drive_candle_streams_with_hysteresis(
    tmp_path: Path,
) -> None:
    """The top movers get 1m and 5m streams; a small slip inside the exit rank changes nothing;
    falling past it demotes (unsubscribing on the socket) and the next mover is promoted."""
    from scalp_radar.engine.hot import HotSet

    xrp, doge = "XRP/USDT:USDT", "DOGE/USDT:USDT"
    cfg = make_config([BTC], ["1m"])
    sim_symbols = [BTC, ETH, SOL, xrp, doge]
    async with rig(tmp_path, cfg, sim_symbols=sim_symbols, limits=_limits()) as r:
        eng = r.engine
        eng.hot = HotSet(2, exit_rank=3, min_hold_ms=0)
        await wait_for(lambda: all_live(eng), 15, "BTC live")
        change = await eng.apply_ranking([ETH, SOL, xrp, doge])
        assert change.promoted == (ETH, SOL) and change.demoted == ()
        hot_keys = {f"{s} {tf}" for s in (ETH, SOL) for tf in ("1m", "5m")}
        assert {s.key for s in eng.streams} == {f"{BTC} 1m"} | hot_keys
        await wait_for(lambda: all_live(eng), 15, "the hot streams live")
        shard = eng.shards.shards[0]
        subscribes = shard.budget.used()

        change = await eng.apply_ranking([ETH, xrp, SOL, doge])  # SOL 3rd: inside the exit rank
        assert change.promoted == () and change.demoted == ()
        assert {s.key for s in eng.streams} == {f"{BTC} 1m"} | hot_keys
        assert shard.unsubscribes == 0 and shard.budget.used() == subscribes

        change = await eng.apply_ranking([ETH, xrp, doge, SOL])  # SOL 4th: out
        assert change.demoted == (SOL,) and change.promoted == (xrp,)
        assert {s.key for s in eng.streams} == {f"{BTC} 1m"} | {
            f"{s} {tf}" for s in (ETH, xrp) for tf in ("1m", "5m")
        }
        await wait_for(lambda: all_live(eng), 15, "the promoted streams live")
        await wait_for(lambda: r.sim.connections()[0].channels == 5, 10, "SOL unsubscribed")
        assert shard.unsubscribes == 2 and shard.budget.used() == subscribes + 2 + 2
        assert not r.sim.violations, dict(r.sim.violations)
