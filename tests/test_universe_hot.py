"""Hot symbols: promotion into the top K, demotion only past the exit rank after a hold."""

from __future__ import annotations

from scalp_radar.engine.hot import HotSet

MIN = 60_000


def names(*idx: int) -> list[str]:
    return [f"S{i}" for i in idx]


def test_top_k_are_promoted_and_a_small_rank_change_does_not_flap() -> None:
    hot = HotSet(3, exit_rank=6, min_hold_ms=5 * MIN)
    change = hot.update(names(1, 2, 3, 4, 5, 6, 7), 0)
    assert change.promoted == tuple(names(1, 2, 3)) and change.demoted == ()
    # S3 drops to rank 4 (index 3 < exit rank 6): it stays, S4 waits.
    change = hot.update(names(1, 2, 4, 3, 5, 6, 7), 10 * MIN)
    assert change.promoted == () and change.demoted == ()
    assert hot.symbols == set(names(1, 2, 3))


def test_demotion_needs_the_exit_rank_and_the_hold_time() -> None:
    hot = HotSet(2, exit_rank=4, min_hold_ms=5 * MIN)
    hot.update(names(1, 2, 3, 4, 5), 0)
    falling = names(3, 4, 5, 6, 1, 2)  # S1 and S2 now rank 5th and 6th (>= exit rank)
    assert hot.update(falling, 4 * MIN).demoted == ()  # held 4 min < 5: kept
    change = hot.update(falling, 5 * MIN)
    assert change.demoted == tuple(names(1, 2)) and change.promoted == tuple(names(3, 4))
    assert hot.symbols == set(names(3, 4))


def test_a_symbol_gone_from_the_ranking_is_demoted_after_its_hold() -> None:
    hot = HotSet(1, min_hold_ms=MIN)
    hot.update(names(1, 2), 0)
    assert hot.update(names(2, 3), MIN).demoted == ("S1",)
    assert hot.symbols == {"S2"}


def test_pinned_symbols_stay_hot_without_taking_a_slot() -> None:
    hot = HotSet(1, min_hold_ms=0)
    assert hot.pin("S9") is True
    hot.update(names(1, 2), 0)
    assert hot.symbols == {"S1", "S9"}
    change = hot.update(names(9, 2, 3), MIN)  # S9 ranks first: already hot through its pin
    assert change.promoted == () and change.demoted == ("S1",)
    assert hot.unpin("S9") is False  # it became a member meanwhile: still hot
    assert hot.symbols == {"S9"}
