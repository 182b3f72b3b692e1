"""`scalp-radar movers` and `--universe` as a user runs them: real subprocesses, a real
simulator (500 contracts, planted events) on its own thread."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scalp_radar.sim import SimExchange, SimLimits
from tests.test_cli import assert_one_line_error, run_cli


@pytest.fixture
def sim_options() -> dict[str, Any]:
    return {"symbols": ["BTC/USDT:USDT"], "contracts": 120, "limits": SimLimits()}


@pytest.mark.slow
def test_movers_ranks_the_whole_market_from_rest(sim_thread: SimExchange, tmp_path: Path) -> None:
    result = run_cli(
        "movers",
        "--sim-url",
        sim_thread.url,
        "--by",
        "spread",
        "--limit",
        "5",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["mode"] == "DEMO" and doc["by"] == "spread" and len(doc["rows"]) == 5
    spreads = [r["spread_bps"] for r in doc["rows"]]
    assert spreads == sorted(spreads, reverse=True) and all(
        r["source"] == "rest" for r in doc["rows"]
    )
    # The widest spreads of every trading contract, from the exchange's own tickers at the
    # moment of the REST call.
    at = doc["rows"][0]["updated_ms"]

    def spread(inst: str) -> float:
        t = sim_thread.tickers.rest(inst, at)
        bid, ask = float(str(t["bidPr"])), float(str(t["askPr"]))
        return (ask - bid) / ((ask + bid) / 2) * 1e4

    trading = [i for i, spec in sim_thread.market.specs.items() if spec.status == "normal"]
    truth = sorted((spread(i) for i in trading), reverse=True)[:5]
    assert spreads == pytest.approx(truth, rel=1e-9)


def test_movers_table_says_demo_and_what_needs_a_window(
    sim_thread: SimExchange, tmp_path: Path
) -> None:
    result = run_cli(
        "movers",
        "--sim-url",
        sim_thread.url,
        "--by",
        "change_5m",
        "--limit",
        "3",
        "--universe",
        "top:10",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("DEMO") and lines[1].split()[0] == "symbol"
    assert len(lines) == 2 + 3 + 1
    assert lines[-1] == "change_5m: no values yet (needs --window 300 or more)"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("movers", "--limit", "0"), "--limit: expected rows 1..5000"),
        (("movers", "--window", "-1"), "--window: expected seconds in [0, 3600]"),
        (("movers", "--by", "volume"), "--by: invalid choice"),
        (("--universe", "top:0", "--headless"), "--universe: expected all, top:N"),
    ],
)
def test_bad_movers_and_universe_options_are_one_line(
    tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    assert_one_line_error(run_cli(*args, cwd=tmp_path), needle)
