"""What makes one simulated history distinct, so two never share a database.

The simulator's market is a pure function of (seed, symbol, time); its clock maps real time to
simulated time by a speed and a starting point. Two simulators write compatible candles into one
database only when both agree: same seed, and a clock that follows the wall clock (speed 1, no
offset). A fast or shifted clock writes candles "ahead" of any other run, so its history is its
own: the database name then carries the speed and the start. The simulator serves its identity
at IDENTITY_PATH; the client names the demo database from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_SEED = 42
IDENTITY_PATH = "/scalp-radar/identity"
# A clock within this of the wall clock (at speed 1) is the live timeline every run shares.
_LIVE_TOLERANCE_MS = 60_000


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True, slots=True)
class SimIdentity:
    """The seed of a simulated market and the timeline of its clock."""

    seed: int = DEFAULT_SEED
    speed: float = 1.0
    origin_ms: int = 0  # simulated time when the clock started
    started_ms: int = 0  # wall time when the clock started

    @property
    def live_clock(self) -> bool:
        """True when simulated time is wall time (any such run shares one timeline)."""
        return self.speed == 1.0 and abs(self.origin_ms - self.started_ms) < _LIVE_TOLERANCE_MS

    def db_tag(self) -> str:
        """The suffix naming this history's database: `demo` for the embedded default
        (seed 42, live clock), `demo-seed7`, `demo-seed42-x60-20261125T220000Z`, ..."""
        tag = "demo" if self.seed == DEFAULT_SEED else f"demo-seed{self.seed}"
        if not self.live_clock:
            tag += f"-x{self.speed:g}-{_stamp(self.started_ms)}"
            if abs(self.origin_ms - self.started_ms) >= _LIVE_TOLERANCE_MS:
                tag += f"-at{_stamp(self.origin_ms)}"
        return tag

    def to_json(self) -> dict[str, Any]:
        """The JSON the simulator serves."""
        return {
            "seed": self.seed,
            "speed": self.speed,
            "originMs": self.origin_ms,
            "startedMs": self.started_ms,
        }

    @classmethod
    def from_json(cls, data: object) -> SimIdentity:
        """Parse the simulator's answer; ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        try:
            seed, speed = data["seed"], data["speed"]
            origin, started = data["originMs"], data["startedMs"]
        except KeyError as exc:
            raise ValueError(f"missing field {exc}") from None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (seed, origin, started)):
            raise ValueError("seed, originMs and startedMs must be integers")
        if not isinstance(speed, int | float) or isinstance(speed, bool) or not speed > 0:
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        return cls(int(seed), float(speed), int(origin), int(started))
