"""TokenBucket and RateLimiter: FIFO, cancellation, stats, config, and the rate bound (hypothesis).

Timing tests run on a virtual-time event loop: when nothing is ready, its selector jumps the clock
straight to the next timer instead of waiting, so the real asyncio.sleep path of the bucket runs,
deterministically, in microseconds of wall time.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalp_radar.core.limiter import (
    CATEGORIES,
    BucketStats,
    RateLimiter,
    TokenBucket,
    UnknownCategoryError,
)

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):
    """A selector that never blocks: an idle wait advances virtual time by the timeout instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.advances = 0

    def select(self, timeout: float | None = None) -> list[Any]:
        events = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            raise RuntimeError("virtual loop deadlock: nothing scheduled and nothing ready")
        self.now += timeout
        self.advances += 1
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose time() is the virtual clock of its selector."""

    def __init__(self) -> None:
        self.vselector = _VirtualSelector()
        super().__init__(selector=self.vselector)

    def time(self) -> float:
        return self.vselector.now


def run_virtual(make: Callable[[VirtualTimeLoop], Awaitable[T]]) -> tuple[T, VirtualTimeLoop]:
    """Run `make(loop)` to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(make(loop)), loop
    finally:
        loop.close()


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- basic behaviour ------------------------------------------------------------------------


async def test_uncontended_acquire_neither_yields_nor_waits() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=1, capacity=5, name="market_data", clock=clock)
    ran = []
    asyncio.get_running_loop().call_soon(ran.append, "callback")
    tasks_before = len(asyncio.all_tasks())
    for _ in range(3):
        await bucket.acquire()
    # A yield to the loop would have run the callback; no task was created either.
    assert ran == []
    assert len(asyncio.all_tasks()) == tasks_before
    stats = bucket.stats()
    assert stats.tokens == pytest.approx(2.0)
    assert stats.total_acquired == 3
    assert stats.total_wait_s == 0.0
    assert stats.max_wait_s == 0.0
    assert stats.queued == 0


async def test_refill_is_linear_and_capped() -> None:
    clock = FakeClock(100.0)
    bucket = TokenBucket(rate_per_s=4, capacity=10, clock=clock)
    await bucket.acquire(10)
    assert bucket.stats().tokens == 0.0
    clock.now += 0.5
    assert bucket.stats().tokens == pytest.approx(2.0)
    clock.now += 100
    assert bucket.stats().tokens == pytest.approx(10.0)


@pytest.mark.parametrize("cost", [0, -1, float("nan"), float("inf"), 5.5])
async def test_invalid_cost_raises_value_error(cost: float) -> None:
    bucket = TokenBucket(rate_per_s=1, capacity=5, name="trade", clock=FakeClock())
    with pytest.raises(ValueError, match="trade"):
        await bucket.acquire(cost)
    assert bucket.stats().tokens == 5.0
    assert bucket.stats().total_acquired == 0


def test_cost_above_capacity_says_it_could_never_be_granted() -> None:
    bucket = TokenBucket(rate_per_s=1, capacity=5, name="trade", clock=FakeClock())
    with pytest.raises(ValueError, match="exceeds capacity 5"):
        asyncio.run(bucket.acquire(6))


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (-1, 1), (1, 0), (float("nan"), 1)])
def test_invalid_bucket_parameters(rate: float, capacity: float) -> None:
    with pytest.raises(ValueError, match="expected a finite number > 0"):
        TokenBucket(rate_per_s=rate, capacity=capacity)


def test_waiter_sleeps_exactly_its_deficit() -> None:
    async def scenario(loop: VirtualTimeLoop) -> list[float]:
        bucket = TokenBucket(rate_per_s=2, capacity=4, clock=loop.time)
        await bucket.acquire(4)
        times = []
        for cost in (1, 3):
            await bucket.acquire(cost)
            times.append(loop.time())
        return times

    times, loop = run_virtual(scenario)
    assert times == pytest.approx([0.5, 2.0])
    assert loop.vselector.advances == 2


