"""`scalp-radar --headless`: the engine on the main thread, status lines instead of a UI.

SIGINT and SIGTERM flush everything received and exit 0. In demo mode every status output says
DEMO so simulated prices are never mistaken for real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

from scalp_radar.app.signals import on_stop_signals
from scalp_radar.core.numfmt import price
from scalp_radar.core.snapshot import (
    RANKING_PRESETS,
    EngineSnapshot,
    ShardState,
    StreamState,
    UniverseSnapshot,
)

if TYPE_CHECKING:
    from scalp_radar.app.daemon import DaemonOptions
    from scalp_radar.engine.runner import EngineTarget


def status_dict(snap: EngineSnapshot) -> dict[str, Any]:
    """The status line's facts as plain JSON-able values."""
    conn = snap.connection
    states: dict[str, int] = {}
    for s in snap.streams:
        states[s.state.value] = states.get(s.state.value, 0) + 1
    return {
        "mode": "DEMO" if conn.demo else "REAL",
        "demo": conn.demo,
        "at_ms": snap.taken_at_ms,
        "exchange": conn.exchange,
        "websocket": conn.websocket_enabled,
        "uptime_s": round(conn.uptime_s, 1),
        "reconnects": conn.reconnects,
        "clock_offset_ms": None if conn.clock_offset_ms is None else round(conn.clock_offset_ms, 1),
        "database_ok": conn.database_ok,
        "states": states,
        "gaps": {
            "detected": sum(s.gaps_detected for s in snap.streams),
            "healed": sum(s.gaps_healed for s in snap.streams),
            "open": sum(s.gaps_open for s in snap.streams),
        },
        "invalid_dropped": sum(s.invalid_dropped for s in snap.streams),
        "duplicates_dropped": sum(s.duplicates_dropped for s in snap.streams),
        "out_of_order_dropped": sum(s.out_of_order_dropped for s in snap.streams),
        "problem": conn.problem,
        "connect_failures": conn.connect_failures,
        "rest_429s": conn.rest_429s,
        "rest_errors": conn.rest_errors,
        "malformed_frames": conn.malformed_frames,
        "exchange_recreations": conn.exchange_recreations,
        "incidents": len(snap.incidents),
        "updates_per_s": round(sum(s.updates_per_s for s in snap.streams), 1),
        "streams": [
            {
                "key": s.key,
                "state": s.state.value,
                "close": s.last_candle.close if s.last_candle else None,
                "last_closed_ts": _last_closed_ts(s),
                "age_s": None if s.last_update_age_s is None else round(s.last_update_age_s, 2),
                "reason": s.reason,
                "last_error": s.last_error,
            }
            for s in snap.streams
        ],
        "last_incident": snap.incidents[0].message if snap.incidents else None,
        "universe": universe_dict(snap.universe),
    }


def _json_float(value: float, digits: int = 4) -> float | None:
    return None if value != value else round(value, digits)


def universe_dict(u: UniverseSnapshot, top: int = 10) -> dict[str, Any]:
    """The radar in a status line: counts, shards up/down, and the top rows of each preset."""
    return {
        "mode": u.mode,
        "symbols": u.symbols,
        "tickers_live": u.tickers_live,
        "shards_up": u.shards_up,
        "shards_down": u.shards_down,
        "limit_errors": u.limit_errors,
        "problem": u.problem,
        "rejected": list(u.rejected),
        "shards_not_live": [
            {"shard": s.shard_id, "state": s.state.value, "reason": s.reason}
            for s in u.shards
            if s.state is not ShardState.LIVE
        ],
        "top": {
            name: [
                {"symbol": r.symbol, column: _json_float(getattr(r, column)), "last": r.last}
                for r in u.preset(name, top)
            ]
            for name, column in RANKING_PRESETS.items()
        },
    }


def _last_closed_ts(s: Any) -> int | None:
    for c in reversed(s.recent_candles):
        if c.closed:
            return c.timestamp
    return None


