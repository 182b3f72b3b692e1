"""The exchange-wide reason nothing connects: logged and recorded once per change, not per retry."""

from __future__ import annotations

from typing import Protocol

from loguru import logger

from scalp_radar.core.clock import Clock


class IncidentSink(Protocol):
    """Records an incident: `incident(kind, symbol, timeframe, message, duration_s=None)`."""

    def __call__(
        self,
        kind: str,
        symbol: str | None,
        timeframe: str | None,
        message: str,
        duration_s: float | None = None,
    ) -> None: ...


class ConnectionProblem:
    """Tracks why the exchange cannot be reached; every stream reports, only changes are told."""

    def __init__(self, incident: IncidentSink, clock: Clock) -> None:
        self._incident = incident
        self._clock = clock
        self.reason: str | None = None
        self.failures = 0  # failed connection attempts (dials, market loads), all streams
        self._since_ms: int | None = None

    def report(self, reason: str) -> None:
        """One failed attempt to reach the exchange, for `reason` ("connection refused ...")."""
        self.failures += 1
        if reason == self.reason:
            return
        self.reason = reason
        if self._since_ms is None:
            self._since_ms = self._clock.now_ms()
        logger.warning("cannot reach the exchange: {}", reason)
        self._incident("error", None, None, f"cannot reach the exchange: {reason}")

    def clear(self) -> None:
        """Data arrived: the exchange is reachable (told once, when it was not before)."""
        if self.reason is None:
            return
        was, self.reason = self.reason, None
        down_s = None
        if self._since_ms is not None:
            down_s = max(0.0, (self._clock.now_ms() - self._since_ms) / 1000)
        self._since_ms = None
        logger.warning("exchange reachable again (was: {})", was)
        self._incident("reconnect", None, None, f"exchange reachable again (was: {was})", down_s)
