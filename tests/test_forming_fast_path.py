"""The forming candle's fast path agrees with the general one (validate, then `apply`)."""

from __future__ import annotations

import math
import random

from scalp_radar.core.models import TimeFrame
from scalp_radar.engine.buffer import CandleBuffer, Outcome
from scalp_radar.engine.validator import DataValidator, next_forming_state

SYM = "BTC/USDT:USDT"
TF = TimeFrame.M1
TS = 1_700_000_040_000 // 60_000 * 60_000
FORMING = [TS, 100.0, 101.0, 99.0, 100.5, 10.0]


def _general(row: object) -> tuple[str, object]:
    """What the general path does with `row` after FORMING: ("forming", candle) or why not."""
    buf = CandleBuffer(SYM, TF)
    buf.apply(DataValidator.check_candle(FORMING, SYM, TF)[0])
    candle, why = DataValidator.check_candle(row, SYM, TF)
    if candle is None:
        return "invalid", why
    result = buf.apply(candle)
    return result.outcome.value, buf.forming


def _rows() -> list:
    """Repeats, progressions and every kind of row the fast path must leave to the general one."""
    t, o, h, lo, c, v = FORMING
    fixed = [
        list(FORMING),  # a repeat
        [t, o, 102.0, 98.5, 101.9, 12.5],  # widened range, more volume
        [t, o, h, lo, 100.0, 10.0],  # only the close moved
        [t, o, 100.8, lo, c, v],  # high narrowed: a stale state
        [t, o, h, 99.2, c, v],  # low narrowed
        [t, o, h, lo, c, 9.0],  # volume shrank
        [t, 100.1, h, lo, c, v],  # another open
        [t + 60_000, o, h, lo, c, v],  # the next candle
        [t - 60_000, o, h, lo, c, v],  # an older one
        [t + 1, o, h, lo, c, v],  # not aligned
        [float(t), o, h, lo, c, v],  # ts as a float
        [t, o, h, lo, c],  # short row
        [t, o, h, lo, c, v, 7.0],  # long row
        [t, "100.0", h, lo, c, v],  # a string
        [t, 100, 101, 99, 100, 11],  # ints
        [t, o, math.nan, lo, c, v],
        [t, o, math.inf, lo, c, v],
        [t, o, h, lo, c, math.nan],
        [t, o, h, lo, math.inf, v],
        [t, o, h, lo, c, -1.0],
        [t, o, 98.0, 99.5, c, v],  # high below low
        [t, o, h, 100.2, c, v],  # low above open
        [t, o, 100.2, lo, c, v],  # high below close
        [t, o, h, lo, 0.0, v],
        [t, o, h, -1.0, c, v],
        [True, o, h, lo, c, v],
        (t, o, h, lo, c, v),  # a tuple: not ccxt's shape
        None,
        [],
    ]
    rng = random.Random(12)
    jittered = [
        [t, o, h + rng.uniform(-0.5, 1), lo + rng.uniform(-1, 0.5), rng.uniform(98, 102), v + rng.uniform(-1, 3)]
        for _ in range(300)
    ]  # fmt: skip
    return fixed + jittered


def test_fast_path_takes_a_row_exactly_when_the_general_path_keeps_it_as_forming() -> None:
    forming = DataValidator.check_candle(FORMING, SYM, TF)[0]
    taken = 0
    for row in _rows():
        fast = next_forming_state(forming, row)
        outcome, general = _general(row)
        ccxt_shaped = (
            type(row) is list
            and len(row) == 6
            and type(row[0]) is int
            and all(type(x) is float for x in row[1:])
        )
        if outcome == Outcome.FORMING.value and ccxt_shaped:
            assert fast == general, row  # taken, with the same candle
            assert (fast is forming) == (row == FORMING), row
            taken += 1
        else:
            assert fast is None, row  # left to the general path, which says why
    assert taken > 50


def test_fast_path_takes_the_common_pushes() -> None:
    forming = DataValidator.check_candle(FORMING, SYM, TF)[0]
    t, o = FORMING[0], FORMING[1]
    assert next_forming_state(forming, list(FORMING)) is forming
    moved = next_forming_state(forming, [t, o, 102.0, 98.5, 101.9, 12.5])
    assert moved is not None and (moved.high, moved.low, moved.close) == (102.0, 98.5, 101.9)
    assert next_forming_state(forming, [t, o, 100.8, 99.0, 100.5, 10.0]) is None  # stale state
