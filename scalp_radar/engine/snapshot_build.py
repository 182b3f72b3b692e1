"""Turning live stream state into the frozen pieces of an `EngineSnapshot`."""

from __future__ import annotations

import time
from itertools import islice
from typing import Any, TypedDict

from scalp_radar.core.snapshot import CandleView, StreamSnapshot
from scalp_radar.engine.buffer import CandleBuffer
from scalp_radar.engine.problem import ConnectionProblem
from scalp_radar.exchange.holder import ExchangeHolder


class FailureFacts(TypedDict):
    """The failure fields of `ConnectionFacts`."""

    problem: str | None
    connect_failures: int
    rest_429s: int
    rest_errors: int
    malformed_frames: int
    exchange_recreations: int


def failure_facts(holder: ExchangeHolder, problem: ConnectionProblem) -> FailureFacts:
    """Why nothing connects and how often each kind of failure happened, for `ConnectionFacts`."""
    return FailureFacts(
        problem=problem.reason,
        connect_failures=problem.failures,
        rest_429s=holder.rest.rate_limited,
        rest_errors=holder.rest.errors,
        malformed_frames=holder.malformed_frames,
        exchange_recreations=holder.recycles,
    )


class RateMeter:
    """Updates per real second of each stream, over windows of at least half a second."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int, float]] = {}  # id(stream) -> (count, at_ms, rate)

    def rate(self, key: int, count: int, now_ms: int, speed: float) -> float:
        """The rate for `key` given its running `count` at clock time `now_ms`."""
        prev = self._last.get(key)
        if prev is None:
            self._last[key] = (count, now_ms, 0.0)
            return 0.0
        n0, t0, rate = prev
        dt = (now_ms - t0) / 1000 / speed
        if dt >= 0.5:
            rate = (count - n0) / dt
            self._last[key] = (count, now_ms, rate)
        return rate


def candle_views(buf: CandleBuffer, n: int) -> tuple[CandleView, ...]:
    """The last `n` candles of a buffer (forming one last) as plain views."""
    # Only the last n of the deque: this runs for every stream a few times a second.
    candles = list(islice(reversed(buf.closed), n))[::-1]
    views = [
        CandleView(c.timestamp, c.open, c.high, c.low, c.close, c.volume, True) for c in candles
    ]
    f = buf.forming
    if f is not None:
        views.append(CandleView(f.timestamp, f.open, f.high, f.low, f.close, f.volume, False))
    return tuple(views[-n:])


def stream_snapshot(
    s: Any, *, now_ms: int, speed: float, points: int, updates_per_s: float
) -> StreamSnapshot:
    """A frozen picture of one `StreamWorker`."""
    buf = s.buffer
    views = candle_views(buf, points)
    age = None if s.last_update_ms is None else max(0.0, (now_ms - s.last_update_ms) / 1000 / speed)
    retry = None if s.next_retry_at is None else max(0.0, s.next_retry_at - time.monotonic())
    return StreamSnapshot(
        symbol=s.symbol,
        timeframe=s.timeframe.value,
        state=s.state,
        last_candle=views[-1] if views else None,
        recent_closes=tuple(v.close for v in views),
        # Closed candles against their bound: the forming one rides on top, so counting it
        # showed a full buffer as 501/500.
        buffer_len=len(buf.closed),
        buffer_capacity=buf.maxlen,
        gaps_detected=s.gaps_detected,
        gaps_healed=s.gaps_healed,
        gaps_open=s.gaps_open,
        invalid_dropped=s.invalid_dropped,
        duplicates_dropped=s.duplicates_dropped,
        out_of_order_dropped=s.out_of_order_dropped,
        last_update_age_s=age,
        updates_per_s=updates_per_s,
        reconnects=s.reconnects,
        attempt=s.backoff.attempt,
        next_retry_in_s=retry,
        reason=s.reason,
        recent_candles=views,
        last_error=s.last_error,
    )
