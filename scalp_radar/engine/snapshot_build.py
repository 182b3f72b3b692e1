"""Turning live stream state into the frozen pieces of an `EngineSnapshot`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from scalp_radar.core.snapshot import CandleView, StreamSnapshot

if TYPE_CHECKING:  # `status` imports the wire, and so pulses: not the exchange (aiohttp)
    from scalp_radar.core.models import Candle
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


def failure_facts(holders: Sequence[ExchangeHolder], problem: ConnectionProblem) -> FailureFacts:
    """Why nothing connects and how often each kind of failure happened (every shard summed),
    for `ConnectionFacts`."""
    rest_429s = rest_errors = malformed = recycles = 0
    for h in holders:  # one pass, a few times a second
        rest_429s += h.rest.rate_limited
        rest_errors += h.rest.errors
        malformed += h.malformed_frames
        recycles += h.recycles
    return FailureFacts(
        problem=problem.reason,
        connect_failures=problem.failures,
        rest_429s=rest_429s,
        rest_errors=rest_errors,
        malformed_frames=malformed,
        exchange_recreations=recycles,
    )


class RateMeter:
    """Updates per real second of each stream, over windows of at least half a second.

    A window starts only once the stream has counted its first update, so the subscribe burst
    (the exchange's candle snapshot) is never divided by a warm-up window: 0 until one full window.
    """

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int, float]] = {}  # id(stream) -> (count, at_ms, rate)

    def rate(self, key: int, count: int, now_ms: int, speed: float) -> float:
        """The rate for `key` given its running `count` at clock time `now_ms`."""
        prev = self._last.get(key)
        if prev is None or prev[0] == 0:
            # No update yet: the first push (a burst) has not arrived; start no window.
            self._last[key] = (count, now_ms, 0.0)
            return 0.0
        n0, t0, rate = prev
        dt = (now_ms - t0) / 1000 / speed
        if dt >= 0.5:
            rate = (count - n0) / dt
            self._last[key] = (count, now_ms, rate)
        return rate


def _closed_views(buf: CandleBuffer, k: int) -> tuple[CandleView, ...]:
    held = buf.closed
    if k <= 0:
        return ()
    return tuple(
        CandleView(t, o, h, lo, c, v, True)
        for t, o, h, lo, c, v in zip(
            held.ts[-k:],
            held.open[-k:],
            held.high[-k:],
            held.low[-k:],
            held.close[-k:],
            held.volume[-k:],
            strict=True,
        )
    )


def forming_view(f: Candle) -> CandleView:
    """The view of a forming candle."""
    return CandleView(f.timestamp, f.open, f.high, f.low, f.close, f.volume, False)


def candle_views(buf: CandleBuffer, n: int) -> tuple[CandleView, ...]:
    """The last `n` candles of a buffer (forming one last) as plain views, read from its arrays."""
    if n <= 0:
        return ()
    f = buf.forming
    if f is None:
        return _closed_views(buf, n)
    return (*_closed_views(buf, n - 1), forming_view(f))


class ViewCache:
    """Per stream, the views of the last snapshot: the closed candles' part is rebuilt only when
    the closed history changed (about once a candle), the forming candle's view only when the
    forming candle did; an unchanged stream costs two lookups."""

    def __init__(self) -> None:
        # id(buffer) -> (closed version, points, views, closes)
        self._closed: dict[int, tuple[int, int, tuple[CandleView, ...], tuple[float, ...]]] = {}
        # id(buffer) -> (closed views it extends, forming candle, views, closes)
        self._full: dict[
            int, tuple[tuple[CandleView, ...], Candle, tuple[CandleView, ...], tuple[float, ...]]
        ] = {}

    def views(self, buf: CandleBuffer, n: int) -> tuple[tuple[CandleView, ...], tuple[float, ...]]:
        """(the last `n` views, their closes), forming one last."""
        if n <= 0:
            return (), ()
        f = buf.forming
        k = n - 1 if f is not None else n
        key = id(buf)
        cached = self._closed.get(key)
        version = buf.closed.version
        if cached is None or cached[0] != version or cached[1] != k:
            views = _closed_views(buf, k)
            cached = (version, k, views, tuple(v.close for v in views))
            self._closed[key] = cached
        _, _, views, closes = cached
        if f is None:
            return views, closes
        full = self._full.get(key)
        # Candles are immutable: the same forming object over the same closed views is the
        # same picture.
        if full is None or full[0] is not views or full[1] is not f:
            full = (views, f, (*views, forming_view(f)), (*closes, f.close))
            self._full[key] = full
        return full[2], full[3]

    def forget(self, buf: CandleBuffer) -> None:
        """Drop a removed stream's views."""
        self._closed.pop(id(buf), None)
        self._full.pop(id(buf), None)


def stream_snapshot(
    s: Any,
    *,
    now_ms: int,
    speed: float,
    points: int,
    updates_per_s: float,
    cache: ViewCache | None = None,
    tick_size: float | None = None,
) -> StreamSnapshot:
    """A frozen picture of one `StreamWorker`."""
    buf = s.buffer
    if cache is None:
        views = candle_views(buf, points)
        closes = tuple(v.close for v in views)
    else:
        views, closes = cache.views(buf, points)
    age = None if s.last_update_ms is None else max(0.0, (now_ms - s.last_update_ms) / 1000 / speed)
    retry = None if s.next_retry_at is None else max(0.0, s.next_retry_at - time.monotonic())
    return StreamSnapshot(
        symbol=s.symbol,
        timeframe=s.timeframe.value,
        state=s.state,
        last_candle=views[-1] if views else None,
        recent_closes=closes,
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
        tick_size=tick_size,
    )