def test_one_sleep_per_grant_no_polling() -> None:
    """100 queued waiters cost exactly 100 clock jumps: only the head ever sleeps, once."""

    async def scenario(loop: VirtualTimeLoop) -> tuple[list[int], list[float]]:
        bucket = TokenBucket(rate_per_s=10, capacity=1, clock=loop.time)
        await bucket.acquire()
        order: list[int] = []
        stamps: list[float] = []

        async def worker(i: int) -> None:
            await bucket.acquire()
            order.append(i)
            stamps.append(loop.time())

        await asyncio.gather(*(worker(i) for i in range(100)))
        return order, stamps

    (order, stamps), loop = run_virtual(scenario)
    assert order == list(range(100))
    assert stamps == pytest.approx([0.1 * (i + 1) for i in range(100)])
    assert loop.vselector.advances == 100


# -- FIFO and cancellation ------------------------------------------------------------------


def test_fifo_big_waiter_is_not_overtaken_by_small_ones() -> None:
    async def scenario(loop: VirtualTimeLoop) -> list[tuple[str, float]]:
        bucket = TokenBucket(rate_per_s=1, capacity=10, clock=loop.time)
        await bucket.acquire(10)
        grants: list[tuple[str, float]] = []

        async def worker(label: str, cost: float, delay: float) -> None:
            await asyncio.sleep(delay)
            await bucket.acquire(cost)
            grants.append((label, loop.time()))

        await asyncio.gather(
            worker("big", 8, 0.0),
            worker("small1", 1, 0.1),
            worker("small2", 1, 0.2),
            worker("mid", 3, 0.3),
            worker("small3", 1, 0.4),
        )
        return grants

    grants, _ = run_virtual(scenario)
    assert [g[0] for g in grants] == ["big", "small1", "small2", "mid", "small3"]
    assert [g[1] for g in grants] == pytest.approx([8.0, 9.0, 10.0, 13.0, 14.0])


def test_cancelled_head_consumes_nothing_and_unblocks_the_queue() -> None:
    async def scenario(loop: VirtualTimeLoop) -> tuple[list[tuple[str, float]], BucketStats]:
        bucket = TokenBucket(rate_per_s=1, capacity=1, clock=loop.time)
        await bucket.acquire()
        grants: list[tuple[str, float]] = []

        async def worker(label: str) -> None:
            await bucket.acquire()
            grants.append((label, loop.time()))

        head = asyncio.ensure_future(worker("head"))
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(worker("second"))  # waits behind the sleeping head
        await asyncio.sleep(0.4)
        assert bucket.stats().queued == 2
        head.cancel()
        await asyncio.sleep(0.1)
        await worker("third")  # queued at 0.6
        await second
        return grants, bucket.stats()

    (grants, stats), _ = run_virtual(scenario)
    # The cancelled head took nothing: the second gets the token that was due to the head.
    assert grants == [("second", pytest.approx(1.0)), ("third", pytest.approx(2.0))]
    assert stats.total_acquired == 3
    assert stats.queued == 0


def test_cancelled_middle_waiter_is_skipped() -> None:
    async def scenario(loop: VirtualTimeLoop) -> list[tuple[str, float]]:
        bucket = TokenBucket(rate_per_s=1, capacity=5, clock=loop.time)
        await bucket.acquire(5)
        grants: list[tuple[str, float]] = []

        async def worker(label: str, cost: float) -> None:
            await bucket.acquire(cost)
            grants.append((label, loop.time()))

        a = asyncio.ensure_future(worker("a", 2))
        b = asyncio.ensure_future(worker("b", 5))
        c = asyncio.ensure_future(worker("c", 1))
        await asyncio.sleep(1.0)
        b.cancel()
        await asyncio.gather(a, c)
        with pytest.raises(asyncio.CancelledError):
            await b
        return grants

    grants, _ = run_virtual(scenario)
    assert grants == [("a", pytest.approx(2.0)), ("c", pytest.approx(3.0))]


