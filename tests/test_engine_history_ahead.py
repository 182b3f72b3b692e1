"""Stored candles newer than the exchange's clock never block a stream; they are reported once.

Before: the buffers were seeded with them, every live candle looked old, and every stream stayed
"connecting" forever with no incident (issue 10, item 4).
"""

from __future__ import annotations

import pytest

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.store import Database
from scalp_radar.sim import SimExchange, SimLimits
from tests.engine_support import (
    BTC,
    ETH,
    all_live,
    closes_after,
    make_config,
    new_engine,
    wait_for,
)

HOUR_MS = 3_600_000


def future_candles(symbol: str, tf: str, from_ms: int, n: int) -> list[Candle]:
    """`n` valid candles from `from_ms` on (another history's, not this market's)."""
    step = TimeFrame(tf).to_milliseconds()
    start = TimeFrame(tf).align(from_ms)
    return [
        Candle(
            symbol=symbol,
            timeframe=TimeFrame(tf),
            timestamp=start + i * step,
            open=1.0,
            high=2.0,
            low=0.5,
            close=1.5,
            volume=3.0,
        )
        for i in range(n)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("on_the_simulators_clock", [True, False], ids=["demo", "sim-url"])
async def test_history_ahead_of_the_exchange_is_reported_and_streams_go_live(
    tmp_path, on_the_simulators_clock
):
    cfg = make_config([BTC, ETH], ["1m", "5m"])
    speed = 120.0 if on_the_simulators_clock else 60.0
    async with (
        SimExchange(
            symbols=[BTC, ETH], seed=5, speed=speed, limits=SimLimits.off(push_interval_s=0.05)
        ) as sim,
        Database(tmp_path / "ahead.db") as db,
    ):
        ahead_from = sim.clock.now_ms() + 2 * HOUR_MS
        await db.insert_candles_batch(future_candles(BTC, "1m", ahead_from, 40))
        await db.insert_candles_batch(future_candles(ETH, "5m", ahead_from, 10))
        if on_the_simulators_clock:
            eng = new_engine(cfg, db, sim)  # demo: the engine runs on the simulator's clock
        else:  # --sim-url: the engine is on the wall clock and measures the exchange's
            eng = new_engine(cfg, db, sim, on_sim_clock=False)
        await eng.start()
        try:
            await wait_for(lambda: all_live(eng), 15.0, "every stream live")
            reports = [i for i in eng.incidents if "newer than the exchange's clock" in i.message]
            assert len(reports) == 1
            assert "BTC/USDT:USDT 1m (40 from" in reports[0].message
            assert "ETH/USDT:USDT 5m (10 from" in reports[0].message
            assert "BTC/USDT:USDT 5m" not in reports[0].message
            await closes_after(eng, 3)
        finally:
            await eng.stop()
        # What the live stream stored is the market's truth.
        cutoff = TimeFrame.M1.align(ahead_from)
        live = [c for c in await db.get_candles(BTC, "1m") if c.timestamp < cutoff]
        assert len(live) >= 3
        truth = sim.truth(BTC, "1m", live[0].timestamp, live[-1].timestamp + 1)
        got = [[c.timestamp, c.open, c.high, c.low, c.close, c.volume] for c in live]
        assert got == truth
