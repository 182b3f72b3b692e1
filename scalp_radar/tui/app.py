"""The Scalp Radar Textual app: polls a SnapshotSource and hosts the screens."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.clock import Clock
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.core.user_state import UserState, UserStateError
from scalp_radar.tui.backfill_job import BackfillJob
from scalp_radar.tui.radar_source import RadarSource, radar_seam
from scalp_radar.tui.radar_view import PRESET_KEYS, PRESET_TITLES
from scalp_radar.tui.screens.main import MainScreen
from scalp_radar.tui.source import SnapshotSource

DEMO_SUBTITLE = "DEMO · simulated prices, not real"


class ScalpRadarApp(App):
    """Pulls the engine's latest immutable snapshot `refresh_hz` times a second; never per tick."""

    CSS_PATH = "app.tcss"
    TITLE = "Scalp Radar"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self,
        source: SnapshotSource,
        *,
        demo: bool = False,
        refresh_hz: float = 4.0,
        clock: Clock | None = None,
        state_file: Path | None = None,
    ) -> None:
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
        self.demo = demo
        self.refresh_hz = refresh_hz
        # A given clock means "deterministic": no animations, no blinking cursors.
        self.clock = clock or Clock()
        self.frozen = clock is not None
        if self.frozen:
            self.animation_level = "none"
        self.timeframe: str | None = None
        self.selected = 0
        self.snapshot: EngineSnapshot | None = None
        self.backfill_job: BackfillJob | None = None
        self._stop_thread: threading.Thread | None = None

    def get_default_screen(self) -> MainScreen:
        return MainScreen(id="main")

    def on_mount(self) -> None:
        self.sub_title = DEMO_SUBTITLE if self.demo else ""
        if self.user_state_problem:
            self.notify(f"watchlist not loaded: {self.user_state_problem}", severity="error")
        if self.radar_seam is not None and self.user_state.watchlist:
            self.radar_seam.set_watchlist(tuple(self.user_state.watchlist))
        self.set_interval(1 / self.refresh_hz, self.refresh_snapshot)

    # -- polling -------------------------------------------------------------------------------

    def refresh_snapshot(self) -> None:
        """One tick: pull the latest snapshot and let the visible screen show it."""
        snapshot = self.source.snapshot()
        self.snapshot = snapshot
        if snapshot is not None:
            self._fit_selection(snapshot)
            if snapshot.connection.demo and not self.demo:
                self.demo = True  # the engine knows best: never show simulated prices unmarked
            problem = snapshot.connection.problem
            sub = DEMO_SUBTITLE if self.demo else ""
            if problem:
                sub = f"{sub} · ✖ {problem}" if sub else f"✖ {problem}"
            if self.sub_title != sub:
                self.sub_title = sub
            exchange = snapshot.connection.exchange
            if self.title != f"Scalp Radar · {exchange}":
                self.title = f"Scalp Radar · {exchange}"
        if self.backfill_job is not None:
            self.backfill_job.poll(self)
        with self.batch_update():
            # The top screen, and the one under a modal (it stays partly visible); screens set
            # `ready` in on_mount, once their widgets exist. Hidden screens are not updated.
            for screen in reversed(self.screen_stack):
                if getattr(screen, "ready", False):
                    try:
                        screen.tick(snapshot)  # type: ignore[attr-defined]
                    except NoMatches:
                        # The timer can fire while the app tears a screen down (quit with the
                        # backfill modal open): its widgets are gone and there is nothing to show.
                        continue
                if not isinstance(screen, ModalScreen):
                    break

    def _fit_selection(self, snapshot: EngineSnapshot) -> None:
        timeframes = snapshot.timeframes
        if self.timeframe not in timeframes:
            self.timeframe = timeframes[0] if timeframes else None
        self.selected = min(self.selected, max(0, len(snapshot.symbols) - 1))

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
        self.refresh_snapshot()

    def action_select(self, step: int) -> None:
        """Move the radar cursor by `step` symbols (wrapping)."""
        if self.snapshot is None or not self.snapshot.symbols:
            return
        self.selected = (self.selected + step) % len(self.snapshot.symbols)
        self.refresh_snapshot()

    def action_detail(self) -> None:
        from scalp_radar.tui.screens.detail import DetailScreen

        if self.selected_symbol is not None:
            self.push_screen(DetailScreen(self.selected_symbol))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The candle radar's keys are off while the market radar (with its own keys) is shown.
        candle_radar_keys = action in ("select", "detail", "cycle_timeframe")
        return not (candle_radar_keys and self.screen.has_class("-universe"))

    def open_detail(self, symbol: str) -> None:
        """The candle chart when `symbol` streams candles, else its ticker detail."""
        from scalp_radar.tui.screens.detail import DetailScreen
        from scalp_radar.tui.screens.ticker_detail import TickerDetailScreen

        streamed = self.snapshot is not None and symbol in self.snapshot.symbols
        if streamed:
            self.push_screen(DetailScreen(symbol))
        else:
            self.push_screen(TickerDetailScreen(symbol, self.radar_seam))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p): the radar's actions, backfill, help and quit."""
        from scalp_radar.tui.widgets.radar_panel import RadarPanel

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
        from scalp_radar.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_backfill(self) -> None:
        from scalp_radar.tui.screens.backfill import BackfillScreen

        if self.snapshot is not None:
            self.push_screen(BackfillScreen())
        else:
            self.notify("The engine has not published a snapshot yet.", severity="warning")

    async def action_quit(self) -> None:
        self.stop_source()
        self.exit()

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


def make_app(
    source: SnapshotSource,
    *,
    demo: bool = False,
    refresh_hz: float = 4.0,
    clock: Clock | None = None,
    state_file: Path | None = None,
) -> ScalpRadarApp:
    """The one factory used by the CLI, the tests and the screenshot script."""
    if refresh_hz <= 0:
        raise ValueError(f"refresh_hz: expected a positive number, got {refresh_hz}")
    return ScalpRadarApp(
        source, demo=demo, refresh_hz=refresh_hz, clock=clock, state_file=state_file
    )
