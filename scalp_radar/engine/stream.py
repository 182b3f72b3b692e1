"""One watch loop per (symbol, timeframe): state machine, watchdog, backoff, ingestion."""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from loguru import logger

from scalp_radar.core.clock import Clock, clock_speed
from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.core.snapshot import StreamState
from scalp_radar.engine.buffer import CandleBuffer, Outcome
from scalp_radar.engine.problem import ConnectionProblem, IncidentSink
from scalp_radar.engine.validator import DataValidator, next_forming_state
from scalp_radar.engine.watchdog import Watchdog
from scalp_radar.exchange.backoff import Backoff
from scalp_radar.exchange.errors import Failure, FailureKind, classify, describe
from scalp_radar.exchange.holder import ExchangeHolder

# Timeframes ccxt.pro can stream from Bitget (2h, 3d and 1M have no channel mapping).
WATCHABLE: frozenset[str] = frozenset(
    {"1m", "3m", "5m", "15m", "30m", "1h", "4h", "6h", "12h", "1d", "1w"}
)
# An error event naming our own instrument this many times in a row fails the stream.
MAX_OWN_ERRORS = 3
# Extra time allowed for the first watch of a connection (dial + load_markets + snapshot).
CONNECT_GRACE_S = 10.0
DEBUG_BATCHES = False
# Updates carry the forming candle and at most a few just-closed ones; more rows is a snapshot.
SNAPSHOT_MIN_ROWS = 5
# Rows of ccxt's candle cache kept after a snapshot (updates touch the newest one or two).
CCXT_CACHE_KEEP = 16


def expected_update_interval_s(tf: TimeFrame) -> float:
    """Market seconds within which a healthy stream pushes at least once (1 s for 1m, 60 s for 1h).

    Bitget pushes the forming candle several times a second while trades happen; this bound is
    for a quiet market, scaled with the timeframe and clamped to [1, 60] s.
    """
    return min(60.0, max(1.0, tf.to_milliseconds() / 1000 / 60))


def stale_after_s(tf: TimeFrame, multiplier: float, floor_s: float, speed: float = 1.0) -> float:
    """Real seconds without an update after which the stream counts as stale."""
    return max(floor_s, multiplier * expected_update_interval_s(tf) / speed)


class Connection(Protocol):
    """The socket a stream's subscription lives on (its shard): holder and subscribe pacing."""

    holder: ExchangeHolder

    async def pace_subscribe(self) -> asyncio.Event: ...
    async def load_markets(self, exchange: Any) -> None: ...


class StreamHost(Protocol):
    """What a stream needs from its engine."""

    clock: Clock
    problem: ConnectionProblem

    def stream_closed(
        self, stream: StreamWorker, candles: list[Candle], *, corrected: bool, live: bool
    ) -> None: ...
    def stream_gap(self, stream: StreamWorker, start_ms: int, end_ms: int) -> None: ...
    @property
    def incident(self) -> IncidentSink: ...
    def count_reconnect(self) -> None: ...
    def stream_unconfirmed(self, stream: StreamWorker, candle: Candle) -> None: ...


