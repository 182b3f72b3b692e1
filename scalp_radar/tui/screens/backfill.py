"""Backfill modal: pick symbols, timeframes and a period; see the plan, the progress, the result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.tui import format as fmt
from scalp_radar.tui.backfill_form import FormError, parse_request
from scalp_radar.tui.backfill_job import BackfillJob
from scalp_radar.tui.widgets.checks import CheckBox, CheckList

if TYPE_CHECKING:
    from scalp_radar.tui.app import ScalpRadarApp


class BackfillScreen(ModalScreen[None]):
    """The form; the job itself lives on the app, so closing the modal does not stop it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+s", "start", "Start", show=False),
    ]

    app: ScalpRadarApp  # type: ignore[assignment]
    ready = False

    def compose(self) -> ComposeResult:
        app = self.app
        snapshot = app.snapshot
        symbols = snapshot.symbols if snapshot else ()
        timeframes = snapshot.timeframes if snapshot else ()
        with Vertical(id="bf-box") as box:
            box.border_title = "Backfill history into the database"
            box.border_subtitle = "tab next · space toggle · ctrl+s start · esc close"
            with Horizontal(id="bf-lists"):
                symbols_list = CheckList(
                    *((fmt.short_symbol(s), s, s == app.selected_symbol) for s in symbols),
                    id="bf-symbols",
                )
                symbols_list.border_title = "symbols"
                yield symbols_list
                tf_list = CheckList(
                    *((tf, tf, tf == app.timeframe) for tf in timeframes), id="bf-timeframes"
                )
                tf_list.border_title = "timeframes"
                yield tf_list
            with Horizontal(id="bf-period"):
                yield Label("days", classes="bf-label")
                yield Input("1", id="bf-days")
                yield Label("or from", classes="bf-label")
                yield Input(placeholder="YYYY-MM-DD", id="bf-from")
                yield Label("to", classes="bf-label")
                yield Input(placeholder="YYYY-MM-DD", id="bf-to")
                yield CheckBox("force", id="bf-force")
            yield Static("", id="bf-error")
            yield Static("", id="bf-plan")
            yield ProgressBar(id="bf-progress", show_eta=False, clock=app.clock)
            yield Static("", id="bf-status")
            with Horizontal(id="bf-buttons"):
                yield Button("Start", id="bf-start", variant="primary")
                yield Button("Cancel backfill", id="bf-cancel", variant="error", disabled=True)
                yield Button("Close", id="bf-close")

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = not self.app.frozen
        self.ready = True
        self.tick(self.app.snapshot)

    # -- events --------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "bf-start":
            self.action_start()
        elif event.button.id == "bf-cancel":
            self.action_cancel_job()
        elif event.button.id == "bf-close":
            self.action_close()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_cancel_job(self) -> None:
        job = self.app.backfill_job
        if job is not None and job.running:
            job.cancel(self.app)
            self.query_one("#bf-status", Static).update("cancelling…")

    def action_start(self) -> None:
        """Validate; on error explain inline and start nothing; else plan and run."""
        app = self.app
        if app.backfill_job is not None and app.backfill_job.running:
            self._error("a backfill is already running: cancel it first")
            return
        snapshot = app.snapshot
        if snapshot is None:
            self._error("no snapshot yet: the engine is still starting")
            return
        try:
            request = parse_request(
                list(self.query_one("#bf-symbols", CheckList).selected),
                list(self.query_one("#bf-timeframes", CheckList).selected),
                self.query_one("#bf-days", Input).value,
                self.query_one("#bf-from", Input).value,
                self.query_one("#bf-to", Input).value,
                self.query_one("#bf-force", CheckBox).value,
                now_ms=snapshot.taken_at_ms,
            )
        except FormError as exc:
            self._error(str(exc))
            return
        self._error("")
        app.backfill_job = BackfillJob(request, app.source.plan_backfill(request))
        app.refresh_snapshot()

    def _error(self, message: str) -> None:
        error = self.query_one("#bf-error", Static)
        error.update(f"✖ {message}" if message else "")
        error.set_class(bool(message), "-shown")

    # -- refresh -------------------------------------------------------------------------------

    def tick(self, snapshot: EngineSnapshot | None) -> None:
        """Show the job's plan, progress and result (called by the app's refresh timer)."""
        job = self.app.backfill_job
        running = job is not None and job.running
        self.query_one("#bf-start", Button).disabled = running
        self.query_one("#bf-cancel", Button).disabled = not running
        self.set_class(job is not None, "-has-job")
        if job is None:
            return
        plan = job.plan
        plan_text = (
            f"plan: {plan.requests} request{'' if plan.requests == 1 else 's'} · {plan.expected_candles:,} candles · "
            f"ETA {fmt.duration(plan.eta_s)}"
            if plan
            else "planning…"
        )
        if plan and plan.already_stored:
            plan_text += f" · {plan.already_stored:,} already stored"
        self.query_one("#bf-plan", Static).update(plan_text)
        bar = self.query_one(ProgressBar)
        progress = job.latest
        total = progress.windows_total if progress else plan.requests if plan else None
        done = progress.windows_done if progress else 0
        if total is not None and (bar.total != total or bar.progress != done):
            bar.update(total=total, progress=done)
        status = self.query_one("#bf-status", Static)
        if job.error is not None:
            status.update(f"[bold red]✖ {job.error}[/]")
        elif job.result is not None:
            style = "green" if job.result.complete else "bold yellow"
            status.update(f"[{style}]{job.result.summary()}[/]")
        elif progress is not None:
            status.update(
                f"{progress.windows_done}/{progress.windows_total} windows · "
                f"{progress.candles_stored:,} candles · {progress.candles_per_s:,.0f}/s · "
                f"ETA {fmt.duration(progress.eta_s)}"
            )
        elif job.cancel_requested:
            status.update("cancelling…")
