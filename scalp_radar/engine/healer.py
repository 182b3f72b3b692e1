"""Gap healing and close verification over REST, for the live streams.

A gap a stream detects is fetched over REST (through the shared rate limiter) until every candle
is there; a candle that closed without its final values is re-fetched to verify it. The results
merge into the stream's buffer and the write queue through the engine's `apply_rest`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loguru import logger

from scalp_radar.core.clock import Clock
from scalp_radar.core.models import Candle
from scalp_radar.core.timefmt import utc_minute
from scalp_radar.exchange.backoff import Backoff
from scalp_radar.exchange.clock_sync import ClockSync
from scalp_radar.exchange.holder import ExchangeHolder
from scalp_radar.history.heal import heal_range

if TYPE_CHECKING:
    from scalp_radar.core.limiter import RateLimiter
    from scalp_radar.engine.problem import IncidentSink
    from scalp_radar.engine.stream import StreamWorker

# Heal attempts in a row; then the repair waits RETRY_LATER_S and tries again (gap stays open).
HEAL_ATTEMPTS = 6
# Real seconds a gap waits before the REST fetch (a snapshot may fill it first).
HEAL_DELAY_S = 0.5
# Real seconds before an unfinished repair tries again (it stays visible as open meanwhile).
RETRY_LATER_S = 15.0
# Real seconds before the first retry of a failed REST request within one attempt (doubling).
REST_RETRY_BASE_S = 0.5
# The exchange's clock is measured again before a heal when the last measurement is older.
CLOCK_FRESH_MS = 2_000


@dataclass(kw_only=True, eq=False)
class Healer:
    """Starts and runs the REST repairs of the engine's streams."""

    holder: ExchangeHolder
    limiter: RateLimiter
    clock: Clock
    clock_sync: ClockSync
    incident: IncidentSink
    apply_rest: Callable[[StreamWorker, list[Candle]], int]
    spawn: Callable[[Coroutine[Any, Any, None], str], None]
    max_heal_candles: int
    heal_gaps: bool = True
    verify_closes: bool = True
    verified_fixes: int = field(default=0, init=False)
    _clock_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def gap(self, stream: StreamWorker, start_ms: int, end_ms: int) -> None:
        """Record a gap and start healing its newest `max_heal_candles` candles."""
        step = stream.timeframe.to_milliseconds()
        n = (end_ms - start_ms) // step
        stream.gaps_detected += 1
        stream.gaps_open += 1
        tf = stream.timeframe.value
        self.incident(
            "gap", stream.symbol, tf, f"{n} candle(s) missing from {utc_minute(start_ms)}"
        )
        floor = end_ms - self.max_heal_candles * step
        older = 0
        if start_ms < floor:
            # Older candles than the buffer holds are the backfill's job, not a live heal's.
            older = (floor - start_ms) // step
            self.incident(
                "gap",
                stream.symbol,
                tf,
                f"{older} older candle(s) before {utc_minute(floor)} left to backfill",
            )
            start_ms = floor
        if not self.heal_gaps:
            return
        self.spawn(self._heal(stream, start_ms, end_ms, older=older), f"heal {stream.key}")

    def unconfirmed(self, stream: StreamWorker, candle: Candle) -> bool:
        """A candle closed without its final values: verify it over REST; True when it will be.

        The engine keeps such a candle out of the database until the verification delivers its
        final values (`apply_rest`).
        """
        if not self.verify_closes:
            return False
        step = stream.timeframe.to_milliseconds()
        ts = candle.timestamp
        self.spawn(self._verify(stream, ts, ts + step), f"verify {stream.key}")
        return True

    async def _heal(
        self, stream: StreamWorker, start_ms: int, end_ms: int, *, older: int = 0
    ) -> None:
        """Fetch the gap [start_ms, end_ms) over REST until every candle is there, then merge it.

        `older` counts candles of the gap before `start_ms` that were clipped off (too many to
        heal here): while they are missing the gap stays counted open, even once this part heals.
        What REST cannot give now is asked again every `RETRY_LATER_S`; the gap stays open.
        """
        step = stream.timeframe.to_milliseconds()
        expected = set(range(start_ms, end_ms, step))
        began = self.clock.now_ms()
        # A (re)subscription snapshot often fills the hole a moment later: look again first.
        await asyncio.sleep(HEAL_DELAY_S)
        held = {c.timestamp for c in stream.buffer.closed}
        if expected.issubset(held):
            self._gap_healed(
                stream,
                f"gap from {utc_minute(start_ms)} filled by the stream's snapshot",
                start_ms,
                older,
                (self.clock.now_ms() - began) / 1000,
            )
            return
        reported = False
        while True:
            have = await self._fetch(stream, start_ms, end_ms, expected)
            self.apply_rest(stream, sorted(have.values(), key=lambda c: c.timestamp))
            took = (self.clock.now_ms() - began) / 1000
            if expected.issubset(have):
                message = f"healed {len(expected)} candle(s) from {utc_minute(start_ms)}"
                self._gap_healed(stream, message, start_ms, older, took)
                return
            if not reported:
                reported = True
                self.incident(
                    "error",
                    stream.symbol,
                    stream.timeframe.value,
                    f"gap not healed: {len(expected - set(have))} candle(s) still missing"
                    f" from {utc_minute(start_ms)}; retrying every {RETRY_LATER_S:.0f}s",
                    took,
                )
            await asyncio.sleep(RETRY_LATER_S)

    async def _verify(self, stream: StreamWorker, start_ms: int, end_ms: int) -> None:
        """Re-fetch a closed candle whose final values never arrived, until REST gives it.

        Until then the candle is not stored; after a failed round it counts as an open gap.
        """
        expected = {start_ms}
        began = self.clock.now_ms()
        opened = False
        while True:
            have = await self._fetch(stream, start_ms, end_ms, expected)
            if have:
                self.verified_fixes += self.apply_rest(stream, list(have.values()))
                if opened:
                    took = (self.clock.now_ms() - began) / 1000
                    message = f"verified candle {utc_minute(start_ms)} (final values stored)"
                    self._gap_healed(stream, message, start_ms, 0, took)
                return
            if not opened:
                opened = True
                stream.gaps_detected += 1
                stream.gaps_open += 1
                logger.warning("{}: could not verify candle {}", stream.key, utc_minute(start_ms))
                self.incident(
                    "gap",
                    stream.symbol,
                    stream.timeframe.value,
                    f"candle {utc_minute(start_ms)} closed without its final values and REST does not"
                    f" have it yet: not stored, retrying every {RETRY_LATER_S:.0f}s",
                )
            await asyncio.sleep(RETRY_LATER_S)

    async def _fetch(
        self, stream: StreamWorker, start_ms: int, end_ms: int, expected: set[int]
    ) -> dict[int, Candle]:
        """The expected candles REST returned within `HEAL_ATTEMPTS` tries, by open time."""
        step = stream.timeframe.to_milliseconds()
        backoff = Backoff(0.2, 10.0, 60.0)
        have: dict[int, Candle] = {}
        for attempt in range(1, HEAL_ATTEMPTS + 1):
            try:
                exchange = self.holder.ensure()
                await self._follow_exchange_clock(exchange)
                candles = await heal_range(
                    exchange,
                    None,  # the engine writes through its own batch (one writer, one path)
                    self.limiter,
                    stream.symbol,
                    stream.timeframe,
                    start_ms,
                    end_ms,
                    # "Now" is the exchange's: a simulator at speed 60 runs far ahead of ours.
                    now_ms=max(end_ms + step, self.clock_sync.server_now_ms()),
                    backoff_base_s=REST_RETRY_BASE_S,
                )
                logger.debug(
                    "{}: REST {}..{} gave {} candle(s)",
                    stream.key,
                    utc_minute(start_ms),
                    utc_minute(end_ms),
                    len(candles),
                )
                for c in candles:
                    if c.timestamp in expected:
                        have[c.timestamp] = c
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried below
                logger.warning("{}: REST fetch attempt {} failed: {}", stream.key, attempt, exc)
            if expected.issubset(have):
                break
            await asyncio.sleep(backoff.next_delay())
        return have

    async def _follow_exchange_clock(self, exchange: Any) -> None:
        """Measure the exchange's clock unless that was just done, so ccxt asks up to its "now".

        ccxt clamps a request's end to its own clock: one lagging the exchange's (a simulator
        running faster than real time) makes REST answer 0 candles for the newest ones.
        """
        # One measurement at a time: hundreds of streams verifying their first close at start
        # would otherwise all measure at once (a burst on the time endpoint).
        async with self._clock_lock:
            if self.clock_sync.measured_within(CLOCK_FRESH_MS):
                self.clock_sync.apply(exchange)
                return
            await self.limiter.acquire("market_data")
            try:
                await self.clock_sync.measure(exchange)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the heal still tries with the last estimate
                logger.debug("clock check before a heal failed: {}", exc)

    def _gap_healed(
        self, stream: StreamWorker, message: str, start_ms: int, older: int, took: float
    ) -> None:
        """Count a healed gap (only when no clipped older part is still missing) and record it."""
        if older:
            # Only the newest part was healed: the gap stays open until a backfill fills the rest.
            message += (
                f"; {older} older candle(s) before {utc_minute(start_ms)} still missing (gap open)"
            )
        else:
            stream.gaps_open -= 1
            stream.gaps_healed += 1
        self.incident("heal", stream.symbol, stream.timeframe.value, message, took)
