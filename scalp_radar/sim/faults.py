"""Fault injection: now, at a time, periodically or at random (seeded), from code or the CLI.

Command-line syntax (`--faults`), comma-separated items::

    KIND[:KEY=VALUE]...[@WHEN]
    WHEN := SECONDS            once, SECONDS (real) after the simulator started
          | SECONDS/PERIOD     at SECONDS, then every PERIOD seconds
          | random[/MEAN]      at random times (exponential gaps, mean MEAN s, default 30),
                               drawn from the simulator's seed
    (no @WHEN: at start-up; `KIND:random[/MEAN]` is short for `KIND@random[/MEAN]`)

Examples: ``drop@10,stale:duration=20@30,gap:random,rest429:count=5@5/60``.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from loguru import logger

# kind -> (what it does, default parameters). Parameters are numbers unless noted.
FAULT_KINDS: dict[str, tuple[str, dict[str, float]]] = {
    "close": ("websocket graceful close (code)", {"code": 1000}),
    "drop": ("websocket abrupt TCP drop of every connection (client sees 1006)", {}),
    "dropone": (
        "abrupt TCP drop of one websocket connection (index in opening order among the open "
        "ones; -1 = a seeded random one)",
        {"index": -1},
    ),
    "recycle": (
        "close every websocket connection at once, like Bitget's 24 h forced reconnect (code)",
        {"code": 1001},
    ),
    "stale": (
        "open sockets keep answering pings but stop pushing (duration s, 0=forever)",
        {"duration": 0},
    ),
    "nopong": ("open sockets swallow pings (duration s, 0=forever)", {"duration": 0}),
    "busy": (
        "open sockets stop reading client frames for duration s (a server busy elsewhere), then"
        " read the queued ones at once, counting them against the limits as they are read",
        {"duration": 2},
    ),
    "error": ("websocket error event with code (30007 also closes)", {"code": 30001}),
    "e30001": ("error event 30001 (channel/instrument doesn't exist)", {"code": 30001}),
    "e30006": ("error event 30006 (request too many)", {"code": 30006}),
    "e30007": ("error event 30007 then close (request over limit)", {"code": 30007}),
    "gap": ("the next candle push skips count candles", {"count": 3}),
    "duplicate": ("the next candle push is sent twice", {}),
    "outoforder": (
        "after the next candle push, an older candle (back candles ago) is pushed",
        {"back": 3},
    ),
    "invalid": ("the next candle push carries a row with high < low", {}),
    "malformed": ("the next push is a truncated, non-JSON frame", {}),
    "refuse": (
        "the next count websocket handshakes get HTTP 429 + Retry-After",
        {"count": 1, "retry_after": 1},
    ),
    "rest429": ("the next count REST calls get 429 with Bitget's JSON body", {"count": 3}),
    "rest429text": ("the next count REST calls get 429 with a plain-text body", {"count": 3}),
    "rest5xx": ("the next count REST calls get an HTTP 5xx (status)", {"count": 1, "status": 502}),
    "slow": ("the next count REST calls wait delay s before answering", {"count": 1, "delay": 15}),
    # count 2: aiohttp silently retries once a request whose kept-alive connection was cut.
    "restdrop": ("the next count REST calls get their TCP connection cut, no answer", {"count": 2}),
}

CONNECTION_KINDS = {
    "close",
    "drop",
    "dropone",
    "recycle",
    "stale",
    "nopong",
    "busy",
    "error",
    "e30001",
    "e30006",
    "e30007",
}
PUSH_KINDS = {"gap", "duplicate", "outoforder", "invalid", "malformed"}
REST_KINDS = {"rest429", "rest429text", "rest5xx", "slow", "restdrop"}


@dataclass(frozen=True)
class FaultPlan:
    """One parsed `--faults` item."""

    kind: str
    params: dict[str, float] = field(default_factory=dict)
    at_s: float = 0.0
    every_s: float | None = None
    random_mean_s: float | None = None


def _check_kind(kind: str, params: dict) -> dict[str, float]:
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault {kind!r}: expected one of {', '.join(FAULT_KINDS)}")
    defaults = FAULT_KINDS[kind][1]
    for key in params:
        if key not in defaults and key != "endpoint":
            allowed = ", ".join(defaults) or "none"
            raise ValueError(f"fault {kind!r}: unknown parameter {key!r} (allowed: {allowed})")
    return {**defaults, **params}


def parse_fault_spec(text: str) -> list[FaultPlan]:
    """Parse the `--faults` syntax (module docstring); ValueError names the bad item."""
    plans: list[FaultPlan] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        head, _, when = item.partition("@")
        kind, *parts = head.split(":")
        params: dict[str, float] = {}
        random_mean: float | None = None
        if when.startswith("random"):
            random_mean = 30.0
            when, _, mean = when.partition("/")
            if mean:
                random_mean = _number(item, mean)
            when = ""
        for part in parts:
            if part == "random" or part.startswith("random/"):
                mean = part.partition("/")[2]
                random_mean = _number(item, mean) if mean else (random_mean or 30.0)
                continue
            key, eq, value = part.partition("=")
            if not eq:
                raise ValueError(f"--faults item {item!r}: expected KEY=VALUE, got {part!r}")
            params[key] = value if key == "endpoint" else _number(item, value)  # type: ignore[assignment]
        try:
            params = _check_kind(kind, params)
        except ValueError as exc:
            raise ValueError(f"--faults item {item!r}: {exc}") from None
        at_s, every_s = 0.0, None
        if when:
            first, _, period = when.partition("/")
            at_s = _number(item, first)
            every_s = _number(item, period) if period else None
            if every_s is not None and every_s <= 0:
                raise ValueError(f"--faults item {item!r}: the period must be positive")
        plans.append(FaultPlan(kind, params, at_s, every_s, random_mean))
    return plans


def _number(item: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--faults item {item!r}: expected a number, got {text!r}") from None
    if value < 0:
        raise ValueError(f"--faults item {item!r}: expected a non-negative number, got {text!r}")
    return value


class FaultInjector:
    """Holds pending faults; the REST layer, the websocket sessions and the pusher consume them.

    Thread-safe: `inject()` may be called from any thread (tests with `start_in_thread`).
    Connection faults are handed to `on_connection_fault`, set by the server, which applies them
    on its own loop.
    """

    def __init__(self, seed: int = 42, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.seed = seed
        self._rng = random.Random(seed)
        self._rest: list[tuple[str, dict]] = []  # queue of single-request faults
        self._push: list[tuple[str, dict]] = []
        self._refuse: list[dict] = []
        self._timers: list[tuple[float, int, FaultPlan]] = []
        self._counter = 0
        self.injected: list[tuple[float, str, dict]] = []  # history, for logs and tests
        self.on_connection_fault: Callable[[str, dict], None] | None = None
        self.started_at: float | None = None
        self._before_start: list[FaultPlan] = []

    # -- injection -----------------------------------------------------------------------------
    def inject(self, kind: str, **params) -> None:
        """Apply a fault now (connection faults) or arm it for the next request/push."""
        full = _check_kind(kind, params)
        logger.info("sim fault injected: {} {}", kind, full)
        with self._lock:
            self.injected.append((self._clock(), kind, full))
            if kind in REST_KINDS:
                self._rest.extend((kind, full) for _ in range(int(full["count"])))
            elif kind in PUSH_KINDS:
                self._push.append((kind, full))
            elif kind == "refuse":
                self._refuse.extend(full for _ in range(int(full["count"])))
        if kind in CONNECTION_KINDS and self.on_connection_fault is not None:
            self.on_connection_fault(kind, full)

    def schedule(self, kind: str, at_s: float, every_s: float | None = None, **params) -> None:
        """Inject kind at_s real seconds after the simulator started (then every every_s)."""
        self.add_plan(FaultPlan(kind, _check_kind(kind, params), at_s, every_s))

    def random(self, kind: str, mean_interval_s: float = 30.0, **params) -> None:
        """Inject kind at random times, exponential gaps of the given mean (seeded)."""
        self.add_plan(FaultPlan(kind, _check_kind(kind, params), random_mean_s=mean_interval_s))

    def begin(self) -> None:
        """Mark the simulator's start: times of plans count from here."""
        with self._lock:
            self.started_at = self._clock()
            plans, self._before_start = self._before_start, []
        for plan in plans:
            self.add_plan(plan)

    def add_plan(self, plan: FaultPlan) -> None:
        """Queue a parsed plan (see parse_fault_spec); times count from the simulator's start."""
        with self._lock:
            if self.started_at is None:
                self._before_start.append(plan)
                return
            base = self.started_at
            if plan.random_mean_s is not None:
                due = self._clock() + self._rng.expovariate(1.0 / max(plan.random_mean_s, 1e-3))
            else:
                due = base + plan.at_s
            self._counter += 1
            heapq.heappush(self._timers, (due, self._counter, plan))

    def clear(self) -> None:
        """Forget every armed and scheduled fault (sticky connection states are the server's)."""
        with self._lock:
            self._rest.clear()
            self._push.clear()
            self._refuse.clear()
            self._timers.clear()

    # -- consumption --------------------------------------------------------------------------
    def run_due(self) -> float | None:
        """Inject every scheduled fault that is due; returns seconds until the next one."""
        due: list[FaultPlan] = []
        with self._lock:
            now = self._clock()
            while self._timers and self._timers[0][0] <= now:
                _, _, plan = heapq.heappop(self._timers)
                due.append(plan)
                nxt = None
                if plan.random_mean_s is not None:
                    nxt = now + self._rng.expovariate(1.0 / max(plan.random_mean_s, 1e-3))
                elif plan.every_s:
                    nxt = now + plan.every_s
                if nxt is not None:
                    self._counter += 1
                    heapq.heappush(self._timers, (nxt, self._counter, plan))
            wait = self._timers[0][0] - now if self._timers else None
        for plan in due:
            self.inject(plan.kind, **plan.params)
        return wait

    def take_rest(self, endpoint: str) -> tuple[str, dict] | None:
        """The fault for this REST request, if one is armed (an `endpoint` param filters)."""
        with self._lock:
            for i, (kind, params) in enumerate(self._rest):
                wanted = params.get("endpoint")
                if wanted is None or wanted == endpoint:
                    del self._rest[i]
                    return kind, params
        return None

    def take_push(self) -> tuple[str, dict] | None:
        """The fault for the next candle push, if one is armed."""
        if not self._push:
            return None
        with self._lock:
            return self._push.pop(0) if self._push else None

    def take_refuse(self) -> dict | None:
        """Parameters of a handshake refusal, if one is armed."""
        if not self._refuse:
            return None
        with self._lock:
            return self._refuse.pop(0) if self._refuse else None
