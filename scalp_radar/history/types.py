"""Plain data shared by the backfill engine and its UIs (CLI progress bar, TUI modal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from scalp_radar.core.numfmt import count
from scalp_radar.core.timefmt import utc_iso_minute


class CandleSource(Protocol):
    """What the history code uses of a ccxt (pro) exchange instance."""

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] = ...,
    ) -> list[list[Any]]:
        """OHLCV rows [ts, open, high, low, close, volume]."""
        ...

    def milliseconds(self) -> int:
        """The exchange instance's clock in ms."""
        ...


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """What the user asked for: symbols x timeframes over [since_ms, until_ms)."""

    symbols: tuple[str, ...]
    timeframes: tuple[str, ...]
    since_ms: int
    until_ms: int
    force: bool = False


@dataclass(frozen=True, slots=True)
class Window:
    """One request's worth of candles: [start_ms, end_ms) on one endpoint."""

    symbol: str
    timeframe: str
    start_ms: int
    end_ms: int
    endpoint: str  # "candles" (recent) or "history-candles"

    @property
    def name(self) -> str:
        """Readable name used in reports: 'BTC/USDT:USDT 1m 2026-01-01T00:00Z..2026-01-01T03:20Z'."""
        start, end = utc_iso_minute(self.start_ms), utc_iso_minute(self.end_ms)
        return f"{self.symbol} {self.timeframe} {start}..{end}"


@dataclass(frozen=True, slots=True)
class BackfillPlan:
    """Windows to fetch, shown to the user before any request is made."""

    windows: tuple[Window, ...]
    expected_candles: int
    eta_s: float
    already_stored: int = 0
    now_ms: int = 0  # the planner's "now": windows end at or before the last closed candle
    force: bool = False  # stored candles are compared and replaced when they differ

    @property
    def requests(self) -> int:
        """Number of REST requests the plan needs (one per window)."""
        return len(self.windows)


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """A progress event published while a backfill runs."""

    windows_done: int
    windows_total: int
    candles_stored: int
    candles_per_s: float
    eta_s: float | None
    current: str | None = None


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """How a backfill ended: complete, cancelled, or with named missing windows."""

    candles_stored: int
    windows_done: int
    windows_total: int
    elapsed_s: float
    cancelled: bool = False
    failed_windows: tuple[str, ...] = field(default_factory=tuple)
    # Candles the exchange did not have (before listing, exchange-side gaps): fetched windows
    # that came back short. Not a failure; `data list` shows them as holes.
    missing_candles: int = 0
    # A forced run rewrites stored candles that differ from the exchange's; how many did.
    forced: bool = False
    candles_changed: int = 0

    @property
    def complete(self) -> bool:
        """True when every window was fetched and nothing was cancelled."""
        return not self.cancelled and not self.failed_windows

    def summary(self) -> str:
        """One line for a CLI or a notification."""
        if self.cancelled:
            return (
                f"cancelled after {self.windows_done:,}/{count(self.windows_total, 'request')}, "
                f"{count(self.candles_stored, 'candle')} stored; rerun to complete"
            )
        if self.failed_windows:
            shown = "; ".join(self.failed_windows[:5])
            more = (
                f" (+{len(self.failed_windows) - 5} more)" if len(self.failed_windows) > 5 else ""
            )
            failed = count(len(self.failed_windows), "request")
            return f"incomplete: {failed} failed (candles missing): {shown}{more}"
        done = f"complete: {count(self.candles_stored, 'candle')} stored in {self.elapsed_s:.1f}s"
        if self.forced:
            changed = count(self.candles_changed, "stored candle")
            done += f"; {changed} changed to the exchange's values"
        if self.missing_candles:
            # Never let a short answer pass as a full history (the TUI shows only this line).
            done += f"; {count(self.missing_candles, 'candle')} not available on the exchange"
        return done
