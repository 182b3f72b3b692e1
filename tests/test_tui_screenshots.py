"""The screenshot script writes deterministic SVGs and rejects unknown names in one line."""

from __future__ import annotations

import pytest

from scalp_radar.tui.screenshots import main


def test_writes_named_svg_deterministically(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "degraded-80x24"]) == 0
    svg = (tmp_path / "degraded-80x24.svg").read_text()
    assert svg.startswith("<svg") and "BTC/USDT" in svg and "stale" in svg
    main(["--out", str(tmp_path), "degraded-80x24"])
    assert (tmp_path / "degraded-80x24.svg").read_text() == svg
    assert "degraded-80x24.svg" in capsys.readouterr().out


def test_unknown_name_is_a_one_line_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path), "nope"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "names: unknown screenshot 'nope'" in err
