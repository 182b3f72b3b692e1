"""Pilot tests of the backfill modal: validation, plan, progress, cancel, result (fake backfill)."""

from __future__ import annotations

import threading

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from scalp_radar.history.types import BackfillRequest
from scalp_radar.tui.backfill_form import FormError, parse_request
from scalp_radar.tui.fixtures import SYMBOLS, TAKEN_AT_MS
from scalp_radar.tui.screens.backfill import BackfillScreen
from scalp_radar.tui.screens.main import MainScreen
from tests.tui_fixtures import static_app

DAY = 86_400_000


async def wait_for(pilot: Pilot, predicate, timeout_s: float = 5.0) -> None:
    """Pump the app until `predicate()` holds (the fake backfill runs on its own thread)."""
    for _ in range(int(timeout_s / 0.02)):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached in time")


def test_parse_days_and_ranges():
    req = parse_request(["BTC/USDT:USDT"], ["1m"], "2", "", "", True, now_ms=TAKEN_AT_MS)
    assert req == BackfillRequest(
        ("BTC/USDT:USDT",), ("1m",), TAKEN_AT_MS - 2 * DAY, TAKEN_AT_MS, True
    )
    req = parse_request(["X"], ["1h"], "", "2026-11-01", "2026-11-02", False, now_ms=TAKEN_AT_MS)
    assert req.until_ms - req.since_ms == 2 * DAY  # 'to' includes its whole day
    req = parse_request(["X"], ["1h"], "", "2026-11-24 06:00", "", False, now_ms=TAKEN_AT_MS)
    assert req.until_ms == TAKEN_AT_MS and req.until_ms - req.since_ms == 6 * 3_600_000
    req = parse_request(["X"], ["1h"], "", "2026-11-20", "2026-11-24", False, now_ms=TAKEN_AT_MS)
    assert req.until_ms == TAKEN_AT_MS  # today's 'to' ends now (a later 'to' is refused)


def test_parse_rejects_with_one_line_naming_the_field():
    bad = [
        (([], ["1m"], "1", "", ""), "symbols:"),
        ((["X"], [], "1", "", ""), "timeframes:"),
        ((["X"], ["1m"], "-1", "", ""), "days:"),
        ((["X"], ["1m"], "99999", "", ""), "days:"),
        ((["X"], ["1m"], "", "", "2026-11-01"), "from: expected a start date"),
        ((["X"], ["1m"], "", "yesterday", ""), "from: expected a UTC date"),
        ((["X"], ["1m"], "", "2026-11-20", "2027-01-01"), "to: 2027-01-01 is in the future"),
    ]
    for args, prefix in bad:
        try:
            parse_request(*args, False, now_ms=TAKEN_AT_MS)
        except FormError as exc:
            assert str(exc).startswith(prefix) and "\n" not in str(exc)
        else:
            raise AssertionError(f"accepted {args}")


async def test_b_opens_backfill_modal_with_selection_preticked_and_escape_closes():
    app, source = static_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t", "j", "b")
        assert isinstance(app.screen, BackfillScreen)
        assert app.screen.query_one("#bf-symbols").selected == [SYMBOLS[1]]
        assert app.screen.query_one("#bf-timeframes").selected == ["5m"]
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert source.started == []


async def _start_with(pilot: Pilot, days: str = "", since: str = "", until: str = "") -> None:
    screen = pilot.app.screen
    screen.query_one("#bf-days", Input).value = days
    screen.query_one("#bf-from", Input).value = since
    screen.query_one("#bf-to", Input).value = until
    await pilot.press("ctrl+s")
    await pilot.pause()


async def test_invalid_input_is_explained_inline_and_starts_nothing():
    app, source = static_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b")
        error = app.screen.query_one("#bf-error", Static)
        cases = [
            ("0", "", "", "days: expected a number of days"),
            ("", "", "", "days: expected a number of days"),
            ("abc", "", "", "got 'abc'"),
            ("1", "2026-11-01", "", "days: leave empty"),
            ("", "2026-13-01", "", "from: expected a UTC date"),
            ("", "2026-11-20", "2026-11-10", "to: expected a date after from"),
            ("", "2027-01-01", "", "is not in the past"),
            # Regression: a future 'to' was clamped to now silently (the CLI refuses the future).
            ("", "2026-11-20", "2027-01-01", "to: 2027-01-01 is in the future"),
        ]
        for days, since, until, expected in cases:
            await _start_with(pilot, days, since, until)
            assert expected in str(error.render()), (days, since, until)
            assert error.display
        await pilot.press("shift+tab")  # unselect every timeframe -> error names the field
        screen = app.screen
        screen.query_one("#bf-timeframes").deselect_all()
        await _start_with(pilot, "1")
        assert "timeframes: select at least one" in str(error.render())
        assert source.started == []
        assert app.backfill_job is None


