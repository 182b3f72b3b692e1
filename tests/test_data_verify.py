"""`scalp-radar data verify` and `backfill --force` against the real simulator (real ccxt, SQLite).

A wrong candle, a hole and a duplicate are planted in a backfilled database; verify must name
each (field, stored vs exchange), exit 1, and with --fix leave exactly the simulator's truth.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scalp_radar.app.cli import build_parser
from scalp_radar.app.context import RunContext
from scalp_radar.app.history_cmds import run_backfill
from scalp_radar.core.config import load_config

REPO = Path(__file__).resolve().parent.parent
SYM = "BTC/USDT:USDT"
MIN = 60_000
DAY = 86_400_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M")


def _backfill(db_path: Path, sim_url: str, *argv: str) -> int:
    args = build_parser().parse_args(["backfill", *argv])
    ctx = RunContext(load_config(), db_path, db_path.parent / "logs", sim_url, demo=True)
    return run_backfill(args, ctx)


def _scalp_radar(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    env.pop("SCALP_RADAR_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "scalp_radar", "--log-dir", str(tmp_path / "logs"), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def _stored(db_path: Path, start: int, end: int) -> list[list[float]]:
    con = sqlite3.connect(db_path)
    rows = con.execute(
        "SELECT timestamp, open, high, low, close, volume FROM candles WHERE symbol = ?"
        " AND timeframe = '1m' AND timestamp >= ? AND timestamp < ? ORDER BY timestamp",
        (SYM, start, end),
    ).fetchall()
    con.close()
    return [list(r) for r in rows]


def _range(sim) -> tuple[int, int]:
    start = (sim.clock.now_ms() - 2 * DAY) // (60 * MIN) * (60 * MIN)
    return start, start + 300 * MIN


@pytest.mark.slow
def test_verify_reports_then_fixes_a_wrong_candle_a_hole_and_a_duplicate(sim_thread, tmp_path):
    sim = sim_thread
    db_path = tmp_path / "v.db"
    start, end = _range(sim)
    span = ["--symbol", SYM, "--timeframe", "1m", "--since", _iso(start), "--until", _iso(end)]
    assert _backfill(db_path, sim.url, *span) == 0
    verify = ["--db", str(db_path), "data", "verify", "--sim-url", sim.url, *span]
    clean = _scalp_radar(tmp_path, *verify)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "300 stored candles compared: 0 mismatched, 0 holes (0 candles), 0 duplicates" in (
        clean.stdout
    )

    wrong_ts, hole_ts = start + 100 * MIN, start + 200 * MIN
    truth = {row[0]: row for row in sim.truth(SYM, "1m", start, end)}
    con = sqlite3.connect(db_path)
    with con:
        con.execute(
            "UPDATE candles SET close = close + 7, high = high + 7 WHERE timestamp = ?",
            (wrong_ts,),
        )
        con.execute("DELETE FROM candles WHERE timestamp >= ? AND timestamp < ?",
                    (hole_ts, hole_ts + 3 * MIN))  # fmt: skip
        con.execute(
            "INSERT INTO candles SELECT symbol, timeframe, timestamp + 30000, open, high, low,"
            " close, volume, vwap, mark_price FROM candles WHERE timestamp = ?",
            (start + 10 * MIN,),
        )
    con.close()

    found = _scalp_radar(tmp_path, *verify)
    out = found.stdout
    assert found.returncode == 1, out + found.stderr
    when = datetime.fromtimestamp(wrong_ts / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    t = truth[wrong_ts]
    assert (
        f"mismatch: {SYM} 1m {when}: high stored {t[2] + 7!r}, exchange {t[2]!r}; "
        f"close stored {t[4] + 7!r}, exchange {t[4]!r}"
    ) in out
    assert "hole: " in out and "(3 candles the exchange has)" in out
    assert "duplicate: " in out and ":30 (off the 1m grid" in out
    assert "1 mismatched, 1 holes (3 candles), 1 duplicates" in out

    fixed = _scalp_radar(tmp_path, *verify, "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "fixed: 1 candles replaced, 3 filled, 1 duplicates deleted" in fixed.stdout
    assert _stored(db_path, start, end + MIN) == sim.truth(SYM, "1m", start, end)
    again = _scalp_radar(tmp_path, *verify)
    assert again.returncode == 0 and "0 mismatched, 0 holes (0 candles), 0 duplicates" in (
        again.stdout
    )


def test_forced_backfill_replaces_a_wrong_candle_and_counts_it(sim_thread, tmp_path, capsys):
    # Regression: --force used INSERT OR IGNORE, said "0 candles stored" and kept the wrong row.
    sim = sim_thread
    db_path = tmp_path / "f.db"
    start, end = _range(sim)
    span = ["--symbol", SYM, "--timeframe", "1m", "--since", _iso(start), "--until", _iso(end)]
    assert _backfill(db_path, sim.url, *span) == 0
    con = sqlite3.connect(db_path)
    with con:
        con.execute("UPDATE candles SET low = low - 1 WHERE timestamp = ?", (start + 5 * MIN,))
    con.close()
    capsys.readouterr()
    assert _backfill(db_path, sim.url, *span, "--force") == 0
    out = capsys.readouterr().out
    assert "complete: 0 candles stored" in out
    assert "; 1 stored candle changed to the exchange's values" in out
    assert _stored(db_path, start, end) == sim.truth(SYM, "1m", start, end)


def test_verify_bad_input_and_missing_database_are_one_line(tmp_path):
    missing = tmp_path / "none.db"
    result = _scalp_radar(tmp_path, "--db", str(missing), "data", "verify", "--days", "0")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "--days" in result.stderr
    result = _scalp_radar(tmp_path, "--db", str(missing), "data", "verify")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"{missing}: no database there" in result.stderr
    assert not missing.exists()
