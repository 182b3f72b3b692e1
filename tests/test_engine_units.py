"""Unit tests of the engine's pure parts: validator, rolling buffer, backoff, staleness bound."""

from __future__ import annotations

import random

import pytest

from scalp_radar.core.models import Candle, TimeFrame
from scalp_radar.engine.buffer import CandleBuffer, Outcome
from scalp_radar.engine.stream import expected_update_interval_s, stale_after_s
from scalp_radar.engine.validator import DataValidator
from scalp_radar.exchange.backoff import Backoff

SYM = "BTC/USDT:USDT"
TF = TimeFrame.M1
STEP = 60_000
T0 = 1_700_000_040_000 - 1_700_000_040_000 % STEP


def row(i: int, o=100.0, h=101.0, lo=99.0, c=100.5, v=10.0) -> list:
    return [T0 + i * STEP, o, h, lo, c, v]


def candle(i: int, **kw) -> Candle:
    got = DataValidator.check_candle(row(i, **kw), SYM, TF)[0]
    assert got is not None
    return got


class TestValidator:
    def test_valid_row_becomes_candle(self):
        c = DataValidator.check_candle(row(0), SYM, TF)[0]
        assert c is not None and c.timestamp == T0 and c.close == 100.5

    @pytest.mark.parametrize(
        "bad",
        [
            [T0, 100.0, 99.0, 101.0, 100.0, 1.0],  # high < low
            [T0, 100.0, 101.0, 99.0, 100.0, -1.0],  # negative volume
            [T0, 0.0, 101.0, 99.0, 100.0, 1.0],  # zero open
            [T0 + 1, 100.0, 101.0, 99.0, 100.0, 1.0],  # misaligned ts
            [T0, float("nan"), 101.0, 99.0, 100.0, 1.0],  # NaN
            [T0, float("inf"), 101.0, 99.0, 100.0, 1.0],  # inf
            [T0, 100.0, 101.0, 99.0],  # short row
            [T0, "x", 101.0, 99.0, 100.0, 1.0],  # unreadable
            [None, 100.0, 101.0, 99.0, 100.0, 1.0],  # no timestamp
            [T0, 100.0, 99.5, 99.0, 100.0, 1.0],  # high below open/close
        ],
    )
    def test_invalid_rows_rejected_with_reason(self, bad):
        c, why = DataValidator.check_candle(bad, SYM, TF)
        assert c is None and why

    def test_future_candle_rejected_when_now_given(self):
        assert DataValidator.check_candle(row(5), SYM, TF, now_ms=T0 + STEP)[0] is None
        assert DataValidator.check_candle(row(1), SYM, TF, now_ms=T0 + STEP)[0] is not None

    def test_check_gap_and_duplicate(self):
        assert DataValidator.check_gap(T0, T0 + STEP, TF) == 0
        assert DataValidator.check_gap(T0, T0 + 4 * STEP, TF) == 3
        assert DataValidator.check_gap(None, T0, TF) == 0
        assert DataValidator.is_duplicate(T0, T0) and DataValidator.is_duplicate(T0, T0 - STEP)
        assert not DataValidator.is_duplicate(T0, T0 + STEP) and not DataValidator.is_duplicate(
            None, T0
        )


