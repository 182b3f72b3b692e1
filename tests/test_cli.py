"""The `scalp-radar` command line as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scalp_radar import __version__

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
    """Run `python -m scalp_radar ARGS` from cwd with a private HOME (no user state leaks)."""
    full_env = {
        **os.environ,
        "HOME": str(cwd),
        "XDG_DATA_HOME": str(cwd / "data"),
        "XDG_STATE_HOME": str(cwd / "state"),
        "PYTHONPATH": str(REPO),
    }
    full_env.pop("SCALP_RADAR_CONFIG", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "scalp_radar", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_version(tmp_path):
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert __version__ in result.stdout


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["data", "list", "--help"]])
def test_help_and_version_import_no_heavy_library(tmp_path, argv):
    # Regression: building the parser imported the simulator (aiohttp) and pydantic (~275 ms).
    code = (
        "import sys, contextlib, io\n"
        "from scalp_radar.app.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    try: main({argv!r})\n"
        "    except SystemExit: pass\n"
        "assert out.getvalue(), 'nothing printed'\n"
        "heavy = ('ccxt', 'textual', 'aiohttp', 'pydantic', 'scalp_radar.sim', 'rich')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_status_imports_neither_the_store_models_nor_the_exchange(tmp_path):
    # Regression: `status` imported the store package (its pydantic candle models, ~0.1 s) to
    # check a database it never opens, and the quick_check read every page of the history; with
    # an explicit --db it still loaded the whole config (pydantic, YAML, .env), which it ignores.
    db = tmp_path / "history.db"
    code = (
        "import sys, contextlib, io\n"
        "from scalp_radar.app.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main(['status', '--db', {str(db)!r}])\n"
        "assert code == 2, code\n"
        "heavy = ('ccxt', 'textual', 'aiohttp', 'pydantic', 'scalp_radar.core.models', 'scalp_radar.sim')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_status_with_an_explicit_db_still_refuses_a_bad_sim_url_in_one_line(tmp_path):
    result = run_cli("status", "--db", str(tmp_path / "h.db"), "--sim-url", "ftp://x", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("scalp-radar: error: --sim-url:"), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "h.db").exists()


def test_help_lists_every_command(tmp_path):
    out = run_cli("--help", cwd=tmp_path).stdout
    for name in ("config", "sim", "backfill", "data", "--demo", "--sim-url", "--log-level"):
        assert name in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--demo", "data", "list"],
        ["data", "--demo", "list"],
        ["data", "list", "--demo"],
        ["config", "check", "--demo"],
        ["--log-level", "debug", "backfill", "--demo", "--help"],
        ["backfill", "--log-level", "debug", "--demo", "--help"],
    ],
)
def test_common_options_before_or_after_the_command(tmp_path, argv):
    # Regression: `data list --demo` was "unrecognized arguments".
    result = run_cli(*argv, cwd=tmp_path)
    if "list" in argv:  # accepted; listing never creates the (absent) demo database
        assert_one_line_error(result, "scalp_radar-demo.db: no database there")
        return
    assert result.returncode == 0, result.stderr
    if "--help" not in argv:
        assert "scalp_radar-demo.db" in result.stdout  # demo data never goes to the real history


def test_a_common_option_given_twice_keeps_the_one_after_the_command(tmp_path):
    mine = tmp_path / "after.db"
    result = run_cli(
        "--db", str(tmp_path / "before.db"), "config", "check", "--db", str(mine), cwd=tmp_path
    )
    assert _database_line(result).endswith("after.db")


def test_config_check_prints_summary_from_any_directory(tmp_path):
    result = run_cli("config", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bitget" in out.lower()
    for symbol in ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"):
        assert symbol in out
    assert "market_data" in out
    # Data defaults to the user's data directory, never the current directory.
    assert str(tmp_path / "data") in out
    assert not list(tmp_path.glob("*.db"))


def test_config_init_then_check_with_edited_copy(tmp_path):
    result = run_cli("config", "init", "mycfg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mycfg" / "assets.yaml").is_file()
    again = run_cli("config", "init", "mycfg", cwd=tmp_path)
    assert again.returncode == 2 and "exist" in again.stderr
    check = run_cli("--config", "mycfg", "config", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr


def test_config_check_bad_yaml_is_one_line_with_file(tmp_path):
    cfg = tmp_path / "cfg"
    shutil.copytree(REPO / "config", cfg)
    (cfg / "risk.yaml").write_text("kill_switch: [unclosed\n")
    result = run_cli("config", "check", "--config", str(cfg), cwd=tmp_path)
    assert_one_line_error(result, "risk.yaml")


def test_config_env_var_override_and_unknown_key(tmp_path):
    cfg = tmp_path / "cfg"
    shutil.copytree(REPO / "config", cfg)
    text = (cfg / "assets.yaml").read_text()
    (cfg / "assets.yaml").write_text(text + "\ntypo_key: 1\n")
    result = run_cli("config", "check", cwd=tmp_path, env={"SCALP_RADAR_CONFIG": str(cfg)})
    assert_one_line_error(result, "assets.yaml", "typo_key")


def test_missing_config_dir_is_one_line(tmp_path):
    result = run_cli("--config", str(tmp_path / "nope"), "config", "check", cwd=tmp_path)
    assert_one_line_error(result, "nope")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--headless", "--status-interval", "0"], "--status-interval"),
        (["--refresh-hz", "-1"], "--refresh-hz"),
    ],
)
def test_bad_numeric_flags_are_one_line(tmp_path, args, needle):
    result = run_cli(*args, cwd=tmp_path)
    assert_one_line_error(result, needle)


def test_non_database_file_as_db_is_refused_and_untouched(tmp_path):
    fake_db = tmp_path / "notes.db"
    fake_db.write_text("my precious notes\n")
    result = run_cli("--headless", "--db", str(fake_db), "--demo", cwd=tmp_path, timeout=90)
    assert_one_line_error(result, str(fake_db))
    assert fake_db.read_text() == "my precious notes\n"


def _database_line(result) -> str:
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if line.startswith("database:"))


def test_simulated_prices_never_use_the_real_history_database(tmp_path):
    # Regression: --demo and --sim-url wrote simulated candles into the user's real database,
    # where resume and INSERT OR IGNORE would then keep them forever.
    real = _database_line(run_cli("config", "check", cwd=tmp_path))
    assert real.endswith("scalp_radar.db")
    demo = _database_line(run_cli("--demo", "config", "check", cwd=tmp_path))
    assert demo.endswith("scalp_radar-demo.db")
    chosen = _database_line(
        run_cli("--demo", "--db", str(tmp_path / "mine.db"), "config", "check", cwd=tmp_path)
    )
    assert chosen.endswith("mine.db")


def test_each_simulated_history_gets_its_own_database(tmp_path):
    # Regression (issue 10 item 4): `scalp-radar sim --speed 60` (or another seed) reached with
    # --sim-url wrote into the same scalp_radar-demo.db as the embedded demo, mixing a price
    # path and a clock an hour ahead into it.
    from scalp_radar.sim import SimClock, SimExchange

    sims = [
        SimExchange(seed=42),
        SimExchange(seed=7),
        SimExchange(seed=42, clock=SimClock(speed=60)),
    ]
    names = []
    try:
        for sim in sims:
            sim.start_in_thread()
            line = _database_line(run_cli("--sim-url", sim.url, "config", "check", cwd=tmp_path))
            names.append(Path(line.split()[-1]).name)
    finally:
        for sim in sims:
            sim.stop_thread()
    assert names[0] == "scalp_radar-demo.db"  # the embedded demo's history: same seed and clock
    assert names[1] == "scalp_radar-demo-seed7.db"
    assert names[2].startswith("scalp_radar-demo-x60-") and names[2].endswith("Z.db")
    unreachable = run_cli("--sim-url", "http://127.0.0.1:1", "config", "check", cwd=tmp_path)
    assert_one_line_error(unreachable, "--sim-url", "http://127.0.0.1:1", "--db")


def test_database_path_mistakes_are_one_line(tmp_path):
    # Regression (issue 10 items 11, 12): DATABASE_PATH=<dir> with --demo exited 0 and created
    # `<dir>-demo`; `--db ''` silently used the default database; a symlink loop gave sqlite's
    # "unable to open database file".
    folder = tmp_path / "folder"
    folder.mkdir()
    result = run_cli("--demo", "config", "check", cwd=tmp_path, env={"DATABASE_PATH": str(folder)})
    assert_one_line_error(result, "DATABASE_PATH", str(folder), "is a directory")
    assert not (tmp_path / "folder-demo").exists()
    assert_one_line_error(run_cli("--db", "", "data", "list", cwd=tmp_path), "--db", "empty")
    loop = tmp_path / "loop.db"
    loop.symlink_to(loop)
    for argv in (["data", "list"], ["--headless", "--demo"]):
        result = run_cli("--db", str(loop), *argv, cwd=tmp_path)
        assert_one_line_error(result, str(loop), "symbolic links")


def test_headless_against_a_remote_simulator_is_labelled_demo(tmp_path):
    # Regression: `scalp-radar --headless --sim-url URL` labelled simulated prices REAL.
    from scalp_radar.sim import SimExchange

    sim = SimExchange(seed=3).start_in_thread()
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scalp_radar",
                "--headless",
                "--sim-url",
                sim.url,
                "--status-interval",
                "0.5",
                "--db",
                str(tmp_path / "h.db"),
            ],
            cwd=tmp_path,
            env={**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "streams" in line and "|" in line and "up " in line:
                break
        proc.send_signal(2)
        # A hang guard, not a timing: on a loaded machine stopping and interpreter teardown
        # took seconds (ccxt's modules), so the bound is generous.
        rest, _ = proc.communicate(timeout=90)
    finally:
        sim.stop_thread()
    status = [line for line in lines if "streams" in line and "up " in line]
    assert status and "DEMO" in status[-1], "".join(lines)
    assert "REAL" not in "".join(lines) + rest
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--sim-url", "not-a-url", "config", "check"], "--sim-url"),
        (["--log-level", "VERBOSE", "data", "list"], "VERBOSE"),
        (["--log-dir", "/proc/nope", "data", "list"], "/proc/nope"),
        (["--headless", "--status-interval", "nan"], "--status-interval"),
        (["--refresh-hz", "nan"], "--refresh-hz"),
        (["sim", "--speed", "nan"], "--speed"),
    ],
)
def test_more_user_mistakes_are_one_line(tmp_path, args, needle):
    # Regression: these printed a traceback (logging, sim url) or were accepted (NaN).
    result = (
        run_cli(*args, "--db", str(tmp_path / "x.db"), cwd=tmp_path)
        if args[0] != "sim"
        else run_cli(*args, cwd=tmp_path)
    )
    assert_one_line_error(result, needle)


def _config_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cfg"
    shutil.copytree(REPO / "config", target)
    return target


def _sim_url_without_port(tmp_path: Path) -> list[str]:
    cfg = _config_copy(tmp_path)
    path = cfg / "exchanges.yaml"
    path.write_text(path.read_text().replace("sim_url: null", "sim_url: http://127.0.0.1", 1))
    return ["--config", str(cfg), "config", "check"]


def _assets_is_a_directory(tmp_path: Path) -> list[str]:
    cfg = _config_copy(tmp_path)
    (cfg / "assets.yaml").unlink()
    (cfg / "assets.yaml").mkdir()
    return ["--config", str(cfg), "config", "check"]


@pytest.mark.parametrize(
    ("argv", "needles", "wrong"),
    [
        (["backfill", "--days", "1e-12"], ["--days:", "one minute", "'1e-12'"], "future"),
        (["backfill", "--days", "100000"], ["--days:", "to 36500", "'100000'"], "> 0"),
        (["backfill", "--since", "0001-01-01"], ["--since:", "2010-01-01"], "already stored"),
        (_sim_url_without_port, ["exchanges.yaml: exchange.sim_url:", "HOST:PORT"], "--sim-url"),
        (["--log-level", "foo", "config", "check"], ["--log-level:", "'foo'"], "setup_logging"),
        (
            _assets_is_a_directory,
            ["assets.yaml: expected a YAML file, found a directory"],
            "not found",
        ),
        (["--bogus"], ["unrecognized arguments: --bogus"], "usage:"),
        (["data"], ["required: ACTION"], "usage:"),
        (["data", "list", "--nope"], ["unrecognized arguments: --nope"], "usage:"),
        (
            ["backfill", "--concurrency", "x"],
            ["--concurrency: expected requests in flight"],
            "usage:",
        ),
        (["sim", "--speed", "1e300"], ["--speed:", "3600", "'1e300'"], "usage:"),
        (["--refresh-hz", "0"], ["--refresh-hz: expected a rate in Hz in (0, 60]"], "usage:"),
    ],
)
def test_each_bad_input_is_one_precise_line_and_exit_2(tmp_path, argv, needles, wrong):
    """Issue 10 item 12: misleading or multi-line messages, each now one precise line."""
    args = argv(tmp_path) if callable(argv) else argv
    db = tmp_path / "empty.db"
    result = run_cli(*args, "--db", str(db), "--log-dir", str(tmp_path / "logs"), cwd=tmp_path)
    assert_one_line_error(result, "scalp-radar: error: ", *needles)
    assert wrong not in result.stderr
    assert "sim_url: sim_url" not in result.stderr  # the key is named once
    assert not db.exists()  # nothing was created or stored
