"""Stopping the engine never leaves a repair coroutine un-awaited: a verification or heal
spawned just before (or while) the engine stops is cancelled cleanly, one spawned after it is
closed (was: RuntimeWarning "coroutine 'Healer._verify' was never awaited" at every stop)."""

from __future__ import annotations

import gc
import warnings

import pytest

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.sim import SimExchange, SimLimits
from tests.engine_support import BTC, make_config, new_engine


def _candle(ts: int) -> Candle:
    return Candle(
        symbol=BTC,
        timeframe=TimeFrame("1m"),
        timestamp=ts,
        open=100.0,
        high=101.0,
        low=99.0,
        close=100.5,
        volume=1.0,
    )


@pytest.mark.slow
async def test_repairs_spawned_around_stop_are_never_left_unawaited() -> None:
    cfg = make_config([BTC], ["1m"])
    async with SimExchange([BTC], limits=SimLimits.off()) as sim:
        engine = new_engine(cfg, None, sim)
        await engine.start()
        stream = engine.streams[0]
        minute = sim.clock.now_ms() // 60_000 * 60_000
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Spawned in the same tick as the stop: cancelled before its first step.
            engine.stream_unconfirmed(stream, _candle(minute - 120_000))
            engine.stream_gap(stream, minute - 600_000, minute - 300_000)
            await engine.stop()
            # Reported by a stream still draining after the stop.
            engine.stream_unconfirmed(stream, _candle(minute - 60_000))
            gc.collect()
        never = [str(w.message) for w in caught if "never awaited" in str(w.message)]
        assert never == []
        assert engine.pending_repairs == 0
