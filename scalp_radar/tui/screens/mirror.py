"""Screens mirror the app's reactive state, so their widgets can `data_bind` to the screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import ModalScreen, Screen

# The app's reactive attributes a screen may mirror (names shared by app and screens).
APP_STATE = ("snapshot", "timeframe", "selected", "demo")


def is_visible(screen: Screen[Any]) -> bool:
    """True for the top screen and for screens showing through the modals above them."""
    for other in reversed(screen.app.screen_stack):
        if other is screen:
            return True
        if not isinstance(other, ModalScreen):
            return False
    return False


def mirror_app_state(screen: Screen[Any], names: tuple[str, ...] = APP_STATE) -> None:
    """Copy the app's reactive `names` onto `screen` now and whenever they change, while the
    screen is visible (a hidden screen catches up when it resumes: see `resync`)."""

    def copier(name: str) -> Callable[[object], None]:
        def copy(value: object) -> None:
            if is_visible(screen):
                setattr(screen, name, value)

        return copy

    for name in names:
        screen.watch(screen.app, name, copier(name), init=True)


def resync(screen: Screen[Any], names: tuple[str, ...] = APP_STATE) -> None:
    """Catch up with the app's state (on ScreenResume, after a hidden spell)."""
    for name in names:
        setattr(screen, name, getattr(screen.app, name))
