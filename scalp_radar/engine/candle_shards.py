"""Candle streams sharded over several ccxt.pro instances (one socket each), inside Bitget's limits.

ccxt.pro opens one socket per exchange instance, and Bitget allows 240 subscribe requests per
hour and 10 messages per second per connection: 400 streams on one socket hit 30006 at the
241st subscribe and the re-created socket dropped every stream. Here each `CandleShard` holds
at most `capacity` streams on its own `ExchangeHolder`; a failure re-creates only that
shard's instance. Dials go through the per-IP `ConnectionGate` shared with the ticker shards.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any

from loguru import logger

from scalp_radar.exchange.holder import ExchangeHolder
from scalp_radar.exchange.shards import ConnectionGate, SubscribeBudget

MarketsSource = Callable[[Any], Awaitable[None]]
_BUDGET_POLL_S = 1.0  # how often a shard out of subscribe budget looks again
# The longest a subscribe waits for the answer (snapshot, ack) to the previous one on its socket.
SUBSCRIBE_ANSWER_S = 5.0


class CandleShard:
    """One socket's worth of candle streams: its holder, subscribe spacing and hourly budget."""

    def __init__(
        self,
        shard_id: int,
        holder: ExchangeHolder,
        *,
        gate: ConnectionGate,
        subscribe_interval_s: float,
        subscribes_per_hour: int,
        markets: MarketsSource,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shard_id = shard_id
        self._markets = markets
        self.holder = holder
        self.keys: set[tuple[str, str]] = set()  # (symbol, timeframe) of the streams held
        self.budget = SubscribeBudget(subscribes_per_hour, mono)
        self._gate = gate
        self._interval_s = subscribe_interval_s
        self._next_at = 0.0
        self._lock = asyncio.Lock()
        self._admitted: int | None = None  # holder generation the gate admitted
        self._in_flight = asyncio.Event()  # set once the last frame sent got its answer
        self._in_flight.set()
        self.subscribes = 0
        self.unsubscribes = 0

    async def pace_subscribe(self) -> asyncio.Event:
        """Wait for the right to send one (un)subscribe frame on this shard's socket.

        The first frame of a new instance (first dial, or after a re-creation) first takes a
        connection from the gate; frames are spaced at `subscribe_interval_s` and counted
        against the connection's hourly budget. One frame is in flight at a time: the caller
        sets the returned event once its frame got an answer (or failed), and the next frame
        waits for that (at most `SUBSCRIBE_ANSWER_S`). A server counts frames as it reads them:
        frames sent on time while it was busy writing would be read, and counted, at once
        (30007 at 10 a second), however evenly they were spaced when sent.
        """
        async with self._lock:
            if not self._in_flight.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SUBSCRIBE_ANSWER_S):
                        await self._in_flight.wait()
            generation = self.holder.generation
            if self._admitted != generation:
                if self._admitted is not None:
                    self._gate.release()
                    self._admitted = None
                await self._gate.acquire()
                self._admitted = generation
                self.budget.reset()
            while not self.budget.allows():  # noqa: ASYNC110 - a sliding window, not an event
                await asyncio.sleep(_BUDGET_POLL_S)
            loop = asyncio.get_running_loop()
            now = loop.time()
            at = max(now, self._next_at)
            self._next_at = at + self._interval_s
            if at > now:
                await asyncio.sleep(at - now)
            self.budget.record()
            self._in_flight = answered = asyncio.Event()
            return answered

    async def load_markets(self, exchange: Any) -> None:
        """Give `exchange` the markets, loading them over REST once for every shard."""
        await self._markets(exchange)

    async def unwatch(self, symbol: str, timeframe: str) -> None:
        """Unsubscribe one candle channel on this socket (paced like a subscribe)."""
        ex = self.holder.exchange
        if ex is None:
            return
        answered = await self.pace_subscribe()
        self.unsubscribes += 1
        try:
            await asyncio.wait_for(ex.un_watch_ohlcv(symbol, timeframe), 5.0)
        except Exception as exc:  # noqa: BLE001 - a late push of an unwatched stream is harmless
            logger.debug("shard {}: unwatch {} {}: {!r}", self.shard_id, symbol, timeframe, exc)
        finally:
            answered.set()

    def release(self) -> None:
        """The shard's socket is closed for good: give its connection back to the gate."""
        if self._admitted is not None:
            self._gate.release()
            self._admitted = None


@dataclass(eq=False)
class CandleShardPool:
    """Places streams on shards of at most `capacity` streams; shard 0 keeps the first holder."""

    first: InitVar[ExchangeHolder]
    new_holder: Callable[[], ExchangeHolder]
    _: KW_ONLY
    capacity: int
    gate: ConnectionGate
    subscribe_interval_s: float
    subscribes_per_hour: int
    # Returns an instance whose markets are loaded (the radar's REST instance), so the candle
    # sockets never download them a second time; None: shard 0's instance loads them.
    markets_source: Callable[[], Awaitable[Any]] | None = None
    shards: list[CandleShard] = field(init=False)

    def __post_init__(self, first: ExchangeHolder) -> None:
        self.shards = [self._shard(0, first)]

    def _shard(self, shard_id: int, holder: ExchangeHolder) -> CandleShard:
        return CandleShard(
            shard_id,
            holder,
            gate=self.gate,
            subscribe_interval_s=self.subscribe_interval_s,
            subscribes_per_hour=self.subscribes_per_hour,
            markets=self._load_markets,
        )

    async def _load_markets(self, exchange: Any) -> None:
        # One REST load serves every shard: the radar's (markets_source) when it runs, else
        # shard 0's instance (ccxt shares a concurrent call).
        if exchange.markets:
            return
        if self.markets_source is not None:
            source = await self.markets_source()
        else:
            source = self.shards[0].holder.ensure()
            if not source.markets:
                await source.load_markets()
        if exchange is not source and not exchange.markets:
            # Shared, not copied: ~4 MB of market dicts per instance at 500 contracts.
            exchange.set_markets_from_exchange(source)

    def place(self, key: tuple[str, str]) -> CandleShard:
        """The shard that will hold stream `key`: the first with room, else a new one."""
        for shard in self.shards:
            if key in shard.keys:
                return shard
        for shard in self.shards:
            if len(shard.keys) < self.capacity:
                shard.keys.add(key)
                return shard
        shard = self._shard(len(self.shards), self.new_holder())
        shard.keys.add(key)
        self.shards.append(shard)
        return shard

    def leave(self, key: tuple[str, str]) -> CandleShard | None:
        """Free stream `key`'s seat; returns the shard it was on."""
        for shard in self.shards:
            if key in shard.keys:
                shard.keys.discard(key)
                return shard
        return None

    @property
    def holders(self) -> list[ExchangeHolder]:
        """Every shard's holder, shard 0 first."""
        return [s.holder for s in self.shards]

    async def close(self) -> None:
        """Abort every shard's sockets and return their connections to the gate."""
        for shard in self.shards:
            await shard.holder.close()
            shard.release()