async def test_valid_backfill_shows_plan_then_progress_then_notifies_result():
    app, source = static_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b")
        await _start_with(pilot, "", "2026-11-20", "2026-11-21")
        await wait_for(pilot, lambda: app.backfill_job is not None and not app.backfill_job.running)
        app.refresh_snapshot()
        await pilot.pause()
        job = app.backfill_job
        request = job.request
        assert request.symbols == (SYMBOLS[0],) and request.timeframes == ("1m",)
        assert request.until_ms - request.since_ms == 2 * 86_400_000
        (ran,) = source.started
        assert ran is job.plan  # the job runs exactly the plan the user saw
        screen = app.screen
        assert "plan: 15 requests · 2,880 candles" in str(screen.query_one("#bf-plan").render())
        assert "complete: 2,880 candles" in str(screen.query_one("#bf-status").render())
        assert screen.query_one("#bf-progress").percentage == 1.0
        # The modal shows the result itself: no toast over its status lines.
        assert not app._notifications
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_cancel_stops_a_running_backfill():
    app, source = static_app(hold_at=2, step_s=0.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b")
        await _start_with(pilot, "1")
        await wait_for(
            pilot,
            lambda: (
                app.backfill_job.latest is not None and app.backfill_job.latest.windows_done == 2
            ),
        )
        app.refresh_snapshot()
        await pilot.pause()
        assert not app.screen.query_one("#bf-cancel").disabled
        assert app.screen.query_one("#bf-start").disabled
        app.screen.query_one("#bf-cancel").press()
        await wait_for(pilot, lambda: not app.backfill_job.running)
        result = app.backfill_job.result
        assert result.cancelled and result.windows_done == 2
        app.refresh_snapshot()
        await pilot.pause()
        status = str(app.screen.query_one("#bf-status").render())
        assert "cancelled after 2/8 requests" in status
        assert status.count("rerun to complete") == 1


async def test_result_names_missing_windows_and_survives_closing_the_modal():
    gate = threading.Event()
    app, _ = static_app(failing_symbols=("ETH/USDT:USDT",), gate=gate)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("j", "b")
        await _start_with(pilot, "0.1")
        await pilot.press("escape")  # the job keeps running without the modal
        assert isinstance(app.screen, MainScreen)
        gate.set()  # only now may the job end: its result arrives with the modal closed
        await wait_for(pilot, lambda: not app.backfill_job.running)
        await pilot.pause()  # the worker set the result; let BackfillFinished be handled
        notes = [(n.message, n.severity) for n in app._notifications]
        assert any(
            "incomplete: 1 request failed (candles missing): ETH/USDT:USDT 1m" in m
            and s == "warning"
            for m, s in notes
        )


async def test_backfill_finished_message_is_posted_once():
    from scalp_radar.tui.messages import BackfillFinished

    app, _ = static_app()
    messages = []
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await pilot.press("b", "ctrl+s")
        await wait_for(pilot, lambda: app.backfill_job is not None and not app.backfill_job.running)
        for _ in range(3):
            app.refresh_snapshot()
            await pilot.pause()
    # Posted once by the worker; the app forwards one copy to each screen on the stack (main
    # and the modal) and nothing loops back (bubble=False on every subclass).
    finished = [m for m in messages if isinstance(m, BackfillFinished)]
    jobs = {id(m.job) for m in finished}
    assert len(jobs) == 1
    assert len(finished) == 3  # the worker's one, then one copy for each of the two screens
    job = finished[0].job
    assert job.result is not None and job.result.complete


def _shown(widget: Input) -> str:
    """The text an Input really shows on screen (its content line, without the border)."""
    return widget.render_line(0).text


@pytest.mark.slow
async def test_period_boxes_show_every_character_typed():
    # Regression: `365` showed `5` and the date boxes cut the first digit (padding + cursor cell).
    app, _ = static_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b")
        screen = app.screen
        for box_id, text in (
            ("#bf-days", "365"),
            ("#bf-from", "2026-11-20"),
            ("#bf-to", "2026-11-21"),
        ):
            box = screen.query_one(box_id, Input)
            box.value = ""
            box.focus()
            await pilot.press(*text)
            await pilot.pause()
            assert text in _shown(box), (box_id, _shown(box))
