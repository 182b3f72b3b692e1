"""Token-bucket rate limiting per request category (market_data, trade, account, position).

Every REST call waits on its category's bucket before it goes out, so live traffic and backfills
sharing one process share one budget and stay under the exchange's limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

CATEGORIES: tuple[str, ...] = ("market_data", "trade", "account", "position")

# Float refill arithmetic can leave a waiter a hair short after sleeping the exact deficit; a
# deficit this small counts as paid so nobody spins on sub-nanotoken sleeps.
_EPSILON_TOKENS = 1e-9
# Never sleep less than this: it guarantees progress even with a coarse or float-saturated clock.
_MIN_SLEEP_S = 1e-6


class BucketStats(msgspec.Struct, frozen=True):
    """What a UI shows of one rate-limiter category."""

    category: str
    tokens: float
    capacity: float
    refill_rate: float
    queued: int
    total_acquired: int
    total_wait_s: float
    max_wait_s: float
    rejected_429: int = 0


class UnknownCategoryError(KeyError, ValueError):
    """A category the limiter has no bucket for (catchable as KeyError or ValueError)."""

    def __str__(self) -> str:
        # KeyError.__str__ would quote the whole message; keep it one readable line.
        return str(self.args[0]) if self.args else ""


class _Waiter:
    """One queued acquire: its cost, when it queued, and the future that wakes it at the head."""

    __slots__ = ("cost", "queued_at", "wake")

    def __init__(self, cost: float, queued_at: float) -> None:
        self.cost = cost
        self.queued_at = queued_at
        self.wake: asyncio.Future[None] | None = None


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return value


class TokenBucket:
    """Linear-refill token bucket with a strict FIFO queue of waiters.

    Starts full. Only the head of the queue ever sleeps (for exactly its deficit); the others wait
    on a future until they reach the head, so a large request is never overtaken by small ones.
    """

    def __init__(
        self,
        rate_per_s: float,
        capacity: float,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        label = f"rate limiter {name or 'bucket'}"
        self.rate_per_s = _check_positive(f"{label}: rate_per_s", rate_per_s)
        self.capacity = _check_positive(f"{label}: capacity", capacity)
        self.name = name
        self._clock = clock
        self._tokens = self.capacity
        self._updated_at = clock()
        self._waiters: deque[_Waiter] = deque()
        self._total_acquired = 0
        self._total_wait_s = 0.0
        self._max_wait_s = 0.0
        self._rejected_429 = 0

    def __repr__(self) -> str:
        return (
            f"TokenBucket(name={self.name!r}, rate_per_s={self.rate_per_s}, "
            f"capacity={self.capacity}, queued={len(self._waiters)})"
        )

    # -- accounting -------------------------------------------------------------------------

    def _tokens_at(self, now: float) -> float:
        # A clock that steps backwards (or a fake one) must never remove tokens.
        elapsed = max(0.0, now - self._updated_at)
        return min(self.capacity, self._tokens + elapsed * self.rate_per_s)

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = self._tokens_at(now)
        self._updated_at = max(self._updated_at, now)
        return now

    def _grant(self, cost: float, waited_s: float) -> None:
        self._tokens = max(0.0, self._tokens - cost)
        self._total_acquired += 1
        self._total_wait_s += waited_s
        self._max_wait_s = max(self._max_wait_s, waited_s)

    def _wake_head(self) -> None:
        if self._waiters:
            wake = self._waiters[0].wake
            if wake is not None and not wake.done():
                wake.set_result(None)

    def _check_cost(self, cost: float) -> float:
        cost = float(cost)
        if not math.isfinite(cost) or cost <= 0:
            raise ValueError(
                f"rate limiter {self.name or 'bucket'}: cost must be > 0, got {cost!r}"
            )
        if cost > self.capacity:
            raise ValueError(
                f"rate limiter {self.name or 'bucket'}: cost {cost:g} exceeds capacity "
                f"{self.capacity:g} and could never be granted"
            )
        return cost

    # -- public API -------------------------------------------------------------------------

    async def acquire(self, cost: float = 1) -> None:
        """Wait until `cost` tokens are available (after every earlier waiter), then take them."""
        cost = self._check_cost(cost)
        now = self._refill()
        if not self._waiters and self._tokens >= cost:
            # Fast path: no await at all, so an uncontended call never yields or creates a task.
            self._grant(cost, 0.0)
            return
        waiter = _Waiter(cost, now)
        self._waiters.append(waiter)
        try:
            await self._wait_turn(waiter)
        except BaseException:
            # Cancelled (or the loop is dying): consume nothing and let the next waiter move up.
            was_head = bool(self._waiters) and self._waiters[0] is waiter
            with contextlib.suppress(ValueError):  # already granted and popped
                self._waiters.remove(waiter)
            if was_head:
                self._wake_head()
            raise

    async def _wait_turn(self, waiter: _Waiter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._waiters[0] is not waiter:
                waiter.wake = loop.create_future()
                await waiter.wake
                waiter.wake = None
                continue
            now = self._refill()
            deficit = waiter.cost - self._tokens
            if deficit <= _EPSILON_TOKENS:
                self._waiters.popleft()
                self._grant(waiter.cost, max(0.0, now - waiter.queued_at))
                self._wake_head()
                return
            # Nobody else takes tokens while a queue exists, so the deficit only shrinks with
            # time: one sleep of exactly deficit/rate, re-checked in case the clock was coarse.
            await asyncio.sleep(max(deficit / self.rate_per_s, _MIN_SLEEP_S))

    def record_429(self) -> None:
        """Count an HTTP 429 and empty the bucket so the following calls back off a full refill."""
        self._refill()
        self._tokens = 0.0
        self._rejected_429 += 1

    @property
    def queued(self) -> int:
        """Number of waiters in the queue."""
        return len(self._waiters)

    def stats(self, category: str | None = None) -> BucketStats:
        """A frozen picture of the bucket; reads only, so any thread may call it."""
        return BucketStats(
            category=category if category is not None else self.name,
            tokens=self._tokens_at(self._clock()),
            capacity=self.capacity,
            refill_rate=self.rate_per_s,
            queued=len(self._waiters),
            total_acquired=self._total_acquired,
            total_wait_s=self._total_wait_s,
            max_wait_s=self._max_wait_s,
            rejected_429=self._rejected_429,
        )


def _limit_field(limits: Any, category: str, field: str) -> Any:
    """`limits.field` (a RateLimitConfig) or `limits[field]` (a plain mapping)."""
    if isinstance(limits, Mapping):
        if field in limits:
            return limits[field]
    elif hasattr(limits, field):
        return getattr(limits, field)
    raise ValueError(f"exchange.rate_limits.{category}.{field}: expected a number")


class RateLimiter:
    """One TokenBucket per request category."""

    def __init__(self, buckets: Mapping[str, TokenBucket]) -> None:
        if not buckets:
            raise ValueError("rate limiter: expected at least one category bucket")
        self._buckets: dict[str, TokenBucket] = dict(buckets)
        # (category, bucket) in `categories` order, for stats() a few times a second.
        self._ordered = tuple((c, self._buckets[c]) for c in self.categories)

    @classmethod
    def from_exchange_config(
        cls, exchange_config: Any, *, clock: Callable[[], float] = time.monotonic
    ) -> RateLimiter:
        """Build the four category buckets from `exchange_config.rate_limits`.

        Duck-typed: anything with `.rate_limits[name].requests_per_second` and `.burst` works (an
        AppConfig is accepted too, through its `.exchange`).
        """
        if not hasattr(exchange_config, "rate_limits") and hasattr(exchange_config, "exchange"):
            exchange_config = exchange_config.exchange
        rate_limits = getattr(exchange_config, "rate_limits", None)
        if not isinstance(rate_limits, Mapping):
            raise ValueError("exchange.rate_limits: expected a mapping of category -> limits")
        missing = [c for c in CATEGORIES if c not in rate_limits]
        if missing:
            raise ValueError(
                f"exchange.rate_limits: missing categor{'y' if len(missing) == 1 else 'ies'} "
                f"{', '.join(missing)} (expected {', '.join(CATEGORIES)})"
            )
        ordered = list(CATEGORIES) + [c for c in rate_limits if c not in CATEGORIES]
        buckets = {
            name: TokenBucket(
                rate_per_s=_limit_field(rate_limits[name], name, "requests_per_second"),
                capacity=_limit_field(rate_limits[name], name, "burst"),
                name=name,
                clock=clock,
            )
            for name in ordered
        }
        return cls(buckets)

    @property
    def categories(self) -> tuple[str, ...]:
        """Configured categories, canonical ones first."""
        known = [c for c in CATEGORIES if c in self._buckets]
        return tuple(known + [c for c in self._buckets if c not in CATEGORIES])

    def bucket(self, category: str) -> TokenBucket:
        """The bucket of `category`; UnknownCategoryError names the valid ones."""
        try:
            return self._buckets[category]
        except KeyError:
            raise UnknownCategoryError(
                f"rate limiter: unknown category {category!r} "
                f"(expected one of {', '.join(self.categories)})"
            ) from None

    async def acquire(self, category: str, cost: float = 1) -> None:
        """Wait for `cost` tokens of `category`."""
        await self.bucket(category).acquire(cost)

    def record_429(self, category: str) -> None:
        """Note that the exchange rejected a `category` call with HTTP 429."""
        self.bucket(category).record_429()

    def stats(self) -> list[BucketStats]:
        """One BucketStats per category: market_data, trade, account, position, then any extra."""
        return [bucket.stats(category) for category, bucket in self._ordered]
