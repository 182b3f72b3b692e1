"""Backfill modal: pick symbols, timeframes and a period; see the plan, the progress, the result."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.clock import Clock
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.history.types import BackfillRequest
from scalp_radar.tui import format as fmt
from scalp_radar.tui.backfill_form import FormError, parse_request
from scalp_radar.tui.backfill_job import BackfillJob
from scalp_radar.tui.messages import (
    BackfillFinished,
    BackfillMessage,
    BackfillPlanned,
    BackfillProgressed,
    BackfillStarted,
)
from scalp_radar.tui.screens.mirror import mirror_app_state
from scalp_radar.tui.widgets.checks import CheckBox, CheckList


class BackfillRequested(Message):
    """The user asked for `request` (the app starts it and answers with BackfillStarted)."""

    def __init__(self, request: BackfillRequest) -> None:
        super().__init__()
        self.request = request


class BackfillCancelRequested(Message):
    """The user asked to stop the running backfill."""


class BackfillScreen(ModalScreen[None]):
    """The form; the job itself lives on the app, so closing the modal does not stop it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+s", "start", "Start", show=False),
        # priority: the date fields would take ctrl+x as "cut".
        Binding("ctrl+x", "cancel_job", "Cancel backfill", show=False, priority=True),
    ]

    snapshot: reactive[EngineSnapshot | None] = reactive(None, always_update=True, init=False)

    def __init__(
        self,
        job: BackfillJob | None,
        *,
        snapshot: EngineSnapshot,
        symbol: str | None,
        timeframe: str | None,
        clock: Clock,
        blink: bool = True,
    ) -> None:
        super().__init__()
        self.job = job
        self.set_reactive(BackfillScreen.snapshot, snapshot)
        self.symbol = symbol
        self.timeframe = timeframe
        self.clock = clock
        self.blink = blink

    def compose(self) -> ComposeResult:
        snapshot = self.snapshot
        symbols = snapshot.symbols if snapshot else ()
        timeframes = snapshot.timeframes if snapshot else ()
        with Vertical(id="bf-box") as box:
            box.border_title = "Backfill history into the database"
            box.border_subtitle = "tab next · space toggle · ^s start · ^x cancel · esc close"
            with Horizontal(id="bf-lists"):
                symbols_list = CheckList(
                    *((fmt.short_symbol(s), s, s == self.symbol) for s in symbols),
                    id="bf-symbols",
                )
                symbols_list.border_title = "symbols"
                yield symbols_list
                tf_list = CheckList(
                    *((tf, tf, tf == self.timeframe) for tf in timeframes), id="bf-timeframes"
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
            yield ProgressBar(id="bf-progress", show_eta=False, clock=self.clock)
            yield Static("", id="bf-status")
            with Horizontal(id="bf-buttons"):
                yield Button("Start", id="bf-start", variant="primary")
                yield Button("Cancel backfill", id="bf-cancel", variant="error", disabled=True)
                yield Button("Close", id="bf-close")

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = self.blink
        mirror_app_state(self, ("snapshot",))  # "now" for the form is the engine's clock
        self._show_job()

    # -- the user ------------------------------------------------------------------------------

    @on(Button.Pressed, "#bf-start")
    @on(Input.Submitted)
    def _start_pressed(self, event: Message) -> None:
        event.stop()
        self.action_start()

    @on(Button.Pressed, "#bf-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel_job()

    @on(Button.Pressed, "#bf-close")
    def _close_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_close()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_cancel_job(self) -> None:
        if self.job is not None and self.job.running:
            self.post_message(BackfillCancelRequested())

    def action_start(self) -> None:
        """Validate; on error explain inline and start nothing; else ask the app to run it."""
        if self.job is not None and self.job.running:
            self._error("a backfill is already running: cancel it first (ctrl+x)")
            return
        snapshot = self.snapshot
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
        self.post_message(BackfillRequested(request))

    def _error(self, message: str) -> None:
        error = self.query_one("#bf-error", Static)
        error.update(f"✖ {message}" if message else "")
        error.set_class(bool(message), "-shown")

    # -- the job (told by the app) ---------------------------------------------------------------

    @on(BackfillStarted)
    @on(BackfillPlanned)
    @on(BackfillProgressed)
    @on(BackfillFinished)
    def _job_changed(self, message: BackfillMessage) -> None:
        self.job = message.job  # a new job replaces the previous one's plan, bar and result
        self._show_job()

    def _show_job(self) -> None:
        """Show the job's plan, progress and result."""
        job = self.job
        running = job is not None and job.running
        self.query_one("#bf-start", Button).disabled = running
        self.query_one("#bf-cancel", Button).disabled = not running or bool(
            job and job.cancel_requested
        )
        self.set_class(job is not None, "-has-job")
        plan_line = self.query_one("#bf-plan", Static)
        status = self.query_one("#bf-status", Static)
        bar = self.query_one(ProgressBar)
        if job is None:
            plan_line.update("")
            status.update("")
            return
        plan_line.update(job.plan_text())
        total = job.plan.requests if job.plan else None
        done = job.latest.windows_done if job.latest else 0
        if bar.total != total or bar.progress != done:
            bar.update(total=total, progress=done)
        text = job.status_text()
        if job.error is not None:
            status.update(f"[bold red]{escape_markup(text)}[/]")
        elif job.result is not None:
            style = "green" if job.result.complete else "bold yellow"
            status.update(f"[{style}]{escape_markup(text)}[/]")
        else:
            status.update(escape_markup(text))


def escape_markup(text: str) -> str:
    """Engine text may hold [brackets] (e.g. '[Errno 111]'): show them, never parse them."""
    from rich.markup import escape

    return escape(text)