class TestBuffer:
    def test_forming_then_close_on_newer_ts(self):
        b = CandleBuffer(SYM, TF, 10)
        assert b.apply(candle(0)).outcome is Outcome.FORMING
        assert b.apply(candle(0, h=102.0, c=101.0, v=12.0)).outcome is Outcome.FORMING
        r = b.apply(candle(1))
        assert r.outcome is Outcome.CLOSED and r.closed[0].high == 102.0 and r.gap is None
        assert [c.timestamp for c in b.closed] == [T0] and b.forming.timestamp == T0 + STEP

    def test_duplicate_and_out_of_order_dropped(self):
        b = CandleBuffer(SYM, TF, 10)
        for i in range(3):
            b.apply(candle(i))
        assert b.apply(candle(1)).outcome is Outcome.DUPLICATE  # identical to closed
        assert b.apply(candle(0, c=99.5)).outcome is Outcome.OUT_OF_ORDER  # older than last closed
        assert b.apply(candle(2)).outcome is Outcome.FORMING  # a repeated forming candle is normal
        # A stale state of the forming candle (narrower range, less volume) is refused.
        b.apply(candle(2, h=103.0, v=20.0))
        assert b.apply(candle(2, h=101.5, v=15.0)).outcome is Outcome.OUT_OF_ORDER
        assert b.forming.high == 103.0
        assert [c.timestamp for c in b.closed] == [T0, T0 + STEP]

    def test_correction_of_last_closed_only_if_progression(self):
        b = CandleBuffer(SYM, TF, 10)
        b.apply(candle(0))
        b.apply(candle(1))
        r = b.apply(candle(0, h=101.5, c=101.0, v=11.0))
        assert r.outcome is Outcome.CORRECTED and b.closed[-1].volume == 11.0
        assert b.apply(candle(0, v=10.5)).outcome is Outcome.OUT_OF_ORDER

    def test_gap_detected_on_skipped_candles(self):
        b = CandleBuffer(SYM, TF, 10)
        b.apply(candle(0))
        b.apply(candle(1))
        r = b.apply(candle(4))
        assert r.outcome is Outcome.CLOSED
        assert r.gap == (T0 + 2 * STEP, T0 + 4 * STEP)

    def test_bounded_and_merge_fills_hole(self):
        b = CandleBuffer(SYM, TF, 5)
        for i in [0, 1, 4, 5, 6, 7]:
            b.apply(candle(i))
        assert len(b.closed) == 5 and b.last_closed_ts == T0 + 6 * STEP
        added = b.merge([candle(2), candle(3)])
        assert [c.timestamp for c in added] == [T0 + 2 * STEP, T0 + 3 * STEP]
        assert [c.timestamp for c in b.closed] == [T0 + i * STEP for i in range(2, 7)]
        assert b.maxlen == 5 and len(b.closed) == 5

    def test_restart_gap_from_seeded_history(self):
        b = CandleBuffer(SYM, TF, 10)
        b.seed([candle(0), candle(1)])
        # Snapshot after restart: old rows are expected, then a jump.
        assert b.apply(candle(0), resync=True).outcome is Outcome.DUPLICATE
        r = b.apply(candle(5), resync=True)
        assert r.outcome is Outcome.FORMING and r.gap == (T0 + 2 * STEP, T0 + 5 * STEP)

    def test_recent_closes(self):
        b = CandleBuffer(SYM, TF, 10)
        for i in range(4):
            b.apply(candle(i, c=100.0 + i * 0.1, h=101.0))
        assert b.recent_closes(2) == pytest.approx((100.2, 100.3))


class TestBackoff:
    def test_grows_with_jitter_and_cap(self):
        b = Backoff(1.0, 8.0, 60.0, rng=random.Random(1))
        delays = [b.next_delay() for _ in range(8)]
        ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
        for d, cap in zip(delays, ceilings, strict=True):
            assert cap / 2 <= d <= cap
        assert b.attempt == 8

    def test_reset_after_stable_period(self):
        now = [0.0]
        b = Backoff(1.0, 8.0, 10.0, monotonic=lambda: now[0])
        b.next_delay()
        b.next_delay()
        b.connected()
        now[0] = 5.0
        assert not b.reset_if_stable() and b.attempt == 2
        now[0] = 10.5
        assert b.reset_if_stable() and b.attempt == 0

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="base_s"):
            Backoff(0.0, 1.0)


def test_stale_bound_scales_with_timeframe_and_speed():
    assert expected_update_interval_s(TimeFrame.M1) == 1.0
    assert expected_update_interval_s(TimeFrame.H1) == 60.0
    assert expected_update_interval_s(TimeFrame.W1) == 60.0
    assert stale_after_s(TimeFrame.M1, 3.0, 15.0) == 15.0
    assert stale_after_s(TimeFrame.H1, 3.0, 15.0) == 180.0
    assert stale_after_s(TimeFrame.H1, 3.0, 0.5, speed=60.0) == 3.0


