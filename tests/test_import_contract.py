"""The core, exchange, engine, history and sim packages never import Textual; the engine entry points import ccxt lazily."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_SCRIPT = r"""
import importlib, json, pkgutil, sys
pkgs = {pkgs!r}
imported = []
for name in pkgs:
    pkg = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(pkg.__path__, name + "."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
        imported.append(info.name)
print(json.dumps({{"imported": imported, "textual": sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))}}))
"""


def _run(code: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "pkg",
    [
        "scalp_radar.core",
        "scalp_radar.exchange",
        "scalp_radar.engine",
        "scalp_radar.history",
        "scalp_radar.sim",
    ],
)
def test_package_and_all_submodules_do_not_import_textual(pkg):
    out = _run(_SCRIPT.format(pkgs=[pkg]))
    assert pkg in out["imported"]
    assert out["textual"] == [], f"{pkg} pulled in {out['textual']}"


def test_engine_modules_listed_and_textual_free():
    out = _run(_SCRIPT.format(pkgs=["scalp_radar.engine"]))
    for mod in ("data_engine", "writer", "healer", "runner", "stream", "buffer", "validator"):
        assert f"scalp_radar.engine.{mod}" in out["imported"]


def test_engine_entry_points_import_ccxt_lazily():
    code = (
        "import json, sys\n"
        "import scalp_radar.app.headless, scalp_radar.engine.runner, scalp_radar.engine.data_engine\n"
        "print(json.dumps({'ccxt': 'ccxt' in sys.modules, 'textual': 'textual' in sys.modules}))\n"
    )
    out = _run(code)
    assert out == {"ccxt": False, "textual": False}