def test_waiter_cancelled_right_after_being_woken_passes_the_turn_on() -> None:
    """B is woken as the new head and cancelled before it runs: C must still be granted."""

    async def scenario(loop: VirtualTimeLoop) -> tuple[list[tuple[str, float]], BucketStats]:
        bucket = TokenBucket(rate_per_s=1, capacity=3, clock=loop.time)
        await bucket.acquire(3)
        grants: list[tuple[str, float]] = []
        tasks: dict[str, asyncio.Future[None]] = {}

        async def worker(label: str) -> None:
            await bucket.acquire()
            grants.append((label, loop.time()))
            if label == "a":
                tasks["b"].cancel()  # B's wake future is already resolved at this point

        for label in ("a", "b", "c"):
            tasks[label] = asyncio.ensure_future(worker(label))
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        return grants, bucket.stats()

    (grants, stats), _ = run_virtual(scenario)
    assert grants == [("a", pytest.approx(1.0)), ("c", pytest.approx(2.0))]
    assert stats.total_acquired == 3  # the initial drain, a and c
    assert stats.queued == 0


# -- stats and 429 ----------------------------------------------------------------------------


def test_stats_numbers_while_waiting_and_after() -> None:
    async def scenario(loop: VirtualTimeLoop) -> tuple[BucketStats, BucketStats]:
        bucket = TokenBucket(rate_per_s=2, capacity=2, name="account", clock=loop.time)
        await bucket.acquire(2)
        w1 = asyncio.ensure_future(bucket.acquire(1))  # waits 0.5 s
        w2 = asyncio.ensure_future(bucket.acquire(2))  # waits 1.5 s
        await asyncio.sleep(0.25)
        during = bucket.stats()
        await asyncio.gather(w1, w2)
        return during, bucket.stats()

    (during, after), _ = run_virtual(scenario)
    assert during.category == "account"
    assert during.queued == 2
    assert during.tokens == pytest.approx(0.5)
    assert during.total_acquired == 1
    assert after.queued == 0
    assert after.total_acquired == 3
    assert after.total_wait_s == pytest.approx(0.5 + 1.5)
    assert after.max_wait_s == pytest.approx(1.5)
    assert after.tokens == pytest.approx(0.0)
    assert after.capacity == 2.0
    assert after.refill_rate == 2.0
    assert after.rejected_429 == 0


def test_record_429_counts_and_empties_the_bucket() -> None:
    async def scenario(loop: VirtualTimeLoop) -> tuple[float, BucketStats]:
        limiter = RateLimiter(
            {"market_data": TokenBucket(rate_per_s=4, capacity=8, clock=loop.time)}
        )
        limiter.record_429("market_data")
        await limiter.acquire("market_data", 2)
        return loop.time(), limiter.stats()[0]

    (granted_at, stats), _ = run_virtual(scenario)
    assert granted_at == pytest.approx(0.5)
    assert stats.rejected_429 == 1


def test_bucket_stats_is_frozen_and_shared_with_snapshot() -> None:
    from scalp_radar.core import snapshot

    assert snapshot.BucketStats is BucketStats
    stats = TokenBucket(1, 1, clock=FakeClock()).stats("trade")
    with pytest.raises(AttributeError):
        stats.tokens = 3.0  # type: ignore[misc]
    assert not hasattr(stats, "__dict__")


# -- RateLimiter ------------------------------------------------------------------------------


@dataclass
class _Limits:
    requests_per_second: float
    burst: int


def _exchange_config(**overrides: _Limits | None) -> SimpleNamespace:
    limits: dict[str, _Limits | None] = {
        "market_data": _Limits(20, 20),
        "trade": _Limits(10, 5),
        "account": _Limits(5, 5),
        "position": _Limits(5, 3),
    }
    limits.update(overrides)
    return SimpleNamespace(rate_limits={k: v for k, v in limits.items() if v is not None})


