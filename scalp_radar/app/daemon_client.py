"""Finding and talking to the daemon of a database from the CLI (attach, status, routed jobs)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from scalp_radar.core.daemon_paths import socket_path_for
from scalp_radar.engine import wire

PROBE_TIMEOUT_S = 2.0


class AttachError(Exception):
    """No daemon to attach to where one was demanded, or it refused us; one line."""


def daemon_socket(db_path: Path, socket_option: str | None) -> Path:
    """`--socket PATH` if given, else the default socket of `db_path`'s daemon."""
    return Path(socket_option).expanduser() if socket_option else socket_path_for(db_path)


async def open_daemon(path: Path) -> wire.DaemonConnection | None:
    """A connection to the daemon on `path`, or None when nothing listens there.

    A daemon that answers but refuses us (another major version) raises wire.Refused.
    """
    try:
        return await wire.connect(str(path), timeout_s=PROBE_TIMEOUT_S)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None


def probe(path: Path) -> wire.Welcome | None:
    """The daemon's welcome if one listens on `path` (then disconnects), else None."""

    async def run() -> wire.Welcome | None:
        conn = await open_daemon(path)
        if conn is None:
            return None
        await conn.close()
        return conn.welcome

    return asyncio.run(run())
