"""Hot symbols: the top K of a ranking get full candle streams, with hysteresis so the set does
not flap (item 4's interface; the candle streams themselves subscribe through the same pacing).

A symbol enters when it ranks in the top `size`; it leaves only once it has fallen to rank
`exit_rank` or below AND has been hot for `min_hold_ms`. Pinned symbols (a detail screen is
open on them) are hot whatever their rank and do not take a slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HotChange:
    """What one `HotSet.update` changed."""

    promoted: tuple[str, ...]
    demoted: tuple[str, ...]


class HotSet:
    """The hot symbols and when each became hot."""

    def __init__(
        self, size: int, *, exit_rank: int | None = None, min_hold_ms: int = 300_000
    ) -> None:
        if size < 0:
            raise ValueError(f"size: expected >= 0, got {size}")
        self.size = size
        self.exit_rank = max(exit_rank if exit_rank is not None else 2 * size, size)
        self.min_hold_ms = min_hold_ms
        self.members: dict[str, int] = {}  # symbol -> became hot at (ms)
        self.pinned: set[str] = set()

    @property
    def symbols(self) -> set[str]:
        """Every symbol that should stream candles now (members and pinned)."""
        return set(self.members) | self.pinned

    def pin(self, symbol: str) -> bool:
        """Keep `symbol` hot (detail screen open); True if that newly makes it hot."""
        new = symbol not in self.symbols
        self.pinned.add(symbol)
        return new

    def unpin(self, symbol: str) -> bool:
        """Release a pin; True if the symbol is no longer hot at all."""
        self.pinned.discard(symbol)
        return symbol not in self.members

    def update(self, ranked: Sequence[str], now_ms: int) -> HotChange:
        """Apply a fresh ranking (best first); returns the promotions and demotions."""
        rank = {s: i for i, s in enumerate(ranked[: self.exit_rank])}
        demoted = [
            s
            for s, since in self.members.items()
            if rank.get(s, self.exit_rank) >= self.exit_rank and now_ms - since >= self.min_hold_ms
        ]
        for s in demoted:
            del self.members[s]
        promoted = []
        for s in ranked[: self.size]:
            if len(self.members) >= self.size:
                break
            if s not in self.members:
                self.members[s] = now_ms
                promoted.append(s)
        pinned = self.pinned
        return HotChange(
            promoted=tuple(s for s in promoted if s not in pinned),
            demoted=tuple(s for s in demoted if s not in pinned),
        )
