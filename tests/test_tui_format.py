"""Pure formatters: prices, changes, durations, badges, bars."""

from __future__ import annotations

import msgspec

from scalp_radar.core.snapshot import StreamState
from scalp_radar.tui import format as fmt
from scalp_radar.tui.fixtures import degraded_snapshot


def test_price_precision_follows_magnitude():
    assert fmt.price(97_250.04) == "97,250.0"
    assert fmt.price(238.414) == "238.41"
    assert fmt.price(1.23456) == "1.2346"
    assert fmt.price(0.000123456) == "0.000123456"
    assert fmt.price(None) == "—"


def test_change_sign_carries_meaning_and_never_negative_zero():
    assert abs(fmt.change_pct((100.0, 101.0)) - 1.0) < 1e-9
    assert fmt.change_text(1.234).plain == "+1.23%"
    assert fmt.change_text(-0.4).plain == "-0.40%"
    assert fmt.change_text(-0.001).plain == "+0.00%"
    assert fmt.change_pct((5.0,)) is None


def test_durations():
    assert [fmt.duration(x) for x in (0.44, 48.2, 185, 8_123, 300_000)] == [
        "0.4s",
        "48s",
        "3m05s",
        "2h15m",
        "3d11h",
    ]


def test_badges_name_the_state_in_words():
    snap = degraded_snapshot()
    stale = snap.stream("BTC/USDT:USDT", "1m")
    retry = snap.stream("SOL/USDT:USDT", "1m")
    assert fmt.badge(stale).plain == "◌ stale 48s"
    assert fmt.badge(stale, compact=True).plain == "◌ stale"
    assert fmt.badge(retry).plain == "↻ retry#3 in 4s"
    assert fmt.badge(retry, compact=True).plain == "↻ #3 in 4s"
    failed = msgspec.structs.replace(stale, state=StreamState.FAILED)
    assert fmt.badge(failed).plain == "✖ failed"
    assert fmt.badge(None).plain == "… waiting"


def test_level_bar_width_and_eighths():
    assert fmt.level_bar(1.0, 8).plain == "████████"
    assert fmt.level_bar(0.0, 8).plain == "········"
    assert fmt.level_bar(0.5, 4).plain == "██··"
    assert fmt.level_bar(1 / 4, 2).plain == "▌·"
    assert fmt.level_bar(1 / 16, 2).plain == "▏·"
    assert fmt.level_bar(0.05, 8).style == "red"
