"""What every command that reads the configuration receives, resolved once by the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic models are imported only by commands that load a config
    from scalp_radar.core.config import AppConfig
    from scalp_radar.engine.runner import EngineTarget


@dataclass(frozen=True, slots=True)
class RunContext:
    """Config, database, logs and the exchange target (a simulator means DEMO prices)."""

    config: AppConfig
    db_path: Path
    log_dir: Path
    sim_url: str | None
    demo: bool

    def engine_target(self, sim_speed: float = 1.0) -> EngineTarget:
        """Where an engine of this command runs; in demo mode without --sim-url, on a simulator
        in a child process at `sim_speed`."""
        from scalp_radar.app.demo import child_simulator_factory
        from scalp_radar.engine.runner import EngineTarget

        simulator = child_simulator_factory(sim_speed)
        return EngineTarget(self.config, self.db_path, self.demo, self.sim_url, simulator)
