"""Prices read the same everywhere: at the market's precision (its tick size from assets.yaml)."""

from __future__ import annotations

import msgspec

from scalp_radar.app.headless import status_line
from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.tui import format as fmt
from scalp_radar.tui.fixtures import healthy_snapshot


def _sol_with_tick(tick: float, close: float) -> EngineSnapshot:
    snap = healthy_snapshot()
    streams = []
    for s in snap.streams:
        if s.symbol.startswith("SOL") and s.last_candle is not None:
            last = msgspec.structs.replace(s.last_candle, close=close)
            s = msgspec.structs.replace(s, tick_size=tick, last_candle=last)
        streams.append(s)
    return msgspec.structs.replace(snap, streams=tuple(streams))


def test_headless_status_line_prints_sol_at_its_tick_like_the_dashboard():
    # Regression: the status line printed `:g` (SOL 245.4) while the TUI showed the tick's 3.
    snap = _sol_with_tick(0.001, 245.4)
    sol = next(s for s in snap.streams if s.symbol.startswith("SOL"))
    shown = fmt.price(sol.last_candle.close, sol.tick_size)
    assert shown == "245.400"
    assert f"SOL {shown}" in status_line(snap)
