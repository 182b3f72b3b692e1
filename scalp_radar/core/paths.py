"""Default locations of the database and logs: the user's data and state dirs, never CWD."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "scalp-radar"
DB_FILENAME = "scalp_radar.db"


def _ensure(path: Path, what: str) -> Path:
    """Create path (and parents) on demand; failure is a one-line ConfigError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from scalp_radar.core.config import ConfigError  # lazy: paths stays import-light

        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot create the {what} directory ({reason}): set DATABASE_PATH or pass --db / --log-dir",
            file=path,
        ) from None
    return path


def default_data_dir() -> Path:
    """User data directory (e.g. ~/.local/share/scalp-radar), created on demand."""
    return _ensure(Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)), "data")


def default_log_dir() -> Path:
    """User log directory (e.g. ~/.local/state/scalp-radar/log), created on demand."""
    return _ensure(Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)), "log")


def default_db_path() -> Path:
    """The SQLite file inside the user data directory."""
    return default_data_dir() / DB_FILENAME
