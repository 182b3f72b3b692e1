"""What a finished backfill tells the user."""

from scalp_radar.history.types import BackfillResult


def test_summary_never_hides_candles_the_exchange_did_not_have():
    # Regression: the TUI shows only summary(), which said "complete" with no word of the
    # candles a short window did not return.
    short = BackfillResult(
        candles_stored=100, windows_done=1, windows_total=1, elapsed_s=1.0, missing_candles=40
    )
    assert short.complete
    assert "40 candles not available" in short.summary()
    full = BackfillResult(candles_stored=140, windows_done=1, windows_total=1, elapsed_s=1.0)
    assert full.summary() == "complete: 140 candles stored in 1.0s"


def test_failed_windows_are_named_and_cancel_says_rerun():
    failed = BackfillResult(
        candles_stored=0,
        windows_done=0,
        windows_total=7,
        elapsed_s=1.0,
        failed_windows=tuple(f"w{i}" for i in range(7)),
    )
    assert not failed.complete
    assert failed.summary().startswith("incomplete: 7 requests failed (candles missing): w0; w1")
    assert "(+2 more)" in failed.summary()
    cancelled = BackfillResult(
        candles_stored=5, windows_done=1, windows_total=2, elapsed_s=1.0, cancelled=True
    )
    assert cancelled.summary().count("rerun to complete") == 1
