"""One engine per database: an exclusive `flock` on a lock file beside the database.

The kernel drops the lock when the process dies (even with SIGKILL), so a crashed daemon never
leaves a stale lock behind. The holder writes "<pid> <role>" into the file so a refused second
engine can say who holds it and how to attach.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from enum import StrEnum
from pathlib import Path


class EngineRole(StrEnum):
    """What kind of process runs the engine."""

    DAEMON = "daemon"  # `scalp-radar --headless`: dashboards can attach to it
    DASHBOARD = "dashboard"  # a standalone dashboard: its engine dies with it


class EngineLocked(Exception):
    """Another engine already runs on this database; str() is one line saying what to do."""


def lock_path_for(db_path: Path) -> Path:
    """`scalp_radar.db` -> `scalp_radar.db.lock`, beside the database."""
    return db_path.with_name(db_path.name + ".lock")


def refusal(db_path: Path, pid: int | None, role: EngineRole | None) -> str:
    """The one line a second engine on `db_path` prints."""
    who = f" (pid {pid})" if pid else ""
    if role is EngineRole.DASHBOARD:
        return (
            f"a scalp-radar dashboard{who} already runs the engine on {db_path}: quit it first, "
            "or run `scalp-radar --headless` instead so any number of dashboards can attach"
        )
    return (
        f"a scalp-radar daemon{who} already runs on {db_path}: run `scalp-radar` to attach to it "
        "(`scalp-radar status` checks it)"
    )


class EngineLock:
    """Held while an engine runs on `db_path`; `acquire` refuses if another engine holds it."""

    def __init__(self, db_path: Path, role: EngineRole) -> None:
        self.db_path = db_path
        self.role = role
        self.path = lock_path_for(db_path)
        self._fd: int | None = None

    def acquire(self) -> EngineLock:
        """Take the lock without waiting; EngineLocked (one line) if another engine holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, role = _read_holder(fd)
            os.close(fd)
            raise EngineLocked(refusal(self.db_path, pid, role)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.role.value}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (the file stays: deleting it would race with a starting engine)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)

    @property
    def held(self) -> bool:
        """True between a successful `acquire` and `release`."""
        return self._fd is not None


def holder_of(db_path: Path) -> tuple[int | None, EngineRole | None] | None:
    """(pid, role) of the engine holding `db_path`'s lock, or None when no engine runs."""
    path = lock_path_for(db_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_holder(fd: int) -> tuple[int | None, EngineRole | None]:
    try:
        text = os.pread(fd, 64, 0).decode(errors="replace").split()
    except OSError:
        return None, None
    pid = int(text[0]) if text and text[0].isdigit() else None
    role = (
        EngineRole(text[1]) if len(text) > 1 and text[1] in EngineRole._value2member_map_ else None
    )
    return pid, role
