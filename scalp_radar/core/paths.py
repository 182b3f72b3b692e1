"""Default locations of the database and logs: the user's data and state dirs, never CWD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "scalp-radar"
DB_FILENAME = "scalp_radar.db"


def _config_error(expected: str, **where: Any) -> Exception:
    from scalp_radar.core.config import ConfigError  # lazy: paths stays import-light

    return ConfigError(expected, **where)


def _ensure(path: Path, what: str) -> Path:
    """Create path (and parents) on demand; failure is a one-line ConfigError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _config_error(
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


def database_path(flag: str | None, setting: str | Path | None, simulated_tag: str | None) -> Path:
    """The database file: `--db` as given, else DATABASE_PATH, else the default.

    Simulated prices never go into a real history: unless `--db` names the file, they use a
    sibling `<stem>-<simulated_tag><suffix>` (see core.sim_identity), one per simulated history.
    A directory where a file is expected is a one-line ConfigError naming where it came from.
    """
    if flag is not None:
        if not flag.strip():
            raise _config_error("expected a database file path, got an empty string", key="--db")
        return Path(flag).expanduser()
    if setting:
        base = Path(setting).expanduser()
        if base.is_dir():
            raise _config_error(
                f"{base} is a directory; expected a database file path such as "
                f"{base / DB_FILENAME}",
                key="DATABASE_PATH",
            )
    else:
        base = default_db_path()
    if simulated_tag:
        base = base.with_name(f"{base.stem}-{simulated_tag}{base.suffix}")
    return base