def test_snapshot_of_a_full_buffer_never_reads_over_capacity():
    # Regression: a full buffer plus its forming candle showed as 501/500 on the dashboard.
    from types import SimpleNamespace

    from scalp_radar.core.models import Candle, TimeFrame
    from scalp_radar.core.snapshot import StreamState
    from scalp_radar.engine.buffer import CandleBuffer
    from scalp_radar.engine.snapshot_build import stream_snapshot

    def candle(i: int) -> Candle:
        return Candle(
            symbol="BTC/USDT:USDT",
            timeframe=TimeFrame.M1,
            timestamp=i * 60_000,
            open=100 + i,
            high=101 + i,
            low=99 + i,
            close=100.5 + i,
            volume=1,
        )

    buf = CandleBuffer("BTC/USDT:USDT", TimeFrame.M1, maxlen=3)
    buf.seed([candle(i) for i in range(1, 6)])
    buf.forming = candle(6)
    stream = SimpleNamespace(
        symbol="BTC/USDT:USDT",
        timeframe=TimeFrame.M1,
        state=StreamState.LIVE,
        buffer=buf,
        last_update_ms=None,
        next_retry_at=None,
        gaps_detected=0,
        gaps_healed=0,
        gaps_open=0,
        invalid_dropped=0,
        duplicates_dropped=0,
        out_of_order_dropped=0,
        reconnects=0,
        backoff=SimpleNamespace(attempt=0),
        reason=None,
        last_error=None,
    )
    snap = stream_snapshot(stream, now_ms=0, speed=1.0, points=2, updates_per_s=0.0)
    assert (snap.buffer_len, snap.buffer_capacity) == (3, 3)
    assert snap.recent_closes == (105.5, 106.5)  # last closed, then the forming one
    wide = stream_snapshot(stream, now_ms=0, speed=1.0, points=10, updates_per_s=0.0)
    assert [v.timestamp // 60_000 for v in wide.recent_candles] == [3, 4, 5, 6]


def test_rate_meter_shows_nothing_until_a_full_window_after_the_first_update():
    """The subscribe burst (a candle snapshot) must not read as thousands of updates per second."""
    from scalp_radar.engine.snapshot_build import RateMeter

    meter = RateMeter()
    assert meter.rate(1, 0, now_ms=0, speed=1.0) == 0.0  # first frame: nothing received yet
    assert meter.rate(1, 0, now_ms=300, speed=1.0) == 0.0
    # The burst of 1,000 snapshot candles lands: still warming up, no window has been measured.
    assert meter.rate(1, 1000, now_ms=600, speed=1.0) == 0.0
    assert meter.rate(1, 1001, now_ms=900, speed=1.0) == 0.0  # window not full yet
    # One full second of live pushes after the burst: the true rate.
    assert meter.rate(1, 1005, now_ms=1600, speed=1.0) == pytest.approx(5.0)
    # Virtual time: a 60x clock measures per real second.
    assert meter.rate(1, 1011, now_ms=1600 + 60_000, speed=60.0) == pytest.approx(6.0)


def test_view_cache_follows_every_change_of_the_forming_and_closed_candles():
    # The snapshot's views are cached per stream: each change must show, an unchanged stream
    # reuses its views.
    from scalp_radar.engine.snapshot_build import ViewCache, candle_views

    buf = CandleBuffer(SYM, TF, maxlen=5)
    cache = ViewCache()
    for i in range(3):
        buf.apply(candle(i))
    first = cache.views(buf, 3)
    assert first == (candle_views(buf, 3), tuple(v.close for v in candle_views(buf, 3)))
    assert cache.views(buf, 3)[0] is first[0]  # nothing changed: the same views
    buf.apply(candle(2, h=102.0, c=101.5))  # the forming candle moved
    views, closes = cache.views(buf, 3)
    assert views == candle_views(buf, 3) and closes[-1] == 101.5
    buf.apply(candle(3))  # candle 2 closed, 3 forms
    views, closes = cache.views(buf, 3)
    assert [v.timestamp for v in views] == [T0 + i * STEP for i in (1, 2, 3)]
    assert [v.closed for v in views] == [True, True, False] and closes[1] == 101.5


def test_validated_rows_equal_validated_models():
    # The per-update constructor skips pydantic: its candles must be the models pydantic builds.
    got, _ = DataValidator.check_candle(row(0, c=100.25), SYM, TF)
    want = Candle(
        symbol=SYM,
        timeframe=TF,
        timestamp=T0,
        open=100.0,
        high=101.0,
        low=99.0,
        close=100.25,
        volume=10.0,
    )
    assert got == want and hash(got) == hash(want) and got.model_dump() == want.model_dump()
    buf = CandleBuffer(SYM, TF)
    buf.apply(got)
    buf.apply(candle(1))
    assert buf.closed[0] == want and buf.apply(candle(1)).outcome is Outcome.FORMING


def test_engine_gc_thresholds_are_raised_never_lowered():
    import gc

    from scalp_radar.engine.gc_tuning import ENGINE_GC_THRESHOLDS, tune_gc

    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        tune_gc()
        assert gc.get_threshold() == ENGINE_GC_THRESHOLDS
        gc.set_threshold(100_000, 10, 50)
        tune_gc()
        assert gc.get_threshold() == (100_000, 20, 50)
    finally:
        gc.set_threshold(*saved)
