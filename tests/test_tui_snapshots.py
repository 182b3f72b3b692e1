"""Snapshot tests of every screen: fixed snapshots, frozen clocks, no engine.

Regenerate after an intended visual change: `.venv/bin/pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from textual.pilot import Pilot

from tests.tui_fixtures import degraded_snapshot, healthy_snapshot, radar_app, static_app

NARROW = (80, 24)
MEDIUM = (120, 40)
WIDE = (160, 48)


class TestMainScreen:
    def test_healthy_80x24(self, snap_compare):
        app, _ = static_app(healthy_snapshot())
        assert snap_compare(app, terminal_size=NARROW)

    def test_healthy_160x48(self, snap_compare):
        app, _ = static_app(healthy_snapshot())
        assert snap_compare(app, terminal_size=WIDE)

    def test_degraded_80x24(self, snap_compare):
        app, _ = static_app(degraded_snapshot(), demo=False)
        assert snap_compare(app, terminal_size=NARROW)

    def test_degraded_120x40(self, snap_compare):
        """Connection and incidents share the width (the connection pane once got 30 of 120)."""
        app, _ = static_app(degraded_snapshot(), demo=False)
        assert snap_compare(app, terminal_size=MEDIUM)

    def test_degraded_160x48(self, snap_compare):
        app, _ = static_app(degraded_snapshot(), demo=False)
        assert snap_compare(app, terminal_size=WIDE)

    def test_second_symbol_5m_selected(self, snap_compare):
        app, _ = static_app(degraded_snapshot(), demo=False)
        assert snap_compare(app, terminal_size=NARROW, press=["j", "j", "t"])


class TestOtherScreens:
    def test_help(self, snap_compare):
        app, _ = static_app()
        assert snap_compare(app, terminal_size=NARROW, press=["question_mark"])

    def test_detail_chart(self, snap_compare):
        app, _ = static_app()
        assert snap_compare(app, terminal_size=NARROW, press=["enter"])

    def test_detail_chart_wide(self, snap_compare):
        app, _ = static_app()
        assert snap_compare(app, terminal_size=WIDE, press=["j", "enter"])


class TestModals:
    def test_full_text_of_an_incident(self, snap_compare):
        app, _ = static_app(degraded_snapshot(), demo=False)

        async def run_before(pilot: Pilot) -> None:
            for _ in range(6):  # tab through the panes to the incidents
                await pilot.press("tab")
                if app.focused is not None and app.focused.id == "incidents":
                    break
            assert app.focused is not None and app.focused.id == "incidents"
            await pilot.press("enter")
            await pilot.pause()

        assert snap_compare(app, terminal_size=NARROW, run_before=run_before)

    def test_confirm_quit_while_a_backfill_runs(self, snap_compare):
        app, _ = static_app(hold_at=0)  # the job runs until cancelled (quitting cancels it)

        async def run_before(pilot: Pilot) -> None:
            await pilot.press("b", "ctrl+s")
            for _ in range(200):
                if app.backfill_job is not None and app.backfill_job.running:
                    break
                await pilot.pause(0.01)
            await pilot.press("escape", "q")
            await pilot.pause()

        assert snap_compare(app, terminal_size=NARROW, run_before=run_before)


class TestBackfillModal:
    def test_empty(self, snap_compare):
        app, _ = static_app()
        assert snap_compare(app, terminal_size=NARROW, press=["b"])

    def test_validation_error(self, snap_compare):
        app, source = static_app()

        async def run_before(pilot: Pilot) -> None:
            await pilot.press("b", "tab", "tab", "backspace", "x", "enter")

        assert snap_compare(app, terminal_size=NARROW, run_before=run_before)
        assert source.started == []

    def test_running(self, snap_compare):
        app, _ = static_app(hold_at=3, step_s=0.0)

        async def run_before(pilot: Pilot) -> None:
            await pilot.press("b", "ctrl+s")
            for _ in range(200):
                job = app.backfill_job
                if job is not None and job.latest is not None and job.latest.windows_done == 3:
                    break
                await pilot.pause(0.01)
            app.refresh_snapshot()
            await pilot.pause()

        assert snap_compare(app, terminal_size=NARROW, run_before=run_before)


class TestMarketRadar:
    """The radar over the ~60-symbol fixture (tests/tui_fixtures.radar_app)."""

    def test_movers_80x24(self, snap_compare, tmp_path):
        app, _ = radar_app(state_file=tmp_path / "s.json")
        assert snap_compare(app, terminal_size=NARROW)

    def test_movers_160x48(self, snap_compare, tmp_path):
        app, _ = radar_app(state_file=tmp_path / "s.json")
        assert snap_compare(app, terminal_size=WIDE)

    def test_sorted_by_spread_reversed_80x24(self, snap_compare, tmp_path):
        app, _ = radar_app(state_file=tmp_path / "s.json")
        # s cycles 5m% -> 1h% -> surge -> sprd; r: tightest first.
        assert snap_compare(app, terminal_size=NARROW, press=["s", "s", "s", "r"])

    def test_filtered_160x48(self, snap_compare, tmp_path):
        app, _ = radar_app(state_file=tmp_path / "s.json")
        assert snap_compare(app, terminal_size=WIDE, press=["slash", "e", "t"])

    def test_funding_preset_80x24(self, snap_compare, tmp_path):
        app, _ = radar_app(state_file=tmp_path / "s.json")
        assert snap_compare(app, terminal_size=NARROW, press=["3", "down"])

    def test_panes_160x48_surge(self, snap_compare, tmp_path):
        app, _ = radar_app(state_file=tmp_path / "s.json")
        assert snap_compare(app, terminal_size=WIDE, press=["2"])

    def test_panes_on_80x24(self, snap_compare, tmp_path):
        app, _ = radar_app(state_file=tmp_path / "s.json")
        assert snap_compare(app, terminal_size=NARROW, press=["p"])

    def test_ticker_detail_80x24(self, snap_compare, tmp_path):
        app, _ = radar_app(state_file=tmp_path / "s.json")
        assert snap_compare(app, terminal_size=NARROW, press=["enter"])

    def test_panes_second_set_80x24(self, snap_compare, tmp_path):
        app, _ = radar_app(state_file=tmp_path / "s.json")
        assert snap_compare(app, terminal_size=NARROW, press=["p", "p"])
