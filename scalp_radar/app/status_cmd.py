"""`scalp-radar status [--json]`: the health of the daemon of the selected database.

Exit 0 healthy, 1 degraded, 2 no daemon (or one that refuses us).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import msgspec

from scalp_radar.app.daemon_client import daemon_socket, open_daemon
from scalp_radar.engine import wire
from scalp_radar.engine.health import EXIT_NO_DAEMON, Health
from scalp_radar.tui.attached import format_uptime

ANSWER_TIMEOUT_S = 5.0


async def fetch_health(path: Path) -> Health | None:
    """The daemon's health, or None when no daemon listens on `path`."""
    conn = await open_daemon(path)
    if conn is None:
        return None
    try:
        await conn.send(wire.HealthRequest())
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            while True:
                message = await conn.receive()
                if isinstance(message, wire.HealthReport):
                    return message.health
    finally:
        await conn.close()


def describe(health: Health, db_path: Path) -> list[str]:
    """The human report, a few lines."""
    mode = "DEMO (simulated prices)" if health.demo else "REAL"
    lines = [
        f"scalp-radar daemon pid {health.pid} · up {format_uptime(health.daemon_uptime_s)} · "
        f"{mode} · {health.verdict.value.upper()}"
    ]
    lines += [f"  ! {reason}" for reason in health.reasons]
    last = "never" if health.last_update_age_s is None else f"{health.last_update_age_s:.1f} s ago"
    lines.append(
        f"engine: {'connected' if health.engine_connected else 'NOT connected'} to "
        f"{health.exchange} · last update {last} · engine uptime {format_uptime(health.uptime_s)}"
    )
    write = (
        "" if health.write_latency_ms is None else f" · last write {health.write_latency_ms:.1f} ms"
    )
    lines.append(f"database: {'ok' if health.database_ok else 'WRITES FAILING'} ({db_path}){write}")
    lines.append(f"feeds: {health.feeds_fresh}/{health.feeds_total} fresh")
    if health.universe_symbols:
        lines.append(
            f"radar: {health.universe_symbols} symbols, {health.tickers_live} tickers live"
        )
    for feed in health.feeds:
        age = "-" if feed.age_s is None else f"{feed.age_s:.1f} s"
        why = f"  ({feed.reason})" if feed.reason and not feed.fresh else ""
        lines.append(f"  {feed.name:<24} {feed.state:<12} {age:>8}{why}")
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(health.incident_kinds.items()))
    lines.append(
        f"incidents in the last hour: {health.incidents_last_hour}"
        + (f" ({kinds})" if kinds else "")
    )
    if health.last_incident:
        lines.append(f"  last: {health.last_incident}")
    lines.append(f"viewers attached: {health.viewers}")
    return lines


def run_status(db_path: Path, socket_option: str | None, *, as_json: bool) -> int:
    """Print the daemon's health; the exit code says healthy / degraded / no daemon."""
    path = daemon_socket(db_path, socket_option)
    try:
        health = asyncio.run(fetch_health(path))
    except wire.Refused as exc:
        print(f"scalp-radar: {exc}", file=sys.stderr)
        return EXIT_NO_DAEMON
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, wire.ProtocolError) as exc:
        print(
            f"scalp-radar: the daemon on {path} did not answer ({type(exc).__name__})",
            file=sys.stderr,
        )
        return EXIT_NO_DAEMON
    if health is None:
        if as_json:
            doc = {"verdict": "no daemon", "database": str(db_path), "socket": str(path)}
            print(msgspec.json.encode(doc).decode())
        else:
            print(
                f"no daemon for {db_path} (nothing listens on {path}); "
                "start one with `scalp-radar --headless`"
            )
        return EXIT_NO_DAEMON
    if as_json:
        print(msgspec.json.encode(health).decode())
    else:
        print("\n".join(describe(health, db_path)))
        print(f"socket: {path}")
    return health.exit_code


def run_status_command(args: argparse.Namespace, db_path: Path) -> int:
    """`scalp-radar status [--json]` for the database the common options select."""
    return run_status(db_path, args.socket, as_json=args.json)
