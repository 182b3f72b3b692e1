"""Number and row formatting shared by the REST and websocket layers (Bitget sends strings)."""

from __future__ import annotations

import json

from scalp_radar.sim.market import Row


def num(x: float) -> str:
    """Shortest exact decimal text of a float, never in exponent form."""
    text = repr(float(x))
    if "e" in text or "E" in text:
        text = f"{x:.12f}".rstrip("0").rstrip(".")
    if text.endswith(".0"):
        text = text[:-2]
    return text


def rest_row(row: Row) -> list[str]:
    """[ts, o, h, l, c, baseVol, quoteVol] as strings (REST candles)."""
    ts, o, h, lo, c, v = row
    return [str(ts), num(o), num(h), num(lo), num(c), num(v), num(round(v * c, 4))]


def ws_row_json(row: Row) -> str:
    """The JSON text of one websocket candle row: 8 strings (quote and USDT volume twice)."""
    ts, o, h, lo, c, v = row
    quote = num(round(v * c, 4))
    return f'["{ts}","{num(o)}","{num(h)}","{num(lo)}","{num(c)}","{num(v)}","{quote}","{quote}"]'


def dumps(obj: object) -> str:
    """Compact JSON."""
    return json.dumps(obj, separators=(",", ":"))