def status_line(snap: EngineSnapshot) -> str:
    """One human line: mode, stream states, freshest prices, gaps, reconnects, database."""
    d = status_dict(snap)
    states = " ".join(f"{k}={v}" for k, v in sorted(d["states"].items()))
    prices = []
    seen: set[str] = set()
    for s in snap.streams:
        if s.symbol in seen or s.last_candle is None:
            continue
        seen.add(s.symbol)
        # The dashboard's formatter: the market's precision, one thousands style.
        prices.append(f"{s.symbol.split('/')[0]} {price(s.last_candle.close, s.tick_size)}")
    failed = [f"{s.key}: {s.reason}" for s in snap.streams if s.state is StreamState.FAILED]
    parts = [
        d["mode"] + (" (simulated prices)" if d["demo"] else ""),
        f"streams {len(snap.streams)} [{states}]",
        " · ".join(prices) or "no prices yet",  # not ", ": prices carry thousands commas
        f"gaps {d['gaps']['detected']}/{d['gaps']['healed']}/{d['gaps']['open']} (found/healed/open)",
        f"reconnects {d['reconnects']}",
        *_fault_counts(d),
        f"{d['updates_per_s']:.1f} upd/s",
        "db ok" if d["database_ok"] else "DB ERROR",
        f"incidents {d['incidents']}",
        f"up {d['uptime_s']:.0f}s",
    ]
    u = snap.universe
    if u.mode != "off":
        radar = f"radar {u.tickers_live}/{u.symbols} live, shards {u.shards_up}/{len(u.shards)} up"
        movers = u.preset("movers", 1)
        if movers and movers[0].change_5m == movers[0].change_5m:
            radar += f", top mover {movers[0].symbol.split('/')[0]} {movers[0].change_5m:+.2f}% 5m"
        parts.insert(3, radar if u.problem is None else f"radar: {u.problem}")
    if d["problem"]:
        parts.insert(1, f"EXCHANGE UNREACHABLE: {d['problem']}")
    elif why := _why_down(snap):
        parts.insert(2, why)
    if not d["websocket"]:
        parts.insert(1, "websocket OFF (ENABLE_WEBSOCKET=false)")
    if failed:
        parts.append("failed: " + "; ".join(failed))
    return " | ".join(parts)


def _fault_counts(d: dict[str, Any]) -> list[str]:
    """The non-zero failure counts, grouped: dropped rows, REST failures, websocket trouble."""
    groups = [
        (
            "dropped",
            [
                (d["invalid_dropped"], "invalid"),
                (d["duplicates_dropped"], "duplicate"),
                (d["out_of_order_dropped"], "out-of-order"),
            ],
        ),
        ("REST", [(d["rest_429s"], "429"), (d["rest_errors"], "failed")]),
        (
            "ws",
            [
                (d["malformed_frames"], "malformed"),
                (d["exchange_recreations"], "re-created"),
            ],
        ),
        ("exchange", [(d["connect_failures"], "failed connects")]),
    ]
    out = []
    for name, counts in groups:
        shown = [f"{n} {what}" for n, what in counts if n]
        if shown:
            out.append(f"{name} " + ", ".join(shown))
    return out


def _why_down(snap: EngineSnapshot) -> str | None:
    """The most common reason among streams that are neither live nor failed, with their count."""
    reasons: dict[str, int] = {}
    for s in snap.streams:
        if s.state in (StreamState.LIVE, StreamState.FAILED, StreamState.STOPPED):
            continue
        why = s.last_error or s.reason
        if why:
            reasons[why] = reasons.get(why, 0) + 1
    if not reasons:
        return None
    why, n = max(reasons.items(), key=lambda kv: kv[1])
    return f"{n} down: {why}"


async def run_headless_async(
    target: EngineTarget,
    *,
    status_interval: float = 10.0,
    json_lines: bool = False,
    out: TextIO | None = None,
    stop_event: asyncio.Event | None = None,
    daemon: DaemonOptions | None = None,
) -> int:
    """Run an engine on `target` until SIGINT/SIGTERM (or `stop_event`), printing status; flush
    and return 0.

    With `daemon`, also serve viewers on its socket (and HTTP, and systemd notifications).
    """
    from scalp_radar.app.daemon import Daemon
    from scalp_radar.core.engine_lock import EngineRole
    from scalp_radar.engine.runner import open_engine

    out = out or sys.stdout
    stop = stop_event or asyncio.Event()
    with on_stop_signals(stop.set):
        stack = await open_engine(target, role=EngineRole.DAEMON)
        served: Daemon | None = None
        try:
            if daemon is not None and target.db_path is not None:
                served = Daemon(stack, daemon, db_path=target.db_path, demo=target.demo)
                await served.start()
            logger.info(
                "headless engine running{} (status every {}s; Ctrl-C to stop)",
                " in DEMO mode" if target.demo else "",
                status_interval,
            )
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.05, status_interval))
                # Built now (this is the engine's loop): unread snapshots are refreshed only
                # once a second, and the status line's ages must be those of this moment.
                _emit(stack.engine.snapshot(fresh=True), json_lines, out)
        finally:
            if served is not None:
                await served.stop()
            logger.info(
                "stopping: flushing candles to the database{}", " (DEMO)" if target.demo else ""
            )
            await stack.aclose()
            _emit(stack.engine.snapshot(), json_lines, out)
    return 0


def run_blocking(headless: Coroutine[Any, Any, int]) -> int:
    """Blocking entry for `scalp-radar --headless`: run `run_headless_async(...)` on a new loop
    and return the process exit code (0 also for a Ctrl-C before its signal handlers are set)."""
    try:
        return asyncio.run(headless)
    except KeyboardInterrupt:
        return 0


def _emit(snap: EngineSnapshot, json_lines: bool, out: TextIO) -> None:
    if json_lines:
        out.write(json.dumps(status_dict(snap), separators=(",", ":")) + "\n")
        out.flush()
    else:
        logger.info(status_line(snap))
