"""Snapshots are built at full rate while read, once a second while nobody reads them."""

from __future__ import annotations

from scalp_radar.core.config import load_config
from scalp_radar.core.limiter import RateLimiter
from scalp_radar.engine.data_engine import DataEngine
from scalp_radar.engine.snapshot_demand import SnapshotDemand


class Ticks:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_unread_snapshots_are_built_once_per_idle_interval() -> None:
    now = Ticks()
    demand = SnapshotDemand(read_window_s=2.0, idle_s=1.0, now=now)
    assert demand.due()  # never built
    demand.built()
    now.t += 0.25
    assert not demand.due()  # nobody reads: the 4 Hz tick skips
    now.t += 0.75
    assert demand.due()  # a second since the last build
    demand.built()
    now.t += 0.5
    assert not demand.due()


def test_a_reader_that_keeps_reading_gets_every_tick_until_it_stops() -> None:
    now = Ticks()
    demand = SnapshotDemand(read_window_s=2.0, idle_s=1.0, now=now)
    demand.built()
    demand.read()
    now.t += 0.25
    assert not demand.due()  # one read alone is a one-off (`status`, /metrics)
    demand.read()  # it came back: a dashboard
    for _ in range(8):  # 2 s of 4 Hz ticks after its last read
        now.t += 0.25
        assert demand.due()
        demand.built()
    now.t += 0.25
    assert not demand.due()  # the reader went away


def test_reads_seconds_apart_are_one_offs() -> None:
    now = Ticks()
    demand = SnapshotDemand(read_window_s=2.0, idle_s=1.0, now=now)
    for _ in range(5):  # sd_notify's STATUS every 10 s
        demand.read()
        demand.built()
        now.t += 0.25
        assert not demand.due()
        now.t += 9.75


def test_reading_the_engine_snapshot_counts_as_demand_building_one_does_not() -> None:
    config = load_config()
    engine = DataEngine(config, None, RateLimiter.from_exchange_config(config.exchange))
    now = Ticks()
    engine._snapshot_demand = SnapshotDemand(now=now)
    engine.snapshot(fresh=True)  # the headless status line builds its own, every few seconds
    now.t += 0.25
    assert not engine._snapshot_demand.due()  # and asks for no periodic ones
    now.t += 1.0
    assert engine._snapshot_demand.due()  # the idle interval passed
    engine._snapshot_demand.built()
    now.t += 0.25
    assert not engine._snapshot_demand.due()
    engine.snapshot()  # a reader on another thread (a dashboard, a daemon's viewers)...
    assert not engine._snapshot_demand.due()
    now.t += 0.25
    engine.snapshot()  # ...that reads again
    assert engine._snapshot_demand.due()
