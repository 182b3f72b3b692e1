"""The user's own radar state (the watchlist they build with `w`), kept outside the shipped config.

A small JSON file in the platform's user state directory (e.g. ~/.local/state/scalp-radar/
user-state.json); `SCALP_RADAR_STATE_FILE` or an explicit path moves it (tests, several profiles).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from scalp_radar.core.paths import APP_NAME

STATE_FILE_ENV = "SCALP_RADAR_STATE_FILE"
STATE_FILENAME = "user-state.json"


def default_state_file() -> Path:
    """`$SCALP_RADAR_STATE_FILE`, else user-state.json in the user state directory."""
    override = os.environ.get(STATE_FILE_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False)) / STATE_FILENAME


class UserStateError(ValueError):
    """The state file exists but is not what we wrote: one line naming the file and the problem."""


@dataclass
class UserState:
    """The user's watchlist (symbols in the order added), loaded from and saved to `path`."""

    path: Path
    watchlist: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path | None = None) -> UserState:
        """Read the file; a missing file is an empty state, a broken one a UserStateError."""
        path = path or default_state_file()
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise UserStateError(f"{path}: cannot read ({exc.strerror or exc})") from None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UserStateError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        watch = data.get("watchlist", []) if isinstance(data, dict) else None
        if not isinstance(watch, list) or not all(isinstance(s, str) for s in watch):
            raise UserStateError(f"{path}: key 'watchlist': expected a list of symbol strings")
        return cls(path, list(dict.fromkeys(watch)))

    def save(self) -> None:
        """Write atomically (temp file + rename), so a crash never leaves half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"watchlist": self.watchlist}, indent=2) + "\n", "utf-8")
        os.replace(tmp, self.path)

    def toggle(self, symbol: str) -> bool:
        """Add `symbol` if absent, remove it if present; save; True if it is now watched."""
        if symbol in self.watchlist:
            self.watchlist.remove(symbol)
            watched = False
        else:
            self.watchlist.append(symbol)
            watched = True
        self.save()
        return watched
