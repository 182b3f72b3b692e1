"""What every command that reads the configuration receives, resolved once by the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic models are imported only by commands that load a config
    from scalp_radar.core.config import AppConfig


@dataclass(frozen=True, slots=True)
class RunContext:
    """Config, database, logs and the exchange target (a simulator means DEMO prices)."""

    config: AppConfig
    db_path: Path
    log_dir: Path
    sim_url: str | None
    demo: bool
