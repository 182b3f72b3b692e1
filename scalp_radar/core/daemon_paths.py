"""Where the daemon of a database listens: one Unix socket per database, in a private directory.

The socket lives in the user's runtime directory ($XDG_RUNTIME_DIR/scalp-radar, mode 0700) and is
named after the database, so `scalp-radar` finds the daemon of the database it would open.
"""

from __future__ import annotations

import hashlib
import os
import stat
import warnings
from pathlib import Path

import platformdirs

from scalp_radar.core.paths import APP_NAME

# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
SOCKET_DIR_MODE = 0o700
SOCKET_MODE = 0o600


class SocketPathError(Exception):
    """The daemon socket's place is unusable; str() is one line naming the path."""


def runtime_dir() -> Path:
    """The user's runtime directory for scalp-radar (not created)."""
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR platformdirs falls back to /tmp/runtime-$UID and warns about it;
        # private_socket_dir() checks that directory's owner and mode itself.
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir(APP_NAME, appauthor=False))


def socket_path_for(db_path: Path) -> Path:
    """The default socket of the daemon that owns `db_path`: `<stem>-<hash of the path>.sock`."""
    resolved = str(db_path.expanduser().resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in db_path.stem)[:32]
    return runtime_dir() / f"{stem}-{digest}.sock"


def check_socket_path(path: Path) -> Path:
    """`path` if a Unix socket can be bound there, else SocketPathError (one line)."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        raise SocketPathError(
            f"--socket: {path}: longer than {MAX_SOCKET_PATH_BYTES} bytes, too long for a Unix socket"
        )
    return path


def private_socket_dir(path: Path) -> Path:
    """Create the socket's directory with mode 0700 (tighten it if we own it); refuse others'."""
    directory = path.parent
    try:
        # Every missing ancestor 0700 too (mkdir(parents=True) would make them 0755): a runtime
        # dir we create must pass the XDG check (0700), or the next process, finding it wider,
        # would fall back to another directory and never find this socket.
        for missing in reversed([d for d in (directory, *directory.parents) if not d.exists()]):
            missing.mkdir(mode=SOCKET_DIR_MODE, exist_ok=True)
        info = directory.stat()
    except OSError as exc:
        raise SocketPathError(
            f"--socket: cannot create {directory} ({exc.strerror or type(exc).__name__})"
        ) from None
    if info.st_uid != os.getuid():
        raise SocketPathError(f"--socket: {directory} belongs to another user; choose another path")
    if stat.S_IMODE(info.st_mode) != SOCKET_DIR_MODE:
        os.chmod(directory, SOCKET_DIR_MODE)
    return directory
