"""The one place that turns milliseconds and seconds into text (every layer's screens and logs)."""

from __future__ import annotations

from datetime import UTC, datetime

UNKNOWN = "—"


def duration(seconds: float | None) -> str:
    """Compact duration: '0.4s', '48s', '3m05s', '2h15m', '3d04h' ('—' when unknown)."""
    if seconds is None:
        return UNKNOWN
    if seconds < 10:
        return f"{max(0.0, seconds):.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def utc(ms: int) -> datetime:
    """An epoch-ms timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def clock_time(ms: int) -> str:
    """'HH:MM:SS' in UTC."""
    return utc(ms).strftime("%H:%M:%S")


def utc_minute(ms: int) -> str:
    """'YYYY-MM-DD HH:MM' in UTC (ranges, holes, log lines)."""
    return utc(ms).strftime("%Y-%m-%d %H:%M")


def utc_second(ms: int) -> str:
    """'YYYY-MM-DD HH:MM:SS' in UTC (timestamps off a candle grid)."""
    return utc(ms).strftime("%Y-%m-%d %H:%M:%S")


def utc_iso_minute(ms: int) -> str:
    """'YYYY-MM-DDTHH:MMZ' (compact, one token: window names in reports)."""
    return utc(ms).strftime("%Y-%m-%dT%H:%MZ")


def offset_ms(value: float | None) -> str:
    """A clock offset: '+42ms' under a second, '+442 s' / '-3.2 s' above (never '+442198ms')."""
    if value is None:
        return UNKNOWN
    if abs(value) < 1000:
        return f"{value:+.0f}ms"
    seconds = value / 1000
    return f"{seconds:+.1f} s" if abs(seconds) < 10 else f"{seconds:+,.0f} s"
