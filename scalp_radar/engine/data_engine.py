"""The data engine: live candle streams -> validated buffers -> SQLite, callbacks and snapshots.

One watch loop per (symbol, timeframe) shares one ccxt.pro exchange. Closed candles are written
in batches; gaps are healed over REST through the rate limiter; an immutable `EngineSnapshot` is
rebuilt a few times a second for UIs on other threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from loguru import logger

from scalp_radar.core.clock import SystemClock, clock_speed
from scalp_radar.core.models import Candle, MultiTimeframeData, TimeFrame
from scalp_radar.core.snapshot import (
    ConnectionFacts,
    EngineSnapshot,
    Incident,
    StreamState,
)
from scalp_radar.engine.backoff import Backoff
from scalp_radar.engine.snapshot_build import RateMeter, stream_snapshot
from scalp_radar.engine.stream import StreamWorker
from scalp_radar.engine.validator import DataValidator
from scalp_radar.exchange.holder import ExchangeHolder
from scalp_radar.history.heal import heal_range

__all__ = ["DataEngine", "DataValidator"]

CandleCallback = Callable[[Candle], Any]
# How often the exchange clock offset is measured again.
CLOCK_CHECK_S = 300.0
# Offset of the exchange's clock beyond which ccxt is made to follow it.
CLOCK_FOLLOW_MS = 5_000
# Heal attempts before a gap is left open (it stays counted in gaps_open).
HEAL_ATTEMPTS = 6
# Real seconds a gap waits before the REST fetch (a snapshot may fill it first).
HEAL_DELAY_S = 0.5


class DataEngine:
    """Streams, validates, buffers, persists and publishes candles for every configured stream."""

    def __init__(
        self,
        config: Any,
        db: Any | None,
        limiter: Any,
        *,
        sim_url: str | None = None,
        demo: bool = False,
        clock: Any | None = None,
        exchange_options: dict | None = None,
        exchange_factory: Callable[[], Any] | None = None,
        max_heal_candles: int | None = None,
        verify_closes: bool = True,
    ) -> None:
        self.config = config
        self.db = db
        self.limiter = limiter
        self.sim_url = sim_url if sim_url is not None else getattr(config.exchange, "sim_url", None)
        self.demo = demo
        self.clock = clock or SystemClock()
        self.engine_cfg = config.engine
        self._exchange_options = exchange_options
        self._factory = exchange_factory or self._create_exchange
        self.holder = ExchangeHolder(self._new_exchange)
        ws = config.exchange.websocket
        self.websocket_enabled = bool(getattr(config.secrets, "enable_websocket", True))
        self.max_heal_candles = max_heal_candles or max(
            int(self.engine_cfg.buffer_size),
            int(getattr(self.engine_cfg, "max_heal_candles", 0) or 0),
        )
        self.streams: list[StreamWorker] = [
            StreamWorker(
                self,
                symbol,
                tf,
                buffer_size=int(self.engine_cfg.buffer_size),
                stale_multiplier=float(self.engine_cfg.stale_multiplier),
                stale_min_s=float(self.engine_cfg.stale_min_s),
                backoff=Backoff(
                    float(ws.reconnect_delay_s),
                    float(ws.max_reconnect_delay_s),
                    float(ws.stable_after_s),
                ),
            )
            for symbol, tf in config.streams
        ]
        self.verify_closes = verify_closes
        self.verified_fixes = 0
        self._by_key = {(s.symbol, s.timeframe): s for s in self.streams}
        self._sub_interval_s = 1.0 / max(0.1, float(ws.subscribe_rate_per_s))
        self._next_sub_at = 0.0
        self._callbacks: list[CandleCallback] = []
        self._told_upto: dict[int, int] = {}  # id(stream) -> newest close the callbacks heard of
        self._pending: dict[tuple[str, str, int], Candle] = {}
        self._upserts: dict[tuple[str, str, int], Candle] = {}
        self._pending_incidents: list[Incident] = []
        self._incidents: deque[Incident] = deque(maxlen=int(self.engine_cfg.incidents_max))
        self._tasks: list[asyncio.Task] = []
        self._side_tasks: set[asyncio.Task] = set()
        self._flush_lock = asyncio.Lock()
        self._started_ms: int | None = None
        self._reconnects = 0
        self._clock_offset_ms: float | None = None
        self._database_ok = True
        self._rates = RateMeter()
        self._running = False
        self._snapshot = self._build_snapshot()

    # ----- public API -------------------------------------------------------------------------

    def on_candle(self, callback: CandleCallback) -> None:
        """Call `callback(candle)` (sync or async) once per closed candle the engine adds.

        Live closes and closes only a REST heal delivered both count; re-sent ones do not.
        """
        self._callbacks.append(callback)

    def snapshot(self, *, fresh: bool = False) -> EngineSnapshot:
        """The latest immutable snapshot (safe to read from any thread).

        `fresh=True` rebuilds it now; call that only from the engine's loop (tests, status).
        """
        if fresh:
            self._snapshot = self._build_snapshot()
        return self._snapshot

    def get_data(self, symbol: str, *, include_forming: bool = True) -> MultiTimeframeData:
        """Buffered candles of every timeframe of `symbol` (forming candle last, when asked)."""
        candles: dict[TimeFrame, list[Candle]] = {
            s.timeframe: s.buffer.candles(include_forming=include_forming)
            for s in self.streams
            if s.symbol == symbol
        }
        return MultiTimeframeData(symbol=symbol, candles=candles)

    @property
    def exchange(self) -> Any:
        """The current ccxt.pro exchange (it is replaced after a socket is poisoned)."""
        return self.holder.ensure()

    @property
    def pending_repairs(self) -> int:
        """Gap heals and close verifications still in flight."""
        return sum(1 for t in self._side_tasks if t.get_name().startswith(("heal", "verify")))

    @property
    def incidents(self) -> list[Incident]:
        """Incidents kept in memory, newest first."""
        return list(reversed(self._incidents))

    async def start(self) -> None:
        """Load stored history into the buffers and start every stream (unless websockets are off)."""
        if self._running:
            return
        self._running = True
        self._started_ms = self.clock.now_ms()
        if self.db is not None:
            await self._load_history()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._snapshot_loop(), name="engine-snapshot"))
        if not self.websocket_enabled:
            logger.warning("ENABLE_WEBSOCKET is false: the engine will not stream candles")
            for s in self.streams:
                s.state = StreamState.STOPPED
                s.reason = "ENABLE_WEBSOCKET=false"
            self._snapshot = self._build_snapshot()
            return
        self._tasks.append(loop.create_task(self._flush_loop(), name="engine-flush"))
        self._tasks.append(loop.create_task(self._clock_loop(), name="engine-clock"))
        for s in self.streams:
            self._tasks.append(loop.create_task(self._supervise(s), name=f"stream {s.key}"))
        logger.info(
            "data engine started: {} streams{}", len(self.streams), " (DEMO)" if self.demo else ""
        )
        self._snapshot = self._build_snapshot()

    async def stop(self) -> None:
        """Stop every stream, write everything received, close the exchange."""
        if not self._running:
            return
        self._running = False
        tasks = self._tasks + list(self._side_tasks)
        self._tasks = []
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        for s in self.streams:
            if s.state is not StreamState.FAILED:
                s.state = StreamState.STOPPED
                s.next_retry_at = None
        try:
            await self.flush(final=True)
        finally:
            await self.holder.close()
            self._snapshot = self._build_snapshot()
            logger.info("data engine stopped")

    async def flush(self, *, final: bool = False) -> int:
        """Write pending closed candles (and on stop, the forming ones' closed history) and incidents."""
        if self.db is None:
            self._pending.clear()
            self._upserts.clear()
            self._pending_incidents.clear()
            return 0
        async with self._flush_lock:
            pending, self._pending = self._pending, {}
            upserts, self._upserts = self._upserts, {}
            incidents, self._pending_incidents = self._pending_incidents, []
            written = 0
            try:
                if pending:
                    batch = sorted(
                        pending.values(), key=lambda c: (c.symbol, c.timeframe, c.timestamp)
                    )
                    written = await self.db.insert_candles_batch(batch)
                    for c in batch:
                        s = self._by_key.get((c.symbol, c.timeframe))
                        if s is not None and (
                            s.flushed_upto is None or c.timestamp > s.flushed_upto
                        ):
                            s.flushed_upto = c.timestamp
                if upserts:
                    # Later states of candles possibly stored already: replace the stored rows
                    # (one transaction, so a kill never leaves a candle deleted but not rewritten).
                    await self.db.replace_candles(
                        sorted(upserts.values(), key=lambda c: (c.symbol, c.timeframe, c.timestamp))
                    )
                if incidents and hasattr(self.db, "insert_incidents"):
                    await self.db.insert_incidents(incidents)
                self._database_ok = True
            except asyncio.CancelledError:
                self._requeue(pending, upserts, incidents)
                raise
            except Exception as exc:  # noqa: BLE001 - keep data and retry at the next flush
                self._database_ok = False
                self._requeue(pending, upserts, incidents)
                logger.error("database write failed (will retry): {}", exc)
                if final:
                    raise
            return written

    def _requeue(self, pending: dict, upserts: dict, incidents: list) -> None:
        for k, v in pending.items():
            self._pending.setdefault(k, v)
        for k, v in upserts.items():
            self._upserts.setdefault(k, v)
        self._pending_incidents[:0] = incidents

    # ----- hooks used by StreamWorker ---------------------------------------------------------

    async def pace_subscribe(self) -> None:
        """Space (re)subscriptions under Bitget's 10 messages/s per connection."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = max(now, self._next_sub_at)
        self._next_sub_at = at + self._sub_interval_s
        if at > now:
            await asyncio.sleep(at - now)

    def stream_closed(
        self, stream: StreamWorker, candles: list[Candle], *, corrected: bool, live: bool
    ) -> None:
        """Queue closed candles for the database; tell the callbacks about new closes."""
        for c in candles:
            key = (c.symbol, c.timeframe.value, c.timestamp)
            if corrected:
                self._queue_fix(key, c)
            else:
                self._pending[key] = c
        if corrected:
            return
        if not live and id(stream) not in self._told_upto:
            # The subscription's first snapshot is history, not news: start telling after it.
            self._told_upto[id(stream)] = max(c.timestamp for c in candles)
            return
        # A reconnection snapshot also carries the closes missed while down: tell those too.
        self._tell(stream, candles, only_newer=True)

    def _tell(self, stream: StreamWorker, candles: list[Candle], *, only_newer: bool) -> None:
        """Call the callbacks once per close, in ts order; `only_newer` skips ones already told."""
        upto = self._told_upto.get(id(stream))
        for c in sorted(candles, key=lambda c: c.timestamp):
            if only_newer and upto is not None and c.timestamp <= upto:
                continue
            for cb in self._callbacks:
                self._call(cb, c)
            if upto is None or c.timestamp > upto:
                upto = c.timestamp
        if upto is not None:
            self._told_upto[id(stream)] = upto

    def stream_gap(self, stream: StreamWorker, start_ms: int, end_ms: int) -> None:
        """Record a gap and start healing it over REST."""
        step = stream.timeframe.to_milliseconds()
        n = (end_ms - start_ms) // step
        stream.gaps_detected += 1
        stream.gaps_open += 1
        self.incident(
            "gap",
            stream.symbol,
            stream.timeframe.value,
            f"{n} candle(s) missing from {_iso(start_ms)}",
        )
        floor = end_ms - self.max_heal_candles * step
        older = 0
        if start_ms < floor:
            older = (floor - start_ms) // step
            self.incident(
                "gap",
                stream.symbol,
                stream.timeframe.value,
                f"{older} older candle(s) before {_iso(floor)} left to backfill",
            )
            start_ms = floor
        if not bool(getattr(self.engine_cfg, "heal_gaps", True)):
            return
        self._spawn(self._heal(stream, start_ms, end_ms, older=older), f"heal {stream.key}")

    def incident(
        self,
        kind: str,
        symbol: str | None,
        timeframe: str | None,
        message: str,
        duration_s: float | None = None,
    ) -> None:
        """Keep an incident in memory and queue it for the database."""
        inc = Incident(self.clock.now_ms(), kind, symbol, timeframe, message, duration_s)
        self._incidents.append(inc)
        self._pending_incidents.append(inc)
        if len(self._pending_incidents) > 10 * self._incidents.maxlen:  # database down for long
            del self._pending_incidents[: -self._incidents.maxlen]

    def count_reconnect(self) -> None:
        """Count one stream reconnect."""
        self._reconnects += 1

    def stream_unconfirmed(self, stream: StreamWorker, candle: Candle) -> None:
        """A candle closed without its final values: check it against REST."""
        if not self.verify_closes:
            return
        step = stream.timeframe.to_milliseconds()
        ts = candle.timestamp
        self._spawn(self._heal(stream, ts, ts + step, verify=True), f"verify {stream.key}")

    def _queue_fix(self, key: tuple[str, str, int], candle: Candle) -> None:
        """Queue a later state of a closed candle so the database ends up holding it.

        Still in `_pending` (not handed to a flush yet): updating it there is enough. Otherwise a
        flush took it (written, or being written right now), or it came from the database: the
        stored row must be replaced. Once queued as an upsert, every later state goes there too.
        """
        if key in self._upserts or key not in self._pending:
            self._upserts[key] = candle
        self._pending[key] = candle

    def _apply_rest(self, stream: StreamWorker, candles: list[Candle]) -> int:
        """Merge authoritative REST candles into the buffer and the write queue; returns fixes."""
        fixed = 0
        added: list[Candle] = []
        outcomes = stream.buffer.upsert_many(candles)  # one merge for the whole heal
        for c, outcome in zip(candles, outcomes, strict=True):
            key = (c.symbol, c.timeframe.value, c.timestamp)
            if outcome == "added":
                added.append(c)
            if outcome == "same" and key not in self._pending:
                continue
            if outcome == "replaced":
                fixed += 1
                self._queue_fix(key, c)
            else:
                self._pending[key] = c
        # A close that only a heal delivered is still a close: callbacks must not miss it.
        self._tell(stream, added, only_newer=False)
        return fixed

    # ----- internals --------------------------------------------------------------------------

    def _new_exchange(self) -> Any:
        """A fresh exchange whose own clock agrees with the engine's (see `_sync_exchange_clock`)."""
        ex = self._factory()
        self._sync_exchange_clock(ex)
        return ex

    def _sync_exchange_clock(self, ex: Any) -> None:
        """Make ccxt's `milliseconds()` follow the market's clock.

        ccxt clamps REST `endTime` to its own clock, so against a simulator running faster than
        real time (or a lagging local clock) the newest candles could never be fetched to heal a
        gap. With an injected clock ccxt reads it; otherwise it follows the measured offset of
        the exchange's clock when that exceeds a few seconds.
        """
        if not isinstance(self.clock, SystemClock):
            ex.milliseconds = self.clock.now_ms
            return
        offset = self._clock_offset_ms
        if offset is not None and abs(offset) > CLOCK_FOLLOW_MS:
            base = type(ex).milliseconds
            ex.milliseconds = lambda: int(base()) + int(offset)

    def _create_exchange(self) -> Any:
        from scalp_radar.exchange.factory import create_exchange

        ping_ms = int(float(self.config.exchange.websocket.ping_interval_s) * 1000)
        options = {"ws": {"keepAlive": ping_ms}}
        extra = self._exchange_options or {}
        options["ws"].update(extra.get("ws", {}))
        options.update({k: v for k, v in extra.items() if k != "ws"})
        return create_exchange(self.config, self.sim_url, options=options)

    async def _load_history(self) -> None:
        """Warm each buffer with the newest stored candles, so a restart continues history."""
        for s in self.streams:
            try:
                latest = await self.db.get_latest_candle_timestamp(s.symbol, s.timeframe)
                if latest is None:
                    continue
                step = s.timeframe.to_milliseconds()
                start = latest - (s.buffer.maxlen - 1) * step
                rows = await self.db.get_candles(s.symbol, s.timeframe, start, latest + 1)
                s.buffer.seed(rows)
                s.buffer.last_closed_ts = latest
                s.flushed_upto = latest
            except Exception as exc:  # noqa: BLE001 - an unreadable history is not fatal
                self._database_ok = False
                logger.error("{}: could not load stored history: {}", s.key, exc)

    def _call(self, cb: CandleCallback, candle: Candle) -> None:
        try:
            result = cb(candle)
            if inspect.isawaitable(result):
                self._spawn(result, "on_candle callback")
        except Exception:  # noqa: BLE001 - a user callback must not stop the engine
            logger.exception("on_candle callback {!r} raised", cb)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(_logged(coro, name), name=name)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _heal(
        self,
        stream: StreamWorker,
        start_ms: int,
        end_ms: int,
        *,
        verify: bool = False,
        older: int = 0,
    ) -> None:
        """Fetch [start_ms, end_ms) over REST until every candle is there, then merge it.

        `verify` re-fetches closed candles whose final values never arrived (not a gap).
        `older` counts candles of the gap before `start_ms` that were clipped off (too many to
        heal here): while they are missing the gap stays counted open, even once this part heals.
        """
        step = stream.timeframe.to_milliseconds()
        expected = set(range(start_ms, end_ms, step))
        began = self.clock.now_ms()
        if not verify:
            # A (re)subscription snapshot often fills the hole a moment later: look again first.
            await asyncio.sleep(HEAL_DELAY_S)
            held = {c.timestamp for c in stream.buffer.closed}
            if expected.issubset(held):
                self._gap_healed(
                    stream,
                    f"gap from {_iso(start_ms)} filled by the stream's snapshot",
                    start_ms,
                    older,
                    (self.clock.now_ms() - began) / 1000,
                )
                return
        backoff = Backoff(0.2, 10.0, 60.0)
        have: dict[int, Candle] = {}
        for attempt in range(1, HEAL_ATTEMPTS + 1):
            try:
                candles = await heal_range(
                    self.holder.ensure(),
                    None,  # the engine writes through its own batch (one writer, one path)
                    self.limiter,
                    stream.symbol,
                    stream.timeframe,
                    start_ms,
                    end_ms,
                    now_ms=max(end_ms + step, self.clock.now_ms()),
                )
                logger.debug(
                    "{}: REST {}..{} gave {} candle(s) {}",
                    stream.key,
                    _iso(start_ms),
                    _iso(end_ms),
                    len(candles),
                    [c.timestamp for c in candles][:5],
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
        got = sorted(have.values(), key=lambda c: c.timestamp)
        fixed = self._apply_rest(stream, got)
        took = (self.clock.now_ms() - began) / 1000
        complete = expected.issubset(have)
        if verify:
            self.verified_fixes += fixed
            if not complete:
                logger.warning("{}: could not verify candle {}", stream.key, _iso(start_ms))
            return
        if complete:
            self._gap_healed(
                stream,
                f"healed {len(expected)} candle(s) from {_iso(start_ms)}",
                start_ms,
                older,
                took,
            )
        else:
            self.incident(
                "error",
                stream.symbol,
                stream.timeframe.value,
                f"gap not healed: {len(expected) - len(have)} candle(s) still missing"
                f" from {_iso(start_ms)}",
                took,
            )

    def _gap_healed(
        self, stream: StreamWorker, message: str, start_ms: int, older: int, took: float
    ) -> None:
        """Count a healed gap (only when no clipped older part is still missing) and record it."""
        if older:
            # Only the newest part was healed: the gap stays open until a backfill fills the rest.
            message += f"; {older} older candle(s) before {_iso(start_ms)} still missing (gap open)"
        else:
            stream.gaps_open -= 1
            stream.gaps_healed += 1
        self.incident("heal", stream.symbol, stream.timeframe.value, message, took)

    async def _supervise(self, stream: StreamWorker) -> None:
        """Run a stream; restart it if it ever dies of something unexpected."""
        while True:
            try:
                await stream.run()
                return  # the stream failed for good (its reason is set)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling() > 0:
                    raise
                logger.warning("{}: watch loop cancelled from inside; restarting", stream.key)
            except Exception:  # noqa: BLE001 - keep the stream alive
                logger.exception("{}: watch loop crashed; restarting", stream.key)
            await asyncio.sleep(stream.backoff.next_delay())

    async def _flush_loop(self) -> None:
        interval = float(self.engine_cfg.flush_interval_s)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await self.flush()

    async def _snapshot_loop(self) -> None:
        interval = 1.0 / max(0.1, float(self.engine_cfg.snapshot_hz))
        while True:
            await asyncio.sleep(interval)
            try:
                self._snapshot = self._build_snapshot()
            except Exception:  # noqa: BLE001 - never let the UI feed die
                logger.exception("snapshot build failed")

    async def _clock_loop(self) -> None:
        """Measure the exchange clock offset at start and then periodically."""
        while True:
            try:
                if self.limiter is not None:
                    await self.limiter.acquire("market_data")
                ex = self.holder.ensure()
                t0 = self.clock.now_ms()
                server = await ex.fetch_time()
                t1 = self.clock.now_ms()
                if server is not None:
                    self._clock_offset_ms = float(server) - (t0 + t1) / 2
                    self._sync_exchange_clock(ex)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the offset is informational
                logger.debug("clock offset check failed: {}", exc)
            await asyncio.sleep(CLOCK_CHECK_S)

    def _build_snapshot(self) -> EngineSnapshot:
        now = self.clock.now_ms()
        speed = clock_speed(self.clock)
        points = int(self.engine_cfg.sparkline_points)
        streams = tuple(
            stream_snapshot(
                s,
                now_ms=now,
                speed=speed,
                points=points,
                updates_per_s=self._rates.rate(id(s), s.updates, now, speed),
            )
            for s in self.streams
        )
        uptime = (
            0.0 if self._started_ms is None else max(0.0, (now - self._started_ms) / 1000 / speed)
        )
        limiter_stats = ()
        if self.limiter is not None:
            with contextlib.suppress(Exception):
                limiter_stats = tuple(self.limiter.stats())
        facts = ConnectionFacts(
            exchange=str(getattr(self.config.exchange, "name", "bitget")),
            demo=self.demo,
            websocket_enabled=self.websocket_enabled,
            uptime_s=uptime,
            reconnects=self._reconnects,
            clock_offset_ms=self._clock_offset_ms,
            database_ok=self._database_ok,
        )
        return EngineSnapshot(
            taken_at_ms=now,
            streams=streams,
            limiter=limiter_stats,
            connection=facts,
            incidents=tuple(reversed(self._incidents)),
        )


async def _logged(coro: Any, name: str) -> None:
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001
        logger.exception("{} failed", name)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))