def test_from_exchange_config_builds_four_buckets_in_order() -> None:
    limiter = RateLimiter.from_exchange_config(_exchange_config(), clock=FakeClock())
    stats = limiter.stats()
    assert [s.category for s in stats] == list(CATEGORIES)
    assert [(s.refill_rate, s.capacity, s.tokens) for s in stats] == [
        (20.0, 20.0, 20.0),
        (10.0, 5.0, 5.0),
        (5.0, 5.0, 5.0),
        (5.0, 3.0, 3.0),
    ]


def test_from_the_shipped_config() -> None:
    from scalp_radar.core.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "config")
    stats = RateLimiter.from_exchange_config(config.exchange).stats()
    assert [s.category for s in stats] == list(CATEGORIES)
    for s in stats:
        limits = config.exchange.rate_limits[s.category]
        assert (s.refill_rate, s.capacity) == (limits.requests_per_second, float(limits.burst))
        assert s.tokens == s.capacity  # starts full


def test_from_exchange_config_accepts_an_app_config() -> None:
    app = SimpleNamespace(exchange=_exchange_config(trade=_Limits(1, 2)))
    limiter = RateLimiter.from_exchange_config(app)
    assert limiter.bucket("trade").stats().capacity == 2.0


def test_from_exchange_config_missing_category_names_it() -> None:
    with pytest.raises(ValueError, match=r"missing category trade \(expected market_data"):
        RateLimiter.from_exchange_config(_exchange_config(trade=None))


def test_from_exchange_config_bad_value_names_the_category() -> None:
    with pytest.raises(ValueError, match="position: rate_per_s"):
        RateLimiter.from_exchange_config(_exchange_config(position=_Limits(0, 3)))


def test_from_exchange_config_accepts_plain_mappings_and_names_a_missing_field() -> None:
    limits = {c: {"requests_per_second": 2, "burst": 4} for c in CATEGORIES}
    limiter = RateLimiter.from_exchange_config(SimpleNamespace(rate_limits=limits))
    assert {(s.refill_rate, s.capacity) for s in limiter.stats()} == {(2.0, 4.0)}
    del limits["account"]["burst"]
    with pytest.raises(ValueError, match=r"exchange.rate_limits.account.burst: expected a number"):
        RateLimiter.from_exchange_config(SimpleNamespace(rate_limits=limits))


async def test_unknown_category_names_the_valid_ones() -> None:
    limiter = RateLimiter.from_exchange_config(_exchange_config())
    with pytest.raises(KeyError) as info:
        await limiter.acquire("trades")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, UnknownCategoryError)
    assert str(info.value) == (
        "rate limiter: unknown category 'trades' "
        "(expected one of market_data, trade, account, position)"
    )
    with pytest.raises(ValueError, match="unknown category 'x'"):
        limiter.record_429("x")


async def test_limiter_acquire_on_a_real_loop_keeps_order() -> None:
    limiter = RateLimiter.from_exchange_config(_exchange_config(trade=_Limits(2000, 1)))
    order: list[int] = []

    async def call(i: int) -> None:
        await limiter.acquire("trade")
        order.append(i)

    await asyncio.gather(*(call(i) for i in range(20)))
    assert order == list(range(20))
    stats = limiter.stats()[1]
    assert stats.total_acquired == 20
    assert stats.queued == 0
    assert stats.max_wait_s > 0


# -- properties -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    delay: float  # after the previous arrival
    cost: float
    cancel_after: float | None


_requests = st.lists(
    st.builds(
        _Request,
        delay=st.one_of(st.just(0.0), st.floats(0.0, 3.0)),
        cost=st.one_of(st.integers(1, 5).map(float), st.floats(0.1, 5.0)),
        cancel_after=st.one_of(st.none(), st.floats(0.0, 4.0)),
    ),
    min_size=1,
    max_size=40,
)


