"""Default data and log locations: the user's XDG directories, created on demand, never CWD."""

from __future__ import annotations

import pytest

from scalp_radar.core import paths
from scalp_radar.core.config import ConfigError


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    """Private XDG dirs and a separate working directory."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def test_data_dir_is_created_under_xdg_data_home(xdg):
    target = xdg / "data" / "scalp-radar"
    assert not target.exists()
    assert paths.default_data_dir() == target
    assert target.is_dir()


def test_log_dir_is_created_under_xdg_state_home(xdg):
    log_dir = paths.default_log_dir()
    assert log_dir.is_dir()
    assert log_dir.is_relative_to(xdg / "state" / "scalp-radar")


def test_db_path_lives_in_the_data_dir_never_cwd(xdg):
    db = paths.default_db_path()
    assert db.parent == xdg / "data" / "scalp-radar" and db.suffix == ".db"
    assert db.is_absolute() and not db.is_relative_to(xdg / "work")
    assert not db.exists()  # the database module creates the file, not paths
    assert list((xdg / "work").iterdir()) == []


def test_uncreatable_data_dir_is_one_line_config_error(xdg, monkeypatch):
    blocker = xdg / "blocker"
    blocker.write_text("a file where a directory should be")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    with pytest.raises(ConfigError) as info:
        paths.default_data_dir()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(blocker / "scalp-radar") + ": cannot create the data directory")
    assert "DATABASE_PATH" in message


def test_database_path_sources_and_simulated_siblings(xdg):
    default = paths.default_db_path()
    assert paths.database_path(None, None, None) == default
    assert paths.database_path(None, None, "demo") == default.with_name("scalp_radar-demo.db")
    custom = str(xdg / "mine" / "hist.sqlite")
    assert (
        paths.database_path(None, custom, "demo-seed7") == xdg / "mine" / "hist-demo-seed7.sqlite"
    )
    # --db names the file: used as given, simulated or not
    assert paths.database_path(str(xdg / "x.db"), custom, "demo") == xdg / "x.db"


def test_database_path_refuses_a_directory_and_an_empty_flag(xdg):
    # Regression (issue 10 item 11): DATABASE_PATH=<dir> with --demo created `<dir>-demo`.
    folder = xdg / "folder"
    folder.mkdir()
    for tag in (None, "demo"):
        with pytest.raises(ConfigError) as info:
            paths.database_path(None, str(folder), tag)
        assert str(info.value) == (
            f"DATABASE_PATH: {folder} is a directory; expected a database file path such as "
            f"{folder / 'scalp_radar.db'}"
        )
    assert sorted(p.name for p in xdg.iterdir()) == ["folder", "work"]  # no folder-demo
    with pytest.raises(ConfigError, match=r"^--db: expected a database file path, got an empty"):
        paths.database_path("", None, None)
