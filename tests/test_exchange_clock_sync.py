"""ClockSync: ccxt's clock follows the exchange's, offset and rate, on a virtual local clock."""

from __future__ import annotations

from scalp_radar.core.clock import FrozenClock
from scalp_radar.exchange.clock_sync import ClockSync, follow_server_clock
from scalp_radar.exchange.factory import create_exchange

T0 = 1_800_000_000_000


class VirtualWall:
    """A local clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def test_a_clock_running_sixty_times_faster_is_followed_between_measurements():
    wall = VirtualWall()
    sync = ClockSync(local_ms=wall)
    sync.record(T0 + 1_000, T0)  # 1 s ahead: within the tolerance, ccxt left alone
    ex = create_exchange(None)
    sync.apply(ex)
    assert "milliseconds" not in vars(ex)
    wall.now += 5_000
    sync.record(T0 + 1_000 + 300_000, wall.now)  # 5 real seconds later, 300 s of market time
    sync.apply(ex)
    wall.now += 10_000  # no measurement since: the line through both points still holds
    assert sync.server_now_ms() == T0 + 1_000 + 900_000
    assert ex.milliseconds() == sync.server_now_ms()
    assert sync.offset_ms == 900_000 + 1_000 - 15_000


def test_a_real_exchange_with_a_small_offset_changes_nothing():
    wall = VirtualWall()
    sync = ClockSync(local_ms=wall)
    sync.record(T0 + 40, T0)
    wall.now += 60_000
    sync.record(T0 + 60_040, wall.now)
    assert sync.server_now_ms() == wall.now + 40
    ex = create_exchange(None)
    sync.apply(ex)
    assert "milliseconds" not in vars(ex)


def test_an_injected_clock_is_the_exchange_clock():
    clock = FrozenClock(T0)
    sync = ClockSync(clock)
    ex = create_exchange(None)
    sync.apply(ex)
    clock.advance(60_000)
    assert ex.milliseconds() == T0 + 60_000 == sync.server_now_ms()
    assert sync.measured_within(0)


def test_follow_server_clock_adds_a_fixed_offset():
    ex = create_exchange(None)
    before = ex.milliseconds()
    follow_server_clock(ex, 3_600_000)
    assert 3_600_000 <= ex.milliseconds() - before < 3_660_000
