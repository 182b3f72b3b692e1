"""Simulated histories never share a database: the name follows the simulator's seed and clock."""

from __future__ import annotations

import json
import urllib.request

import pytest

from scalp_radar.core.sim_identity import IDENTITY_PATH, SimIdentity
from scalp_radar.sim import SimClock, SimExchange

START = 1_764_108_000_000  # 2025-11-25T22:00:00Z


@pytest.mark.parametrize(
    ("identity", "tag"),
    [
        (SimIdentity(42, 1.0, START, START + 5), "demo"),
        (SimIdentity(7, 1.0, START, START), "demo-seed7"),
        (SimIdentity(42, 60.0, START, START), "demo-x60-20251125T220000Z"),
        (SimIdentity(7, 0.5, START, START), "demo-seed7-x0.5-20251125T220000Z"),
        (
            SimIdentity(42, 1.0, START + 3 * 86_400_000, START),
            "demo-x1-20251125T220000Z-at20251128T220000Z",
        ),
    ],
)
def test_db_tag_names_seed_and_any_clock_off_the_wall_clock(identity, tag):
    assert identity.db_tag() == tag
    assert SimIdentity.from_json(json.loads(json.dumps(identity.to_json()))) == identity


@pytest.mark.parametrize(
    "data",
    [[], {"seed": 1}, {"seed": "1", "speed": 1, "originMs": 0, "startedMs": 0},
     {"seed": 1, "speed": 0, "originMs": 0, "startedMs": 0}],
)  # fmt: skip
def test_bad_identity_answers_are_refused(data):
    with pytest.raises(ValueError):
        SimIdentity.from_json(data)


def test_simulator_serves_its_identity_over_rest(sim_thread):
    with urllib.request.urlopen(sim_thread.url + IDENTITY_PATH, timeout=5) as response:
        served = SimIdentity.from_json(json.loads(response.read()))
    assert served == sim_thread.identity and served.db_tag() == "demo"


def test_a_fast_clock_is_its_own_history():
    fast = SimExchange(seed=42, clock=SimClock(speed=60))
    origin, started = fast.clock.timeline()
    assert fast.identity == SimIdentity(42, 60.0, origin, started)
    assert fast.identity.db_tag().startswith("demo-x60-")
