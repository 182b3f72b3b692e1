"""Connection faults from the spec's table, one at a time and together, against the simulator.

After each: streams go through the expected states, come back live, nothing crashes, and the
candles in SQLite equal the simulator's truth with no hole and no duplicate.
"""

from __future__ import annotations

import pytest

from scalp_radar.core.snapshot import StreamState
from tests.engine_support import (
    BTC,
    ETH,
    all_live,
    assert_all_match_truth,
    closes_after,
    make_config,
    rig,
    settle,
    wait_for,
)

DOWN = {StreamState.RECONNECTING, StreamState.STALE}


@pytest.mark.parametrize(
    ("fault", "params"),
    [
        ("close", {"code": 1000}),
        ("close", {"code": 1001}),
        ("drop", {}),
        ("nopong", {}),
        ("e30006", {}),
        ("e30007", {}),
    ],
)
@pytest.mark.slow
async def test_connection_fault_recovers_and_store_is_exact(tmp_path, fault, params):
    cfg = make_config([BTC, ETH], ["1m", "5m"])
    async with rig(tmp_path, cfg) as r:
        eng = r.engine
        await wait_for(lambda: all_live(eng), what="all streams live")
        dials = r.sim.hub.connections_total
        r.sim.faults.inject(fault, **params)
        # A watcher that was waiting sees the error; one that was busy just re-dials on its
        # next call. Either way a new connection must come up and every stream stay exact.
        await wait_for(lambda: r.sim.hub.connections_total > dials, what="a new connection")
        await closes_after(eng, 2)
        await settle(eng)
        snap = eng.snapshot(fresh=True)
        assert {s.state for s in snap.streams} == {StreamState.LIVE}
        # Every fault ends the connection the live streams share: they must all notice it.
        went_down = [s.key for s in eng.streams if DOWN & set(s.state_log)]
        assert went_down, f"{fault}: no stream went down after the connection was lost"
        assert snap.connection.reconnects >= 1
        assert {"disconnect", "reconnect"} <= {i.kind for i in snap.incidents}
    await assert_all_match_truth(r)
