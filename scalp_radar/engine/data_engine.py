"""The data engine's lifecycle: live candle streams -> validated buffers -> SQLite, callbacks, snapshots.

One watch loop per (symbol, timeframe); streams are sharded over ccxt.pro instances of at most
`streams_per_connection` streams each (engine/candle_shards.py), so a failure costs one shard.
Streams are added and removed at runtime (watchlist edits, hot and pinned symbols). Closed
candles go to the
`CandleWriter` (engine/writer.py); gaps and unconfirmed closes go to the `Healer`
(engine/healer.py); ccxt's clock follows the exchange's (exchange/clock_sync.py); an immutable
`EngineSnapshot` is rebuilt a few times a second for UIs on other threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import operator
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from loguru import logger

from scalp_radar.core.clock import Clock, SystemClock, clock_speed
from scalp_radar.core.config_models import AppConfig
from scalp_radar.core.models import Candle, MultiTimeframeData, TimeFrame
from scalp_radar.core.snapshot import (
    BucketStats,
    ConnectionFacts,
    EngineSnapshot,
    Incident,
    StreamState,
    TickerRow,
    UniverseSnapshot,
)
from scalp_radar.core.timefmt import utc_minute
from scalp_radar.engine.candle_shards import CandleShardPool
from scalp_radar.engine.demand import StreamDemand
from scalp_radar.engine.gc_tuning import tune_gc
from scalp_radar.engine.healer import Healer
from scalp_radar.engine.history_ahead import reseed_without_future
from scalp_radar.engine.hot import HotChange, HotSet
from scalp_radar.engine.problem import ConnectionProblem
from scalp_radar.engine.pulse import Mark, Pulse, build_pulse, marks_of
from scalp_radar.engine.snapshot_build import (
    RateMeter,
    ViewCache,
    failure_facts,
    stream_snapshot,
)
from scalp_radar.engine.snapshot_demand import READ_WINDOW_S, SnapshotDemand
from scalp_radar.engine.stream import StreamWorker
from scalp_radar.engine.tickers import UniverseEngine
from scalp_radar.engine.validator import DataValidator
from scalp_radar.engine.wire_delta import WireRow
from scalp_radar.engine.writer import CandleKey, CandleWriter, candle_key
from scalp_radar.exchange.backoff import Backoff
from scalp_radar.exchange.clock_sync import ClockSync
from scalp_radar.exchange.holder import ExchangeHolder
from scalp_radar.exchange.shards import ConnectionGate

if TYPE_CHECKING:
    from scalp_radar.core.limiter import RateLimiter
    from scalp_radar.core.store import Database

__all__ = ["DataEngine", "DataValidator"]

CandleCallback = Callable[[Candle], Any]
# When the exchange's clock is measured: at start, again soon (two points give its rate: a
# simulator may run 60 times faster), then every CLOCK_CHECK_S.
CLOCK_FIRST_CHECKS_S = (0.0, 5.0)
CLOCK_CHECK_S = 300.0
# Candle sockets' share of Bitget's per-IP limits (300 new per 5 min, 100 open).
CANDLE_NEW_PER_5MIN = 50
CANDLE_MAX_OPEN = 20
HOT_CHECK_S = 5.0  # how often the movers ranking may promote or demote hot symbols


class DataEngine:
    """Streams, validates, buffers, persists and publishes candles for every configured stream."""

    def __init__(
        self,
        config: AppConfig,
        db: Database | None,
        limiter: RateLimiter,
        *,
        sim_url: str | None = None,
        demo: bool = False,
        clock: Clock | None = None,
        exchange_options: dict[str, Any] | None = None,
        exchange_factory: Callable[[], Any] | None = None,
        max_heal_candles: int | None = None,
        verify_closes: bool = True,
        universe: UniverseEngine | None = None,
        gate: ConnectionGate | None = None,
    ) -> None:
        """`max_heal_candles` (default: `buffer_size`) bounds a live heal; older is backfill's."""
        self.config = config
        # The market-wide radar (ticker shards) runs beside the candle streams, same lifecycle.
        self.universe = universe
        self.db = db
        self.limiter = limiter
        self.sim_url = sim_url if sim_url is not None else config.exchange.sim_url
        self.demo = demo
        self.clock: Clock = clock or SystemClock()
        self.engine_cfg = config.engine
        self._exchange_options = exchange_options
        self._factory = exchange_factory or self._create_exchange
        self.clock_sync = ClockSync(self.clock)
        # Shard 0's holder; REST (heals, clock checks, backfills) rides on it too.
        self.holder = self._new_holder()
        self.problem = ConnectionProblem(self.incident, self.clock)
        ws = config.exchange.websocket
        self.websocket_enabled = config.secrets.enable_websocket
        # Candle sockets get their own gate (the ticker shards' class), so a start-up queue of
        # ticker dials never delays the watchlist's candles; its caps keep the two gates' sum
        # inside Bitget's per-IP limits (ticker gate <= 250 new / 40 open by default).
        self.gate = gate or ConnectionGate(
            spacing_s=ws.dial_spacing_s, max_new=CANDLE_NEW_PER_5MIN, max_open=CANDLE_MAX_OPEN
        )
        # The top movers get candle streams (issue 12 item 4), with hysteresis against flapping.
        self.hot = HotSet(config.universe.hot_count)
        self.shards = CandleShardPool(
            self.holder,
            self._new_holder,
            capacity=ws.streams_per_connection,
            gate=self.gate,
            subscribe_interval_s=1.0 / max(0.1, ws.subscribe_rate_per_s),
            subscribes_per_hour=ws.subscribes_per_hour,
            # The radar loads the markets anyway (listings): one download serves both.
            markets_source=universe.markets_exchange if universe is not None else None,
        )
        self.demand = StreamDemand(
            {symbol: tuple(config.asset(symbol).timeframes) for symbol in config.symbols},
            tuple(self.engine_cfg.hot_timeframes),
        )
        self._config_watchlist = dict(self.demand.watchlist)
        self.streams: list[StreamWorker] = [
            self._new_stream(symbol, tf) for symbol, tf in self.demand.wanted()
        ]
        self._by_key = {(s.symbol, s.timeframe): s for s in self.streams}
        self._stream_tasks: dict[tuple[str, TimeFrame], asyncio.Task[None]] = {}
        self._reconcile_lock = asyncio.Lock()
        self._views = ViewCache()
        # Each market's price step, so every screen prints its prices at the market's precision.
        self._tick_sizes = {a.symbol: a.tick_size for a in config.assets}
        self.writer = CandleWriter(
            db,
            report=lambda kind, message: self.incident(kind, None, None, message),
            on_written=self._mark_flushed,
        )
        self.healer = Healer(
            holder=self.holder,
            limiter=limiter,
            clock=self.clock,
            clock_sync=self.clock_sync,
            incident=self.incident,
            apply_rest=self.apply_rest,
            spawn=self._spawn,
            # The buffer holds `buffer_size` candles: a longer gap's older part is backfill's job.
            max_heal_candles=max_heal_candles or self.engine_cfg.buffer_size,
            heal_gaps=self.engine_cfg.heal_gaps,
            verify_closes=verify_closes,
        )
        self._callbacks: list[CandleCallback] = []
        self._told_upto: dict[int, int] = {}  # id(stream) -> newest close the callbacks heard of
        # Closed candles waiting for their final values from REST: not written until then.
        self._unverified: set[CandleKey] = set()
        # Per stream: stored candles from this open time on were ahead of the exchange's clock;
        # live closes there replace them.
        self._replace_from: dict[int, int] = {}
        self._history_checked = False
        self._incidents: deque[Incident] = deque(maxlen=self.engine_cfg.incidents_max)
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._started_ms: int | None = None
        self._reconnects = 0
        self._history_ok = True
        self._rates = RateMeter()
        self._running = False
        self._stopping = False
        self._snapshot_listeners: list[Callable[[EngineSnapshot], None]] = []
        self._snapshot_demand = SnapshotDemand()
        self._snapshot = self._build_snapshot()
        self._pulse_listeners: list[Callable[[Pulse], None]] = []
        self._pulses_wanted_at = -float("inf")
        # The last snapshot handed to listeners and the streams it was built from: pulses move it.
        self._published: EngineSnapshot | None = None
        self._published_streams: tuple[StreamWorker, ...] = ()
        self._published_marks: tuple[Mark, ...] = ()
        self._pulse_rows: dict[int, tuple[TickerRow, WireRow]] = {}  # see build_pulse

    # ----- public API -------------------------------------------------------------------------

    def on_snapshot(self, listener: Callable[[EngineSnapshot], None]) -> None:
        """Call `listener(snapshot)` on the engine's loop as each periodic snapshot is published
        (handing it over is not a read: it keeps no full-rate builds going).

        For the daemon: viewers get a snapshot as soon as it exists, without polling for it.
        Snapshots come `snapshot_hz` times a second while someone reads them, else once a second.
        """
        self._snapshot_listeners.append(listener)

    def on_pulse(self, listener: Callable[[Pulse], None]) -> None:
        """Call `listener(pulse)` on the engine's loop for each pulse (what moved since the last
        published snapshot, engine/pulse.py): `snapshot_hz` times a second between snapshots,
        while `want_pulses()` is called at least every READ_WINDOW_S seconds."""
        self._pulse_listeners.append(listener)

    def want_pulses(self) -> None:
        """Someone wants pulses (any thread): build them for the next READ_WINDOW_S seconds."""
        self._pulses_wanted_at = time.monotonic()

    def build_pulse(self) -> Pulse | None:
        """What moved since the last published snapshot; None when there is none yet, or
        streams or radar rows came, went or moved since it (a snapshot is due then)."""
        base, streams = self._published, self._published_streams
        if (
            base is None
            or len(streams) != len(self.streams)
            or not all(map(operator.is_, streams, self.streams))
        ):
            return None
        return build_pulse(
            base,
            streams,
            self._published_marks,
            self._views,
            points=self.engine_cfg.sparkline_points,
            now_ms=self.clock.now_ms(),
            speed=clock_speed(self.clock),
            rows=self.universe.rows() if self.universe is not None else (),
            wired=self._pulse_rows,
        )

    def on_candle(self, callback: CandleCallback) -> None:
        """Call `callback(candle)` (sync or async) once per closed candle the engine adds.

        Live closes and closes only a REST heal delivered both count; re-sent ones do not.
        """
        self._callbacks.append(callback)

    def snapshot(self, *, fresh: bool = False) -> EngineSnapshot:
        """The latest immutable snapshot (safe to read from any thread).

        `fresh=True` rebuilds it now; call that only from the engine's loop (tests, status).
        Unread for a while, it is rebuilt once a second instead of `snapshot_hz` times.
        """
        if fresh:
            # A reader that builds its own (the headless status line) asks no periodic ones.
            self._snapshot = self._build_snapshot()
        else:
            self._snapshot_demand.read()
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
    def verified_fixes(self) -> int:
        """Closed candles whose stored values a REST verification corrected."""
        return self.healer.verified_fixes

    @property
    def verify_closes(self) -> bool:
        """Whether closes without their final values are checked over REST."""
        return self.healer.verify_closes

    @property
    def max_heal_candles(self) -> int:
        """The most candles one live heal fetches (older ones are left to a backfill)."""
        return self.healer.max_heal_candles

    @property
    def incidents(self) -> list[Incident]:
        """Incidents kept in memory, newest first."""
        return list(reversed(self._incidents))

    async def start(self) -> None:
        """Load stored history into the buffers and start every stream (unless websockets are off)."""
        if self._running:
            return
        self._running = True
        self._stopping = False
        self._started_ms = self.clock.now_ms()
        tune_gc()  # see engine/gc_tuning.py: young collections promoted snapshot garbage
        if self.db is not None:
            await self._load_history(self.db)
            if self.clock_sync.injected:
                # The exchange's clock is known without asking it: check the history now.
                await self._check_history_ahead(self.clock_sync.server_now_ms())
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
            self._start_stream(s)
        if self.universe is not None:
            await self.universe.start()
            if self.hot.size > 0:
                self._tasks.append(loop.create_task(self._hot_loop(), name="engine-hot"))
        logger.info(
            "data engine started: {} streams{}", len(self.streams), " (DEMO)" if self.demo else ""
        )
        self._snapshot = self._build_snapshot()

    async def stop(self) -> None:
        """Stop every stream, write everything received, close the exchange."""
        if not self._running:
            return
        self._running = False
        self._stopping = True  # repairs reported from here on are not started
        if self.universe is not None:
            await self.universe.stop()
        tasks = self._tasks + list(self._side_tasks) + list(self._stream_tasks.values())
        self._tasks = []
        self._stream_tasks.clear()
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
            await self.shards.close()
            self._snapshot = self._build_snapshot()
            logger.info("data engine stopped")

    # ----- which streams run: watchlist edits, hot and pinned symbols, at runtime -------------

    async def watch_symbol(
        self, symbol: str, timeframes: Iterable[TimeFrame] | None = None
    ) -> None:
        """Add `symbol` to the watchlist and start its candle streams (default: hot timeframes)."""
        tfs = tuple(timeframes) if timeframes is not None else self.demand.hot_timeframes
        self.demand.watchlist[symbol] = tfs
        await self.reconcile_streams()

    async def set_user_watchlist(self, symbols: Iterable[str]) -> None:
        """The user's watchlist (state file) changed: its symbols stream the hot timeframes on
        top of the configured watchlist; symbols taken off it stop unless hot or pinned."""
        watchlist = dict(self._config_watchlist)
        for symbol in symbols:
            watchlist.setdefault(symbol, self.demand.hot_timeframes)
        self.demand.watchlist = watchlist
        await self.reconcile_streams()

    async def unwatch_symbol(self, symbol: str) -> None:
        """Remove `symbol` from the watchlist; its streams stop unless it is hot or pinned."""
        self.demand.watchlist.pop(symbol, None)
        await self.reconcile_streams()

    async def pin(self, symbol: str) -> None:
        """Stream `symbol`'s candles while a detail screen is open on it."""
        self.demand.pinned.add(symbol)
        await self.reconcile_streams()

    async def unpin(self, symbol: str) -> None:
        """The detail screen closed: its streams stop unless watched or hot."""
        self.demand.pinned.discard(symbol)
        await self.reconcile_streams()

    async def set_hot(self, symbols: Iterable[str]) -> None:
        """The hot symbols (top movers, after hysteresis) whose candles stream."""
        self.demand.hot = set(symbols)
        await self.reconcile_streams()

    async def apply_ranking(self, ranked: Sequence[str]) -> HotChange:
        """Feed a movers ranking (best first) to the hot set; promotions and demotions start
        and stop the symbols' candle streams."""
        change = self.hot.update(ranked, self.clock.now_ms())
        if change.promoted or change.demoted:
            logger.info("hot symbols: +{} -{}", list(change.promoted), list(change.demoted))
            await self.set_hot(self.hot.members)
        return change

    async def _hot_loop(self) -> None:
        """Rank the radar's movers every few seconds (only symbols with a 5 min change)."""
        universe = self.universe
        if universe is None:
            return
        while True:
            await asyncio.sleep(HOT_CHECK_S)
            if not universe.warmup.done:
                # Ranking while the windows fill (most liquid first) would promote the early
                # symbols and demote them moments later: a burst of (un)subscribes for nothing.
                continue
            try:
                rows = universe.snapshot().preset("movers", limit=self.hot.exit_rank)
                await self.apply_ranking([r.symbol for r in rows if r.change_5m == r.change_5m])
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next round tries again
                logger.exception("hot symbols update failed")

    async def reconcile_streams(self) -> tuple[list[str], list[str]]:
        """Start the streams demand wants and stop the rest; returns (started, stopped) keys.

        Stopping unsubscribes on the stream's socket (paced and counted like a subscribe).
        """
        async with self._reconcile_lock:
            wanted = self.demand.wanted()
            wanted_set = set(wanted)
            gone = [s for s in self.streams if (s.symbol, s.timeframe) not in wanted_set]
            new = [
                self._new_stream(symbol, tf)
                for symbol, tf in wanted
                if (symbol, tf) not in self._by_key
            ]
            for s in gone:
                await self._drop_stream(s)
            if new and self.db is not None:
                await self._load_history(self.db, new)
            for s in new:
                self.streams.append(s)
                self._by_key[(s.symbol, s.timeframe)] = s
                if self._running and self.websocket_enabled:
                    self._start_stream(s)
            if new or gone:
                logger.info(
                    "candle streams: +{} -{} ({} running)", len(new), len(gone), len(self.streams)
                )
            return [s.key for s in new], [s.key for s in gone]

    async def _drop_stream(self, s: StreamWorker) -> None:
        key = (s.symbol, s.timeframe)
        task = self._stream_tasks.pop(key, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.streams.remove(s)
        self._by_key.pop(key, None)
        self._views.forget(s.buffer)
        self._told_upto.pop(id(s), None)
        self._replace_from.pop(id(s), None)
        s.state = StreamState.STOPPED
        shard = self.shards.leave((s.symbol, s.timeframe.value))
        ex = s.connection.holder.exchange
        subscribed = ex is not None and s.timeframe.value in (ex.ohlcvs or {}).get(s.symbol, {})
        if shard is not None and subscribed:
            await shard.unwatch(s.symbol, s.timeframe.value)

    async def flush(self, *, final: bool = False) -> int:
        """Write pending closed candles, corrections and incidents; returns new candles stored."""
        return await self.writer.flush(final=final)

    # ----- hooks used by StreamWorker ---------------------------------------------------------

    def stream_closed(
        self, stream: StreamWorker, candles: list[Candle], *, corrected: bool, live: bool
    ) -> None:
        """Queue closed candles for the database; tell the callbacks about new closes."""
        replace_from = self._replace_from.get(id(stream))
        for c in candles:
            if candle_key(c) in self._unverified:
                continue  # stored once REST has confirmed its final values (apply_rest)
            if corrected or (replace_from is not None and c.timestamp >= replace_from):
                self.writer.queue_fix(c)
            else:
                self.writer.queue(c)
        if corrected:
            return
        if not live and id(stream) not in self._told_upto:
            # The subscription's first snapshot is history, not news: start telling after it.
            self._told_upto[id(stream)] = max(c.timestamp for c in candles)
            return
        # A reconnection snapshot also carries the closes missed while down: tell those too.
        self._tell(stream, candles, only_newer=True)

    def stream_gap(self, stream: StreamWorker, start_ms: int, end_ms: int) -> None:
        """Record a gap and start healing it over REST."""
        self.healer.gap(stream, start_ms, end_ms)

    def stream_unconfirmed(self, stream: StreamWorker, candle: Candle) -> None:
        """A candle closed without its final values: keep it unstored until REST confirms it."""
        if self.healer.unconfirmed(stream, candle):
            self._unverified.add(candle_key(candle))

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
        self.writer.queue_incident(inc)

    def _exchange_event(self, kind: str, message: str) -> None:
        """An exchange-wide event the holder saw (e.g. a receive loop that died)."""
        self.incident(kind, None, None, message)

    def _frame_fault(self, symbol: str, timeframe: str, what: str) -> None:
        """A candle frame ccxt merged silently (replayed or late): count it on its stream."""
        try:
            stream = self._by_key.get((symbol, TimeFrame(timeframe)))
        except ValueError:
            return
        if stream is not None:
            stream.count_silent_frame(what)

    def count_reconnect(self) -> None:
        """Count one stream reconnect."""
        self._reconnects += 1

    # ----- hooks used by the Healer -----------------------------------------------------------

    def apply_rest(self, stream: StreamWorker, candles: list[Candle]) -> int:
        """Merge authoritative REST candles into the buffer and the write queue; returns fixes."""
        fixed = 0
        added: list[Candle] = []
        outcomes = stream.buffer.upsert_many(candles)  # one merge for the whole heal
        for c, outcome in zip(candles, outcomes, strict=True):
            key = candle_key(c)
            if outcome == "added":
                added.append(c)
            if outcome == "replaced":
                fixed += 1
            if key in self._unverified:
                # Its final values at last: written as a replacement, since a stale state of
                # it may have been stored before (a reconnection snapshot's newest close).
                self._unverified.discard(key)
                self.writer.queue_fix(c)
                continue
            if outcome == "same" and not self.writer.is_queued(key):
                continue
            if outcome == "replaced":
                self.writer.queue_fix(c)
            else:
                self.writer.queue(c)
        # A close that only a heal delivered is still a close: callbacks must not miss it.
        self._tell(stream, added, only_newer=False)
        return fixed

    # ----- internals --------------------------------------------------------------------------

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

    def _mark_flushed(self, batch: list[Candle]) -> None:
        """Remember per stream the newest candle the database holds."""
        for c in batch:
            s = self._by_key.get((c.symbol, c.timeframe))
            if s is not None and (s.flushed_upto is None or c.timestamp > s.flushed_upto):
                s.flushed_upto = c.timestamp

    def _new_holder(self) -> ExchangeHolder:
        """A holder for one shard's instance (its own socket)."""
        return ExchangeHolder(
            self._new_exchange, on_event=self._exchange_event, on_frame=self._frame_fault
        )

    def _new_stream(self, symbol: str, tf: TimeFrame) -> StreamWorker:
        """A stream seated on a shard with room."""
        ws = self.config.exchange.websocket
        return StreamWorker(
            self,
            symbol,
            tf,
            buffer_size=self.engine_cfg.buffer_size,
            stale_multiplier=self.engine_cfg.stale_multiplier,
            stale_min_s=self.engine_cfg.stale_min_s,
            backoff=Backoff(ws.reconnect_delay_s, ws.max_reconnect_delay_s, ws.stable_after_s),
            connection=self.shards.place((symbol, tf.value)),
        )

    def _start_stream(self, s: StreamWorker) -> None:
        task = asyncio.get_running_loop().create_task(self._supervise(s), name=f"stream {s.key}")
        self._stream_tasks[(s.symbol, s.timeframe)] = task

    def _new_exchange(self) -> Any:
        """A fresh exchange whose own clock agrees with the exchange's (see `ClockSync`)."""
        ex = self._factory()
        self.clock_sync.apply(ex)
        return ex

    def _create_exchange(self) -> Any:
        from scalp_radar.exchange.factory import create_exchange

        ping_ms = int(self.config.exchange.websocket.ping_interval_s * 1000)
        options: dict[str, Any] = {"ws": {"keepAlive": ping_ms}}
        extra = self._exchange_options or {}
        options["ws"].update(extra.get("ws", {}))
        options.update({k: v for k, v in extra.items() if k != "ws"})
        return create_exchange(self.config, self.sim_url, options=options)

    async def _load_history(self, db: Database, streams: list[StreamWorker] | None = None) -> None:
        """Warm each buffer with the newest stored candles, so a restart continues history."""
        for s in self.streams if streams is None else streams:
            try:
                latest = await db.get_latest_candle_timestamp(s.symbol, s.timeframe)
                if latest is None:
                    continue
                step = s.timeframe.to_milliseconds()
                start = latest - (s.buffer.maxlen - 1) * step
                rows = await db.get_candles(s.symbol, s.timeframe, start, latest + 1)
                s.buffer.seed(rows)
                s.buffer.last_closed_ts = latest
                s.flushed_upto = latest
            except Exception as exc:  # noqa: BLE001 - an unreadable history is not fatal
                self._history_ok = False
                logger.error("{}: could not load stored history: {}", s.key, exc)

    async def _check_history_ahead(self, now_ms: int) -> None:
        """Once, with the exchange's clock known: set aside stored candles it has not closed."""
        if self._history_checked or self.db is None:
            return
        self._history_checked = True
        ahead = await reseed_without_future(self.db, self.streams, now_ms)
        if not ahead:
            return
        for a in ahead:
            self._replace_from[id(a.stream)] = a.from_ms
        where = ", ".join(f"{a.stream.key} ({a.count} from {utc_minute(a.from_ms)})" for a in ahead)
        message = (
            f"stored candles newer than the exchange's clock ({utc_minute(now_ms)} UTC): {where};"
            " clock skew, a bad import or another simulator's history? Live streams ignore"
            " them and replace them as candles close"
        )
        logger.warning(message)
        self.incident("error", None, None, message)

    def _call(self, cb: CandleCallback, candle: Candle) -> None:
        try:
            result = cb(candle)
            if inspect.iscoroutine(result):
                self._spawn(result, "on_candle callback")
            elif inspect.isawaitable(result):
                self._spawn(_awaited(result), "on_candle callback")
        except Exception:  # noqa: BLE001 - a user callback must not stop the engine
            logger.exception("on_candle callback {!r} raised", cb)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run `coro` as a side task (heals, verifications, async callbacks), errors logged.

        The task runs `coro` itself, not a wrapper awaiting it: a task cancelled before its
        first step (at stop) then closes `coro` instead of leaving it never awaited. After stop
        (a stream still draining) nothing new starts.
        """
        if self._stopping:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_task_done)

    def _side_task_done(self, task: asyncio.Task[None]) -> None:
        self._side_tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.opt(exception=exc).error("{} failed", task.get_name())

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
        """Flush every `flush_interval_s`, or at once when the write queue is full."""
        interval = self.engine_cfg.flush_interval_s
        full = self.writer.full
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await full.wait()
            full.clear()
            with contextlib.suppress(Exception):
                await self.flush()

    async def _snapshot_loop(self) -> None:
        interval = 1.0 / max(0.1, self.engine_cfg.snapshot_hz)
        while True:
            await asyncio.sleep(interval)
            try:
                if self._snapshot_demand.due():
                    self._publish_snapshot()
                elif time.monotonic() - self._pulses_wanted_at <= READ_WINDOW_S:
                    pulse = self.build_pulse()
                    if pulse is None:
                        self._publish_snapshot()
                    else:
                        self._hand_over(self._pulse_listeners, pulse)
            except Exception:  # noqa: BLE001 - never let the UI feed die
                logger.exception("snapshot build failed")

    def _publish_snapshot(self) -> None:
        snap = self._snapshot = self._build_snapshot()
        self._published, self._published_streams = snap, tuple(self.streams)
        self._published_marks = marks_of(self.streams)
        self._pulse_rows = {}
        self._hand_over(self._snapshot_listeners, snap)

    @staticmethod
    def _hand_over(listeners: Sequence[Callable[[Any], None]], item: object) -> None:
        for listener in listeners:
            try:
                listener(item)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop snapshots
                logger.exception("snapshot listener failed")

    async def _clock_loop(self) -> None:
        """Measure the exchange clock at start, once more soon after, then periodically."""
        waits = [*CLOCK_FIRST_CHECKS_S]
        while True:
            await asyncio.sleep(waits.pop(0) if waits else CLOCK_CHECK_S)
            try:
                await self.limiter.acquire("market_data")
                if await self.clock_sync.measure(self.holder.ensure()):
                    await self._check_history_ahead(self.clock_sync.server_now_ms())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - heals measure again; this is for display
                logger.debug("clock offset check failed: {}", exc)

    def _build_snapshot(self) -> EngineSnapshot:
        self._snapshot_demand.built()
        now = self.clock.now_ms()
        speed = clock_speed(self.clock)
        points = self.engine_cfg.sparkline_points
        views = self._views
        ticks = self._tick_sizes
        streams = tuple(
            stream_snapshot(
                s,
                now_ms=now,
                speed=speed,
                points=points,
                updates_per_s=self._rates.rate(id(s), s.updates, now, speed),
                cache=views,
                tick_size=ticks.get(s.symbol),
            )
            for s in self.streams
        )
        uptime = (
            0.0 if self._started_ms is None else max(0.0, (now - self._started_ms) / 1000 / speed)
        )
        limiter_stats: tuple[BucketStats, ...] = ()
        with contextlib.suppress(Exception):
            limiter_stats = tuple(self.limiter.stats())
        facts = ConnectionFacts(
            exchange=self.config.exchange.name,
            demo=self.demo,
            websocket_enabled=self.websocket_enabled,
            uptime_s=uptime,
            reconnects=self._reconnects,
            clock_offset_ms=self.clock_sync.offset_ms,
            database_ok=self.writer.database_ok and self._history_ok,
            **failure_facts(self.shards.holders, self.problem),
            write_latency_ms=(
                None if self.writer.last_write_s is None else self.writer.last_write_s * 1000
            ),
        )
        return EngineSnapshot(
            taken_at_ms=now,
            streams=streams,
            limiter=limiter_stats,
            connection=facts,
            incidents=tuple(reversed(self._incidents)),
            universe=self.universe.snapshot() if self.universe is not None else UniverseSnapshot(),
        )


async def _awaited(result: Any) -> None:
    await result
