"""The store's one error type."""

from __future__ import annotations


class DatabaseError(Exception):
    """A store failure; str() is one line naming the database path."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
