"""The engine's one database writer: a bounded queue of closed candles, corrections and incidents.

While the database is down the queue keeps a bounded backlog and retries at every flush; the
outage is an incident. If the backlog is full the oldest new candles are dropped, counted and
reported (they become a hole a backfill fills), never silently. With the database up a full
backlog is written at once (`full` wakes the flush loop) instead: nothing is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from loguru import logger

from scalp_radar.core.models import Candle
from scalp_radar.core.snapshot import Incident

if TYPE_CHECKING:
    from scalp_radar.core.store import Database

CandleKey = tuple[str, str, int]  # (symbol, timeframe, open time)
# Candles kept for a database that is down: ~1 day of 12 one-minute streams, ~20 MB.
MAX_BACKLOG = 20_000
# Incidents kept for a database that is down (the newest ones win).
MAX_INCIDENT_BACKLOG = 2_000
# With the database up, a queue this long is written at once rather than at the next flush:
# four subscription snapshots' worth, so a start's ~200k closes never pile up as candle objects.
FLUSH_AT = 2_000


def candle_key(candle: Candle) -> CandleKey:
    """The identity of a candle in the store."""
    return (candle.symbol, candle.timeframe.value, candle.timestamp)


def _ordered(candles: dict[CandleKey, Candle]) -> list[Candle]:
    return [candles[k] for k in sorted(candles)]


class CandleWriter:
    """Queues candles and incidents and writes them in one batch per flush."""

    def __init__(
        self,
        db: Database | None,
        *,
        report: Callable[[str, str], None],
        on_written: Callable[[list[Candle]], None] = lambda _batch: None,
        max_backlog: int = MAX_BACKLOG,
        flush_at: int = FLUSH_AT,
    ) -> None:
        """`report(kind, message)` raises an incident; `on_written` sees each stored batch."""
        self.db = db
        self._report = report
        self._on_written = on_written
        self.max_backlog = max_backlog
        self.flush_at = min(flush_at, max_backlog)
        self._pending: dict[CandleKey, Candle] = {}
        self._upserts: dict[CandleKey, Candle] = {}
        self._incidents: list[Incident] = []
        self._lock = asyncio.Lock()
        self.database_ok = True
        self.dropped = 0  # candles given up because the backlog was full
        self._down_since: float | None = None  # time.monotonic() of the first failed write
        self._dropped_this_outage = 0
        # Seconds the last successful flush spent in the database (None before the first).
        self.last_write_s: float | None = None
        # Set when the backlog reaches `flush_at` with the database up: flush now, not later
        # (400 subscription snapshots queue ~200k closed candles within seconds of a start).
        self.full = asyncio.Event()

    @property
    def backlog(self) -> int:
        """Candles waiting to be written."""
        return len(self._pending) + len(self._upserts)

    def pending_keys(self) -> set[CandleKey]:
        """Keys of the new candles not handed to a flush yet."""
        return set(self._pending)

    def queue(self, candle: Candle) -> None:
        """Queue a closed candle (its latest state wins until it is written)."""
        self._pending[candle_key(candle)] = candle
        self._bound(slack=self.max_backlog // 10)

    def queue_fix(self, candle: Candle) -> None:
        """Queue a later state of a closed candle so the database ends up holding it.

        Still queued (not handed to a flush yet): updating it there is enough. Otherwise a flush
        took it (written, or being written right now), or it came from the database: the stored
        row must be replaced. Once queued as an upsert, every later state goes there too.
        """
        key = candle_key(candle)
        if key in self._upserts or key not in self._pending:
            self._upserts[key] = candle
        self._pending[key] = candle
        self._bound(slack=self.max_backlog // 10)

    def is_queued(self, key: CandleKey) -> bool:
        """True while a new candle with this key waits for a flush."""
        return key in self._pending

    def queue_incident(self, incident: Incident) -> None:
        """Queue an incident for the database."""
        if self.db is None:
            return
        self._incidents.append(incident)
        if len(self._incidents) > MAX_INCIDENT_BACKLOG:
            del self._incidents[:-MAX_INCIDENT_BACKLOG]

    async def flush(self, *, final: bool = False) -> int:
        """Write what is queued; returns new candles stored. On failure keep it and retry later.

        `final` (the engine stopping) re-raises a failure instead of waiting for the next flush.
        """
        if self.db is None:
            self._pending.clear()
            self._upserts.clear()
            self._incidents.clear()
            return 0
        async with self._lock:
            pending, self._pending = self._pending, {}
            upserts, self._upserts = self._upserts, {}
            incidents, self._incidents = self._incidents, []
            written = 0
            started = time.perf_counter()
            try:
                if pending:
                    batch = _ordered(pending)
                    written = await self.db.insert_candles_batch(batch)
                    self._on_written(batch)
                if upserts:
                    # Later states of candles possibly stored already: replace the stored rows
                    # (one transaction, so a kill never leaves a candle deleted but not rewritten).
                    await self.db.replace_candles(_ordered(upserts))
                if incidents:
                    await self.db.insert_incidents(incidents)
            except asyncio.CancelledError:
                self._requeue(pending, upserts, incidents)
                raise
            except Exception as exc:  # noqa: BLE001 - keep data and retry at the next flush
                self._requeue(pending, upserts, incidents)
                self._went_down(exc)
                self._bound()
                if final:
                    raise
                return written
            if pending or upserts or incidents:
                self.last_write_s = time.perf_counter() - started
            self._came_back()
            return written

    def _requeue(
        self,
        pending: dict[CandleKey, Candle],
        upserts: dict[CandleKey, Candle],
        incidents: list[Incident],
    ) -> None:
        for k, v in pending.items():
            self._pending.setdefault(k, v)
        for k, v in upserts.items():
            self._upserts.setdefault(k, v)
        self._incidents[:0] = incidents

    def _bound(self, *, slack: int = 0) -> None:
        """With the database up ask for a flush once `flush_at` candles wait; while it is down
        keep the backlog within `max_backlog` by dropping the oldest new candles, counted and said.

        Queueing allows `slack` candles over the bound before dropping, so a full backlog is
        sorted once per `slack` candles, not once per candle; a failed flush trims it exactly.
        """
        backlog = self.backlog
        if self.database_ok:
            if backlog >= self.flush_at:
                self.full.set()
            return
        excess = backlog - self.max_backlog
        if excess <= slack:
            return
        # Oldest first by open time: a hole in old history is what a backfill fills best.
        victims = sorted(self._pending, key=lambda k: k[2])[:excess]
        for key in victims:
            del self._pending[key]
        self.dropped += len(victims)
        if self._dropped_this_outage == 0:
            self._report(
                "error",
                f"database down and write backlog full ({self.max_backlog} candles): dropping the"
                " oldest unwritten candles (backfill fills the hole once it is back)",
            )
        self._dropped_this_outage += len(victims)

    def _went_down(self, exc: BaseException) -> None:
        logger.error("database write failed (will retry): {}", exc)
        if self.database_ok:
            self.database_ok = False
            self._down_since = time.monotonic()
            self._report(
                "error",
                f"database write failed: {exc}; keeping {self.backlog} candle(s) queued"
                f" (at most {self.max_backlog}) and retrying",
            )

    def _came_back(self) -> None:
        if self.database_ok:
            return
        self.database_ok = True
        down_s = time.monotonic() - (self._down_since or time.monotonic())
        dropped = self._dropped_this_outage
        self._dropped_this_outage = 0
        self._down_since = None
        lost = f"; {dropped} candle(s) were dropped (backlog full)" if dropped else ""
        self._report("database", f"database writes resumed after {down_s:.0f}s{lost}")