class StreamWorker:
    """Runs `watch_ohlcv` for one stream forever, feeding a `CandleBuffer`."""

    def __init__(
        self,
        host: StreamHost,
        symbol: str,
        timeframe: TimeFrame,
        *,
        buffer_size: int,
        stale_multiplier: float,
        stale_min_s: float,
        backoff: Backoff,
        connection: Connection,
    ) -> None:
        self.host = host
        self.connection = connection
        self.symbol = symbol
        self.timeframe = timeframe
        self.buffer = CandleBuffer(symbol, timeframe, buffer_size)
        self.backoff = backoff
        self.stale_multiplier = stale_multiplier
        self.stale_min_s = stale_min_s
        self.state_log: deque[StreamState] = deque(
            maxlen=64
        )  # transitions, for tests and debugging
        self._state = StreamState.CONNECTING
        self.state_log.append(self._state)
        self.reason: str | None = None
        self.last_error: str | None = None  # why it is not live, kept across retries
        self.next_retry_at: float | None = None  # time.monotonic() of the next attempt
        self.last_update_ms: int | None = None  # clock time of the last accepted row
        self.updates = 0
        self.raw_rows = 0
        self.invalid_dropped = 0
        self.duplicates_dropped = 0
        # A replayed frame already counted by the frame inspector; if the engine reads the
        # replay on its own, the buffer sees the same rows again: one fault, counted once.
        self._replay_counted = False
        self.out_of_order_dropped = 0
        self.corrections = 0
        self.gaps_detected = 0
        self.gaps_healed = 0
        self.gaps_open = 0
        self.reconnects = 0
        self.stale_events = 0
        self.cache_repairs = 0
        self._own_errors = 0
        self._down_since_ms: int | None = None
        self.flushed_upto: int | None = None  # newest ts already written to the database

    @property
    def state(self) -> StreamState:
        """Current connection state."""
        return self._state

    @state.setter
    def state(self, value: StreamState) -> None:
        if value is not self._state:
            self._state = value
            self.state_log.append(value)

    @property
    def key(self) -> str:
        """ "BTC/USDT:USDT 1m"."""
        return f"{self.symbol} {self.timeframe.value}"

    def stale_timeout_s(self) -> float:
        """Real seconds without an update before this stream is stale."""
        return stale_after_s(
            self.timeframe,
            self.stale_multiplier,
            self.stale_min_s,
            clock_speed(self.host.clock),
        )

    def fail(self, reason: str) -> None:
        """Stop this stream for good with a visible reason."""
        self.state = StreamState.FAILED
        self.reason = reason
        self.next_retry_at = None
        logger.error("{} failed: {}", self.key, reason)
        self.host.incident("error", self.symbol, self.timeframe.value, f"stream failed: {reason}")

    async def run(self) -> None:
        """The watch loop; returns only when the stream fails (cancel it to stop)."""
        if self.timeframe.value not in WATCHABLE:
            self.fail(f"bitget cannot stream {self.timeframe.value} candles")
            return
        watchdog = Watchdog()
        try:
            await self._watch(watchdog)
        finally:
            watchdog.close()

    async def _watch(self, watchdog: Watchdog) -> None:
        """The watch loop proper, each watch guarded by `watchdog` (the stale timeout)."""
        import ccxt  # lazy: ccxt costs ~0.7 s to import

        resync = True  # the first batch of a subscription is the snapshot
        stale_s = self.stale_timeout_s()  # recomputed per subscription, not per update
        symbol, tf = self.symbol, self.timeframe.value
        while True:
            holder = self.connection.holder
            ex = holder.ensure()
            gen = holder.generation
            loading_markets = False
            answered: asyncio.Event | None = None  # set when our subscribe got its answer
            try:
                if resync:
                    if not ex.markets:
                        # Load markets first, so the subscribes below are really paced.
                        loading_markets = True
                        await asyncio.wait_for(self.connection.load_markets(ex), CONNECT_GRACE_S)
                        loading_markets = False
                    answered = await self.connection.pace_subscribe()
                    # Re-created while we queued? Its old instance is closed: a subscribe there
                    # would dial a socket nobody closes. Subscribe on the current one.
                    ex = holder.ensure()
                    gen = holder.generation
                    stale_s = self.stale_timeout_s()
                    timeout = stale_s + CONNECT_GRACE_S
                else:
                    timeout = stale_s
                try:
                    # One lazily re-armed timer per stream (asyncio.timeout costs one per update).
                    with watchdog.guard(timeout):
                        rows = await ex.watch_ohlcv(symbol, tf)
                finally:
                    if answered is not None:
                        answered.set()  # the socket's next subscribe may go
            except asyncio.CancelledError:
                if _really_cancelled():
                    raise
                # ccxt cancels pending watch futures when their exchange is closed (recycle).
                self._mark_down("exchange closed")
                resync = True
                continue
            except TimeoutError:
                if loading_markets:
                    # No REST answer at all: the exchange is unreachable, not a stale stream.
                    reason = f"timeout after {CONNECT_GRACE_S:g} s loading markets"
                    await self._on_failure(Failure(FailureKind.TIMEOUT, reason))
                else:
                    await self._on_stale(gen, resync)
                resync = True
                continue
            except ccxt.BadSymbol as exc:
                self.fail(f"unknown symbol: {describe(exc)}")
                return
            except ccxt.BadRequest as exc:
                if self._names_me(exc):
                    self._own_errors += 1
                    if self._own_errors >= MAX_OWN_ERRORS or self.symbol not in (ex.markets or {}):
                        self.fail(f"rejected by the exchange: {describe(exc)}")
                        await holder.recycle(gen, f"{self.key} subscription rejected")
                        return
                await self._on_poisoned(gen, exc, backoff=self._names_me(exc))
                resync = True
                continue
            except ccxt.NetworkError as exc:
                if holder.generation != gen:
                    self.last_error = describe(exc)
                    self._mark_down(f"exchange re-created: {self.last_error}")
                elif _socket_alive(ex):
                    # An error event (e.g. 30006) left the socket up with a dead subscription.
                    await self._on_poisoned(gen, exc, backoff=True)
                else:
                    await self._on_failure(classify(exc, timeout_s=_timeout_s(ex)))
                resync = True
                continue
            except ccxt.ExchangeError as exc:
                await self._on_poisoned(gen, exc, backoff=True)
                resync = True
                continue
            except (ConnectionError, OSError) as exc:
                # A raw transport error ccxt passed through (e.g. aiohttp's "Cannot write to
                # closing transport"): its client may linger half-closed, so start afresh.
                if holder.generation != gen:
                    self.last_error = describe(exc)
                    self._mark_down(f"exchange re-created: {self.last_error}")
                else:
                    await self._on_poisoned(gen, exc, backoff=True, what="transport error")
                resync = True
                continue
            except TypeError as exc:
                self.fail(f"cannot stream this timeframe: {exc}")
                return
            except Exception as exc:  # noqa: BLE001 - a stream must never die of a surprise
                logger.exception("{}: unexpected error in watch loop", self.key)
                await self._on_failure(classify(exc))
                resync = True
                continue
            if DEBUG_BATCHES:
                logger.debug("{} batch {} rows resync={}", self.key, len(rows), resync)
            # A big batch is a snapshot even when an update beat it to the first call.
            snapshot = resync or len(rows) > SNAPSHOT_MIN_ROWS
            if self.ingest(rows, resync=snapshot):
                # Live only on data we kept: rejected rows alone prove nothing about the stream.
                self._on_data()
            forming = self.buffer.forming
            if snapshot or (rows and forming is not None and rows[-1][0] < forming.timestamp):
                self._repair_ccxt_cache(ex)
            if snapshot:
                _trim_ccxt_cache(ex, symbol, tf)
            resync = False

    def ingest(self, rows: Sequence[Sequence[Any]], *, resync: bool = False) -> bool:
        """Validate and buffer the rows of one `watch_ohlcv` result.

        Returns True when at least one row was accepted (the forming candle updating counts);
        only then is `last_update_ms` refreshed.
        """
        forming = self.buffer.forming
        if not resync and forming is not None and len(rows) == 1:
            # Most pushes are a new state of the forming candle: checked and applied in one pass.
            state = next_forming_state(forming, rows[0])
            if state is not None:
                self.raw_rows += 1
                self.updates += 1
                if state is not forming:
                    self.buffer.replace_forming(state)
                self._replay_counted = False
                self.last_update_ms = self.host.clock.now_ms()
                return True
        host = self.host
        tf = self.timeframe
        self.raw_rows += len(rows)
        if resync:
            # ccxt's cache may be out of ts order right after a (re)subscription.
            rows = sorted(rows, key=_row_ts)
        prev_ts: int | None = None
        seen: set[int] = set()  # ts of rows already in this batch
        closed: list[Candle] = []
        corrected: list[Candle] = []
        accepted = False
        for row in rows:
            ts = row[0] if row else None
            if not resync and prev_ts is not None and isinstance(ts, int) and ts < prev_ts:
                # ccxt appends an unseen older ts at the end of its cache: a raw out-of-order push.
                self.out_of_order_dropped += 1
                continue
            candle, why = DataValidator.check_candle(row, self.symbol, tf)
            if candle is None:
                self.invalid_dropped += 1
                host.incident("invalid", self.symbol, tf.value, f"invalid candle dropped: {why}")
                continue
            prev_ts = candle.timestamp
            result = self.buffer.apply(candle, resync=resync)
            seen.add(candle.timestamp)
            outcome = result.outcome
            if outcome is Outcome.DUPLICATE:
                if not resync and not self._replay_counted:
                    self.duplicates_dropped += 1
                continue
            if outcome is Outcome.OUT_OF_ORDER:
                self.out_of_order_dropped += 1
                continue
            self.updates += 1
            accepted = True
            if result.gap is not None:
                host.stream_gap(self, *result.gap)
            if outcome is Outcome.CLOSED:
                closed.extend(result.closed)
                for c in result.closed:
                    # Bitget sends a candle's final values with the first push after it closes;
                    # a close without them (skipped push) leaves the stored candle unconfirmed.
                    if not resync and c.timestamp not in seen:
                        host.stream_unconfirmed(self, c)
            elif outcome is Outcome.CORRECTED:
                self.corrections += 1
                corrected.extend(result.closed)
        # The replay's rows come in this batch or never (merged into an earlier read).
        self._replay_counted = False
        if accepted:
            self.last_update_ms = host.clock.now_ms()
        if resync and (closed or corrected) and self.buffer.closed:
            # The newest close of a snapshot batch may carry a stale state (a snapshot built
            # before the last update can overwrite it in ccxt's cache): check it over REST.
            host.stream_unconfirmed(self, self.buffer.closed[-1])
        if closed:
            host.stream_closed(self, closed, corrected=False, live=not resync)
        if corrected:
            host.stream_closed(self, corrected, corrected=True, live=not resync)
        return accepted

    def count_silent_frame(self, what: str) -> None:
        """Count a frame ccxt merged without showing it: "duplicate" or "late" (out of order)."""
        if what == "duplicate":
            self.duplicates_dropped += 1
            self._replay_counted = True
        else:
            self.out_of_order_dropped += 1

    def _repair_ccxt_cache(self, ex: Any) -> None:
        """Put ccxt's candle cache back in ts order.

        ccxt appends an unseen ts at the end of its cache and returns "the last N rows" by
        position, so an update that beats the snapshot (or an old ts pushed late) leaves the
        cache out of order and later calls return the wrong rows (stale forming candle, closes
        with partial values). Sorting it in place restores the positional contract.
        """
        try:
            cache = ex.ohlcvs[self.symbol][self.timeframe.value]
            dq = cache._deque
        except (AttributeError, KeyError, TypeError):
            return
        prev = None
        for r in dq:
            if prev is not None and r[0] <= prev:
                break
            prev = r[0]
        else:
            return
        ordered = sorted(dq, key=lambda r: r[0])
        dq.clear()
        dq.extend(ordered)
        self.cache_repairs += 1

    def _on_data(self) -> None:
        if self._state is StreamState.LIVE and not self.backoff.attempt and not self._own_errors:
            return  # live with nothing to reset: the common case, once per update
        if self.state is not StreamState.LIVE:
            if self._down_since_ms is not None:
                down_s = (self.host.clock.now_ms() - self._down_since_ms) / 1000
                self.host.incident(
                    "reconnect", self.symbol, self.timeframe.value, "stream live again", down_s
                )
            self._down_since_ms = None
            self.state = StreamState.LIVE
            self.reason = None
            self.last_error = None
            self.host.problem.clear()
            self.next_retry_at = None
            self.backoff.connected()
        self._own_errors = 0
        self.backoff.reset_if_stable()

    def _mark_down(self, reason: str) -> None:
        if self._down_since_ms is None:
            self._down_since_ms = self.host.clock.now_ms()
        if self.state is StreamState.LIVE:
            self.reconnects += 1
            self.host.count_reconnect()
            self.host.incident("disconnect", self.symbol, self.timeframe.value, reason)
        if self.state is not StreamState.STALE:
            self.state = StreamState.RECONNECTING
        self.reason = reason

    async def _sleep_backoff(self) -> None:
        delay = self.backoff.next_delay()
        self.next_retry_at = time.monotonic() + delay
        self.state = StreamState.RECONNECTING
        await asyncio.sleep(delay)
        self.next_retry_at = None

    async def _on_failure(self, failure: Failure) -> None:
        """A dial, market load or watch failed: show why, report an unreachable exchange, wait."""
        self.last_error = failure.reason
        if failure.unreachable:
            self.host.problem.report(failure.reason)
            self._mark_down(f"cannot connect: {failure.reason}")
        else:
            self._mark_down(f"disconnected: {failure.reason}")
        await self._sleep_backoff()

    async def _on_stale(self, gen: int, resync: bool) -> None:
        if resync:
            # No snapshot at all: a dial or subscription that never completed.
            self.last_error = "no data after subscribing"
            self._mark_down(self.last_error)
        else:
            self.stale_events += 1
            was_live = self.state is StreamState.LIVE
            self.last_error = f"stale: no update for {self.stale_timeout_s():.1f}s"
            self._mark_down(self.last_error)
            self.state = StreamState.STALE
            if was_live:
                self.host.incident(
                    "stale",
                    self.symbol,
                    self.timeframe.value,
                    f"no update for {self.stale_timeout_s():.1f}s",
                )
        # Re-calling watch on a silent socket would just wait again: force a fresh connection.
        await self.connection.holder.recycle(gen, f"{self.key} stale")
        await self._sleep_backoff()

    async def _on_poisoned(
        self, gen: int, exc: BaseException, *, backoff: bool, what: str = "error event"
    ) -> None:
        self.last_error = describe(exc)
        self._mark_down(f"{what}: {self.last_error}")
        await self.connection.holder.recycle(gen, f"{self.key}: {self.last_error}")
        if backoff:
            await self._sleep_backoff()

    def _names_me(self, exc: BaseException) -> bool:
        """True when an error event names this stream's instrument (and channel, when given)."""
        ex = self.connection.holder.exchange
        try:
            market_id = ex.market(self.symbol)["id"] if ex is not None else None
            interval = (ex.options.get("timeframes") or {}).get(self.timeframe.value)
        except Exception:  # noqa: BLE001 - unknown market: cannot be ours by id
            return False
        if not market_id:
            return False
        text = str(exc)
        if re.search(rf"instId\W+{re.escape(market_id)}\b", text) is None:
            return False
        channels = re.findall(r"channel\W+(candle\w+)", text)
        return not channels or (interval is not None and f"candle{interval}" in channels)


