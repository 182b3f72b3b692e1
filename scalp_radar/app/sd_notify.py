"""systemd's notify protocol: datagrams like b"READY=1" to the socket named by $NOTIFY_SOCKET.

A few lines of socket code instead of a dependency; a no-op outside systemd (no $NOTIFY_SOCKET).
"""

from __future__ import annotations

import os
import socket

from loguru import logger


class Notifier:
    """Sends sd_notify messages; `enabled` is False when not started by systemd."""

    def __init__(self, address: str | None) -> None:
        # "@name" is an abstract socket: the leading NUL is the kernel's spelling of "@".
        self.address = "\0" + address[1:] if address and address.startswith("@") else address
        self._sock: socket.socket | None = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # Never block the engine's loop: if the manager stops reading, a message is lost,
            # not the daemon (a blocking sendto to a full datagram socket waits forever).
            self._sock.setblocking(False)

    @classmethod
    def from_env(cls) -> Notifier:
        """The notifier systemd asked for, if any."""
        return cls(os.environ.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        """True when there is a socket to notify."""
        return self._sock is not None

    def notify(self, *lines: str) -> bool:
        """Send `lines` as one datagram (e.g. "READY=1", "STATUS=..."); True if sent."""
        if self._sock is None or self.address is None:
            return False
        try:
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            logger.debug("sd_notify to {!r} failed: {}", self.address, exc)
            return False
        return True

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval_s() -> float | None:
    """Half of systemd's WatchdogSec (from $WATCHDOG_USEC), if the watchdog is on for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.05, int(usec) / 1e6 / 2)
    except ValueError:
        return None
