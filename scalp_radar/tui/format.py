"""Small text formatters shared by the panes (pure functions, no Textual)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from scalp_radar.core.numfmt import price as price
from scalp_radar.core.snapshot import ConnectionFacts, StreamSnapshot, StreamState
from scalp_radar.core.timefmt import clock_time as clock_time
from scalp_radar.core.timefmt import duration as duration

# Severity order used to sort streams (problems first) and to colour badges.
STATE_RANK = {
    StreamState.FAILED: 0,
    StreamState.RECONNECTING: 1,
    StreamState.STALE: 2,
    StreamState.CONNECTING: 3,
    StreamState.STOPPED: 4,
    StreamState.LIVE: 5,
}
STATE_STYLE = {
    StreamState.LIVE: "green",
    StreamState.STALE: "bold yellow",
    StreamState.RECONNECTING: "bold yellow",
    StreamState.CONNECTING: "cyan",
    StreamState.FAILED: "bold red",
    StreamState.STOPPED: "dim",
}
STATE_ICON = {
    StreamState.LIVE: "●",
    StreamState.STALE: "◌",
    StreamState.RECONNECTING: "↻",
    StreamState.CONNECTING: "…",
    StreamState.FAILED: "✖",
    StreamState.STOPPED: "■",
}


def short_symbol(symbol: str) -> str:
    """'BTC/USDT:USDT' -> 'BTC/USDT' (the settle currency is implied on a USDT-M screen)."""
    return symbol.split(":", 1)[0]


def base(symbol: str) -> str:
    """'BTC/USDT:USDT' -> 'BTC'."""
    return symbol.split("/", 1)[0]


def change_pct(closes: tuple[float, ...]) -> float | None:
    """Change from the first to the last close, in percent."""
    if len(closes) < 2 or closes[0] == 0:
        return None
    return (closes[-1] / closes[0] - 1) * 100


def change_text(pct: float | None) -> Text:
    """'+1.23%' in green, '-0.40%' in red (the sign carries the meaning without colour)."""
    if pct is None:
        return Text("—", style="dim")
    if abs(pct) < 0.005:
        pct = 0.0  # never show "-0.00%"
    style = "green" if pct > 0 else "red" if pct < 0 else ""
    return Text(f"{pct:+.2f}%", style=style)


def badge(stream: StreamSnapshot | None, *, compact: bool = False) -> Text:
    """Freshness badge: '● live', '◌ stale 48s', '↻ retry#3 in 4s', '✖ failed'.

    `compact` drops what a neighbouring column already shows (the age) to fit 10 cells.
    """
    if stream is None:
        return Text("… waiting", style="dim")
    state = stream.state
    label = f"{STATE_ICON[state]} {state.value}"
    if state is StreamState.STALE and stream.last_update_age_s is not None and not compact:
        label += f" {duration(stream.last_update_age_s)}"
    elif state is StreamState.RECONNECTING:
        label = (
            f"{STATE_ICON[state]} #{stream.attempt}"
            if compact
            else f"{STATE_ICON[state]} retry#{stream.attempt}"
        )
        if stream.next_retry_in_s is not None:
            label += f" in {stream.next_retry_in_s:.0f}s"
    return Text(label, style=STATE_STYLE[state])


def level_bar(fraction: float, width: int) -> Text:
    """A horizontal bar of `width` cells, eighth-block precise; red when nearly empty."""
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    style = "red" if fraction < 0.15 else "yellow" if fraction < 0.5 else "green"
    return Text(bar.ljust(width, "·"), style=style)


def why_down(stream: StreamSnapshot) -> str | None:
    """Why a stream is not live (its last error, else its state's reason); None when live."""
    if stream.state is StreamState.LIVE:
        return None
    return stream.last_error or stream.reason


def fault_counts(c: ConnectionFacts) -> str:
    """The non-zero failure counts: '2×429 · 1 REST err · 1 malformed · 3 re-created'."""
    counts = [
        (c.rest_429s, "×429"),
        (c.rest_errors, " REST err"),
        (c.connect_failures, " failed connects"),
        (c.malformed_frames, " malformed"),
        (c.exchange_recreations, " re-created"),
    ]
    return " · ".join(f"{n}{what}" for n, what in counts if n)


def dropped_counts(streams: Iterable[StreamSnapshot]) -> str:
    """Rows the engine refused, non-zero kinds only: '2 invalid, 1 dup, 3 late'."""
    streams = tuple(streams)
    counts = [
        (sum(s.invalid_dropped for s in streams), "invalid"),
        (sum(s.duplicates_dropped for s in streams), "dup"),
        (sum(s.out_of_order_dropped for s in streams), "out-of-order"),
    ]
    return ", ".join(f"{n} {what}" for n, what in counts if n)