def _trim_ccxt_cache(ex: Any, symbol: str, timeframe: str) -> None:
    """Drop all but the newest rows of ccxt's candle cache once a snapshot is in our buffer.

    ccxt keeps every snapshot row (500 per subscription, ~125 kB of lists and floats per
    stream: 50 MB at 400 streams) though only the newest few are ever updated again.
    """
    try:
        cache = ex.ohlcvs[symbol][timeframe]
        dq = cache._deque
        hashmap = cache.hashmap
    except (AttributeError, KeyError, TypeError):
        return
    while len(dq) > CCXT_CACHE_KEEP:
        row = dq.popleft()
        hashmap.pop(row[0], None)


def _row_ts(row: Any) -> int:
    """Sort key of a raw row (unreadable rows first; validation rejects them)."""
    try:
        return int(row[0])
    except (TypeError, ValueError, IndexError):
        return -1


def _really_cancelled() -> bool:
    """True when this task itself is being cancelled (not just a ccxt future it awaited)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def _socket_alive(ex: Any) -> bool:
    """True when the public websocket is still open (the error came from an error event)."""
    try:
        url = ex.urls["api"]["ws"]["public"]
        client = (ex.clients or {}).get(url)
    except Exception:  # noqa: BLE001
        return False
    if client is None:
        return False
    conn = getattr(client, "connection", None)
    return conn is not None and not getattr(conn, "closed", True)


def _timeout_s(ex: Any) -> float | None:
    """ccxt's REST timeout of `ex` in seconds (the one a RequestTimeout means)."""
    try:
        return float(ex.timeout) / 1000
    except (AttributeError, TypeError, ValueError):
        return None
