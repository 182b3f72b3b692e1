"""The Scalp Radar Textual app: polls a SnapshotSource into reactive state and hosts the screens."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterable
from pathlib import Path

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.clock import Clock
from textual.reactive import reactive, var
from textual.screen import Screen

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.core.user_state import UserState, UserStateError
from scalp_radar.history.types import BackfillProgress, BackfillRequest
from scalp_radar.tui.attached import with_header_note
from scalp_radar.tui.backfill_job import BackfillJob
from scalp_radar.tui.messages import (
    BackfillFinished,
    BackfillMessage,
    BackfillPlanned,
    BackfillProgressed,
    BackfillStarted,
)
from scalp_radar.tui.radar_source import RadarSource, radar_seam
from scalp_radar.tui.radar_view import PRESET_KEYS, PRESET_TITLES
from scalp_radar.tui.screens.backfill import (
    BackfillCancelRequested,
    BackfillRequested,
    BackfillScreen,
)
from scalp_radar.tui.screens.confirm import ConfirmScreen
from scalp_radar.tui.screens.detail import DetailScreen
from scalp_radar.tui.screens.help import HelpScreen
from scalp_radar.tui.screens.main import MainScreen
from scalp_radar.tui.source import SnapshotSource
from scalp_radar.tui.widgets.radar_panel import RadarPanel

DEMO_SUBTITLE = "DEMO · simulated prices, not real"


def freeze_startup_heap() -> None:
    """Collect once, then move every object alive into the permanent generation.

    A full (generation 2) collection walks every tracked object, start-up's too (ccxt's markets,
    Textual's widgets and styles): with the UI allocating a few times a second it ran every few
    seconds and paused both the UI and the engine thread for tens to hundreds of ms (the key->frame
    tail). Frozen, those objects are never walked again; what is built later is collected as usual.
    """
    gc.collect()
    gc.freeze()


class ScalpRadarApp(App[None]):
    """Pulls the engine's latest immutable snapshot `refresh_hz` times a second; never per tick.

    `snapshot`, `timeframe` and `selected` are reactive: the screens watch them and bind them to
    the widgets that show them.
    """

    CSS_PATH = "app.tcss"
    TITLE = "Scalp Radar"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
    ]

    # always_update: the engine publishes a new object when anything changed, and comparing two
    # snapshots field by field would cost more than showing one. A `var`, not a `reactive`: a
    # reactive repaints its owner, and the app's repaint is the whole screen's, 4 times a second
    # (the widgets showing the snapshot refresh what changed in them themselves).
    snapshot: var[EngineSnapshot | None] = var(None, always_update=True, init=False)
    timeframe: reactive[str | None] = reactive(None, init=False)
    selected: reactive[int] = reactive(0, init=False)
    demo: reactive[bool] = reactive(False, init=False)

    def __init__(
        self,
        source: SnapshotSource,
        *,
        demo: bool = False,
        refresh_hz: float = 4.0,
        clock: Clock | None = None,
        state_file: Path | None = None,
        freeze_heap: bool = False,
    ) -> None:
        if refresh_hz <= 0:
            raise ValueError(f"refresh_hz: expected a positive number, got {refresh_hz}")
        super().__init__()
        self.source = source
        self.radar_seam: RadarSource | None = radar_seam(source)
        try:
            self.user_state = UserState.load(state_file)
            self.user_state_problem: str | None = None
        except UserStateError as exc:
            # A broken file is shown, never overwritten: `w` saves to it only once it is fixed.
            self.user_state = UserState(Path("/nonexistent/user-state-unreadable.json"))
            self.user_state_problem = str(exc)
        self.set_reactive(ScalpRadarApp.demo, demo)
        self.refresh_hz = refresh_hz
        # A given clock means "deterministic": no animations, no blinking cursors.
        self.clock = clock or Clock()
        self.frozen = clock is not None
        if self.frozen:
            self.animation_level = "none"
        self.backfill_job: BackfillJob | None = None
        self._stop_thread: threading.Thread | None = None
        # The dashboard freezes the start-up heap once the first full picture is on screen
        # (tests leave it: many apps in one process would pile up frozen garbage).
        self._freeze_heap_pending = freeze_heap

    def get_default_screen(self) -> MainScreen:
        return MainScreen(self.user_state, self.radar_seam, id="main")

    def on_mount(self) -> None:
        self.sub_title = DEMO_SUBTITLE if self.demo else ""
        if self.user_state_problem:
            self.notify(f"watchlist not loaded: {self.user_state_problem}", severity="error")
        if self.radar_seam is not None and self.user_state.watchlist:
            self.radar_seam.set_watchlist(tuple(self.user_state.watchlist))
        self.set_interval(1 / self.refresh_hz, self.refresh_snapshot)
        self.refresh_snapshot()

    # -- polling (the right design for tick data: the engine never pushes per tick) -------------

    def refresh_snapshot(self) -> None:
        """One tick: pull the latest snapshot; watchers show it, all in one batched repaint."""
        snapshot = self.source.snapshot()
        if snapshot is None:
            # Attached and waiting for the daemon: say so instead of an empty screen's silence.
            self._show_sub_title(None)
            return
        # The same object again still goes out: a throttled chart draws what it skipped.
        with self.batch_update():
            if snapshot.connection.demo and not self.demo:
                self.demo = True  # the engine knows best: never show simulated prices unmarked
            timeframes = snapshot.timeframes
            if self.timeframe not in timeframes:
                self.timeframe = timeframes[0] if timeframes else None
            self.selected = min(self.selected, max(0, len(snapshot.symbols) - 1))
            self.title = f"Scalp Radar · {snapshot.connection.exchange}"
            self._show_sub_title(snapshot.connection.problem)
            self.snapshot = snapshot
        if self._freeze_heap_pending and (
            snapshot.universe.rows or snapshot.universe.mode == "off"
        ):
            self._freeze_heap_pending = False  # start-up is over: markets loaded, screen built
            self.call_after_refresh(freeze_startup_heap)

    def watch_demo(self) -> None:
        self._show_sub_title(self.snapshot.connection.problem if self.snapshot else None)

    def _show_sub_title(self, problem: str | None) -> None:
        """DEMO marker and the connection's failure reason, in the header."""
        sub = DEMO_SUBTITLE if self.demo else ""
        if problem:
            sub = f"{sub} · ✖ {problem}" if sub else f"✖ {problem}"
        # Attached to a daemon: "attached · daemon up 3 d", or that it is lost (picture STALE).
        sub = with_header_note(sub, self.source)
        if self.sub_title != sub:
            self.sub_title = sub

    @property
    def selected_symbol(self) -> str | None:
        """The symbol under the radar cursor."""
        if self.snapshot is None or not self.snapshot.symbols:
            return None
        return self.snapshot.symbols[self.selected]

    # -- actions -------------------------------------------------------------------------------

    def action_cycle_timeframe(self) -> None:
        """Next timeframe of the snapshot, wrapping around."""
        if self.snapshot is None or not self.snapshot.timeframes:
            return
        tfs = self.snapshot.timeframes
        i = tfs.index(self.timeframe) if self.timeframe in tfs else -1
        self.timeframe = tfs[(i + 1) % len(tfs)]

    def action_select(self, step: int) -> None:
        """Move the radar cursor by `step` symbols (wrapping)."""
        if self.snapshot is None or not self.snapshot.symbols:
            return
        self.selected = (self.selected + step) % len(self.snapshot.symbols)

    def action_detail(self) -> None:
        if self.selected_symbol is not None:
            self.push_screen(DetailScreen(self.selected_symbol, self.clock))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The candle radar's keys are off while the market radar (with its own keys) is shown.
        candle_radar_keys = action in ("select", "detail", "cycle_timeframe")
        return not (candle_radar_keys and self.screen.has_class("-universe"))

    @on(RadarPanel.OpenDetail)
    def _open_detail(self, event: RadarPanel.OpenDetail) -> None:
        self.open_detail(event.symbol)

    def open_detail(self, symbol: str) -> None:
        """The candle chart when `symbol` streams candles, else its ticker detail."""
        from scalp_radar.tui.screens.ticker_detail import TickerDetailScreen

        streamed = self.snapshot is not None and symbol in self.snapshot.symbols
        if streamed:
            self.push_screen(DetailScreen(symbol, self.clock))
        else:
            self.push_screen(TickerDetailScreen(symbol, self.radar_seam, self.clock))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p): the radar's actions, backfill, help and quit."""
        yield from super().get_system_commands(screen)
        panels = screen.query(RadarPanel)
        if panels and screen.has_class("-universe"):
            panel = panels.first()
            yield SystemCommand(
                "Sort: next column", "Sort the radar by the next column (s)", panel.action_sort_next
            )
            yield SystemCommand(
                "Sort: reverse", "Reverse the radar's sort (r)", panel.action_sort_reverse
            )
            yield SystemCommand("Filter symbols", "Type part of a symbol (/)", panel.action_filter)
            yield SystemCommand(
                "Clear filter", "Show every symbol again (esc)", panel.action_clear_filter
            )
            yield SystemCommand(
                "Watch / unwatch",
                "Toggle the selected symbol in your watchlist (w)",
                panel.action_watch,
            )
            yield SystemCommand(
                "Open detail", "Detail screen of the selected symbol (enter)", panel.action_open
            )
            for i, name in enumerate(PRESET_KEYS):
                yield SystemCommand(
                    f"Preset: {PRESET_TITLES[name]}",
                    f"Rank the radar by the {PRESET_TITLES[name]} preset ({i + 1})",
                    lambda name=name: panel.action_preset(name),
                )
        yield SystemCommand("Backfill", "Fetch history into the database (b)", self.action_backfill)
        yield SystemCommand("Help", "Every key and what the panes mean (?)", self.action_help)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_backfill(self) -> None:
        if self.snapshot is None:
            self.notify("The engine has not published a snapshot yet.", severity="warning")
        elif not isinstance(self.screen, BackfillScreen):
            screen = BackfillScreen(
                self.backfill_job,
                snapshot=self.snapshot,
                symbol=self.selected_symbol,
                timeframe=self.timeframe,
                clock=self.clock,
                blink=not self.frozen,
            )
            self.push_screen(screen)

    async def action_quit(self) -> None:
        """Quit; with a backfill running, ask first (quitting cancels it)."""
        job = self.backfill_job
        if job is None or not job.running:
            self._quit_now()
            return
        if isinstance(self.screen, ConfirmScreen):
            return
        done = job.latest.windows_done if job.latest else 0
        total = job.plan.requests if job.plan else 0
        question = (
            f"A backfill is running ({done:,}/{total:,} requests).\n"
            "Quit and cancel it? What was stored stays valid; a rerun completes it."
        )

        def answered(quit_: bool | None) -> None:
            if quit_:
                self._quit_now()

        self.push_screen(ConfirmScreen(question, yes="Quit", no="Keep running"), answered)

    def _quit_now(self) -> None:
        self.stop_source()
        self.exit()

    # -- the backfill: a worker awaiting the engine's futures, telling the screens ---------------

    @on(BackfillRequested)
    def _backfill_requested(self, message: BackfillRequested) -> None:
        self.start_backfill(message.request)

    @on(BackfillCancelRequested)
    def _cancel_requested(self) -> None:
        self.cancel_backfill()

    def action_cancel_backfill(self) -> None:
        """`x` on the main screen: stop the running backfill (the modal has ctrl+x)."""
        if self.backfill_job is None or not self.backfill_job.running:
            self.notify("No backfill is running.", timeout=3)
            return
        self.cancel_backfill()

    def start_backfill(self, request: BackfillRequest) -> BackfillJob | None:
        """Start planning and running `request`; None while another job is still running."""
        if self.backfill_job is not None and self.backfill_job.running:
            return None
        job = BackfillJob(request)
        self.backfill_job = job
        self.post_message(BackfillStarted(job))
        self._run_backfill(job)
        return job

    def cancel_backfill(self) -> None:
        """Ask the running job to stop; its (cancelled) result arrives as BackfillFinished."""
        job = self.backfill_job
        if job is not None and job.running and not job.cancel_requested:
            job.cancel_requested = True
            self.source.cancel_backfill()
            self.post_message(BackfillProgressed(job))

    @work(exclusive=True, group="backfill", exit_on_error=False)
    async def _run_backfill(self, job: BackfillJob) -> None:
        try:
            job.plan = await asyncio.wrap_future(self.source.plan_backfill(job.request))
        except Exception as exc:  # shown to the user, not raised into the UI loop
            job.error = f"planning failed: {exc}"
            self.post_message(BackfillFinished(job))
            return
        self.post_message(BackfillPlanned(job))
        if job.cancel_requested:
            job.error = "cancelled before any request"
            self.post_message(BackfillFinished(job))
            return

        def progressed(progress: BackfillProgress) -> None:
            # Engine thread: swap one reference; post_message is thread-safe.
            job.latest = progress
            self.post_message(BackfillProgressed(job))

        try:
            job.result = await asyncio.wrap_future(self.source.start_backfill(job.plan, progressed))
        except Exception as exc:
            job.error = f"backfill failed: {exc}"
        self.post_message(BackfillFinished(job))

    @on(BackfillMessage)
    def _tell_screens(self, message: BackfillMessage) -> None:
        """Forward each backfill message to the screens on the stack (a closed modal misses
        nothing: it reads the job when reopened)."""
        for screen in self.screen_stack:
            screen.post_message(type(message)(message.job))

    @on(BackfillFinished)
    def _toast_result(self, message: BackfillFinished) -> None:
        """A toast only when the modal is closed: over the modal it would cover its status."""
        job = message.job
        if isinstance(self.screen, BackfillScreen):
            return
        if job.error is not None:
            self.notify(job.error, title="Backfill", severity="error", timeout=10)
        elif job.result is not None:
            self.notify(
                job.result.summary(),
                title="Backfill",
                severity="information" if job.result.complete else "warning",
                timeout=10,
            )

    # -- stopping ------------------------------------------------------------------------------

    def stop_source(self) -> None:
        """Start stopping the engine once, on a helper thread, so the terminal is given back
        while the engine flushes; `wait_source_stopped` joins it. Also called on unmount."""
        if self._stop_thread is None:
            self._stop_thread = threading.Thread(
                target=self.source.stop, name="scalp-radar-stop", daemon=True
            )
            self._stop_thread.start()

    def wait_source_stopped(self, timeout_s: float = 2.0) -> bool:
        """Join the stop started by `stop_source` (or run it now); True once it finished."""
        self.stop_source()
        assert self._stop_thread is not None
        self._stop_thread.join(timeout_s)
        return not self._stop_thread.is_alive()

    def on_unmount(self) -> None:
        self.stop_source()


# The one factory used by the CLI, the tests and the screenshot script.
make_app = ScalpRadarApp
