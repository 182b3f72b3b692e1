"""Turn the backfill modal's fields into a BackfillRequest, or a one-line explanation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scalp_radar.history.types import BackfillRequest

MAX_DAYS = 3650
DAY_MS = 86_400_000


class FormError(ValueError):
    """One line naming the field and what was expected."""


def _parse_date(field: str, text: str) -> datetime:
    for pattern in ("%Y-%m-%d", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise FormError(f"{field}: expected a UTC date YYYY-MM-DD (or YYYY-MM-DD HH:MM), got {text!r}")


def parse_request(
    symbols: list[str],
    timeframes: list[str],
    days: str,
    since: str,
    until: str,
    force: bool,
    now_ms: int,
) -> BackfillRequest:
    """Validate the form; days and a date range are alternatives ('to' is inclusive; today's
    'to' ends now, a later one is refused like the CLI refuses a future --since)."""
    if not symbols:
        raise FormError("symbols: select at least one symbol (space toggles)")
    if not timeframes:
        raise FormError("timeframes: select at least one timeframe (space toggles)")
    days, since, until = days.strip(), since.strip(), until.strip()
    if since or until:
        if days:
            raise FormError(
                "days: leave empty when giving a date range (from/to), or clear the dates"
            )
        if not since:
            raise FormError("from: expected a start date YYYY-MM-DD when 'to' is given")
        start = _parse_date("from", since)
        end = _parse_date("to", until) if until else None
        if end is not None and end.timestamp() * 1000 > now_ms:
            raise FormError(f"to: {until} is in the future")
        if end is not None and len(until) == 10:
            end += timedelta(days=1)  # a bare 'to' date includes that whole day
        since_ms = int(start.timestamp() * 1000)
        until_ms = min(now_ms, int(end.timestamp() * 1000)) if end else now_ms
        if since_ms >= now_ms:
            raise FormError(f"from: {since} is not in the past")
        if since_ms >= until_ms:
            raise FormError(f"to: expected a date after from ({since}), got {until}")
    else:
        if not days:
            raise FormError("days: expected a number of days (e.g. 1) or a from/to date range")
        try:
            n = float(days)
        except ValueError:
            raise FormError(
                f"days: expected a number of days in (0, {MAX_DAYS}], got {days!r}"
            ) from None
        if not 0 < n <= MAX_DAYS:
            raise FormError(f"days: expected a number of days in (0, {MAX_DAYS}], got {days!r}")
        until_ms = now_ms
        since_ms = now_ms - int(n * DAY_MS)
    return BackfillRequest(tuple(symbols), tuple(timeframes), since_ms, until_ms, force)