def _simulate(
    rate: float, capacity: float, requests: list[_Request]
) -> tuple[list[tuple[float, float, int]], list[float]]:
    """Drive the bucket through `requests`; returns (grants as (t, cost, i), arrival times)."""

    async def scenario(loop: VirtualTimeLoop) -> tuple[list[tuple[float, float, int]], list[float]]:
        bucket = TokenBucket(rate_per_s=rate, capacity=capacity, clock=loop.time)
        grants: list[tuple[float, float, int]] = []
        arrivals: list[float] = []
        tasks: list[asyncio.Task[None]] = []

        async def worker(i: int, cost: float) -> None:
            arrivals.append(loop.time())
            await bucket.acquire(cost)
            grants.append((loop.time(), cost, i))

        for i, req in enumerate(requests):
            if req.delay:
                await asyncio.sleep(req.delay)
            task = asyncio.ensure_future(worker(i, min(req.cost, capacity)))
            tasks.append(task)
            if req.cancel_after is not None:
                loop.call_later(req.cancel_after, task.cancel)
        await asyncio.gather(*tasks, return_exceptions=True)
        assert bucket.stats().queued == 0
        return grants, arrivals

    (grants, arrivals), _ = run_virtual(scenario)
    return grants, arrivals


def _reference_grant_times(
    rate: float, capacity: float, arrivals: list[float], costs: list[float]
) -> list[float]:
    """Ideal FIFO token bucket: each request starts after the previous grant and its own arrival."""
    tokens, updated, previous = capacity, 0.0, 0.0
    times = []
    for arrival, cost in zip(arrivals, costs, strict=True):
        start = max(arrival, previous)
        tokens = min(capacity, tokens + (start - updated) * rate)
        grant = start if tokens >= cost else start + (cost - tokens) / rate
        tokens = max(0.0, tokens + (grant - start) * rate - cost)
        updated = previous = grant
        times.append(grant)
    return times


_PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_PROPERTY_SETTINGS
@given(
    rate=st.floats(0.2, 200.0),
    capacity=st.one_of(st.integers(1, 20).map(float), st.floats(0.5, 20.0)),
    requests=_requests,
)
def test_grants_never_exceed_capacity_plus_rate_times_window(
    rate: float, capacity: float, requests: list[_Request]
) -> None:
    grants, _ = _simulate(rate, capacity, requests)
    # Liveness: everything not cancelled was granted.
    uncancelled = {i for i, r in enumerate(requests) if r.cancel_after is None}
    assert uncancelled <= {i for _, _, i in grants}
    # Safety: the maximum over windows is reached on windows that start and end at grants.
    grants.sort()
    for a in range(len(grants)):
        total = 0.0
        for b in range(a, len(grants)):
            total += grants[b][1]
            window = grants[b][0] - grants[a][0]
            assert total <= capacity + rate * window + 1e-6 * (1 + total)


@_PROPERTY_SETTINGS
@given(
    rate=st.floats(0.2, 200.0),
    capacity=st.one_of(st.integers(1, 20).map(float), st.floats(0.5, 20.0)),
    requests=_requests.map(lambda rs: [_Request(r.delay, r.cost, None) for r in rs]),
)
def test_grants_are_fifo_and_as_early_as_the_ideal_bucket(
    rate: float, capacity: float, requests: list[_Request]
) -> None:
    grants, arrivals = _simulate(rate, capacity, requests)
    assert [i for _, _, i in grants] == list(range(len(requests)))
    costs = [min(r.cost, capacity) for r in requests]
    expected = _reference_grant_times(rate, capacity, arrivals, costs)
    for (granted_at, _, _), ideal in zip(grants, expected, strict=True):
        assert granted_at == pytest.approx(ideal, abs=1e-5, rel=1e-9)
