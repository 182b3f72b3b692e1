"""Shared fixtures: the simulated Bitget, on the test's loop or in a thread.

A test module tunes the simulator by overriding `sim_options` (keyword arguments of SimExchange).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from scalp_radar.sim import SimExchange, SimLimits

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


@pytest.fixture
def sim_options() -> dict[str, Any]:
    """SimExchange keyword arguments; override in a module for a different seed, speed or clock."""
    return {}


def _options(overrides: dict[str, Any]) -> dict[str, Any]:
    return {"symbols": [BTC, ETH], "limits": SimLimits.off(), **overrides}


@pytest.fixture
async def sim(sim_options: dict[str, Any]) -> AsyncIterator[SimExchange]:
    """A simulator serving on the test's own event loop."""
    async with SimExchange(**_options(sim_options)) as s:
        yield s


@pytest.fixture
def sim_thread(sim_options: dict[str, Any]) -> Iterator[SimExchange]:
    """A simulator on its own loop in a thread, for synchronous tests (CLI entry points)."""
    s = SimExchange(**_options(sim_options)).start_in_thread()
    yield s
    s.stop_thread()


@pytest.fixture(autouse=True)
def _user_state_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the user's real watchlist file."""
    from scalp_radar.core.user_state import STATE_FILE_ENV

    monkeypatch.setenv(STATE_FILE_ENV, str(tmp_path_factory.mktemp("state") / "user-state.json"))
