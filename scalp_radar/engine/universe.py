"""Which perpetuals the radar tracks: every active linear USDT swap, the top N, or the watchlist."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scalp_radar.core.config_models import AppConfig, UniverseConfig


def tradable_markets(markets: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """ccxt symbol -> exchange id of every active linear USDT-settled perpetual swap."""
    out: dict[str, str] = {}
    for symbol, m in markets.items():
        if not (m.get("swap") and m.get("linear") and m.get("settle") == "USDT"):
            continue
        if m.get("quote") != "USDT" or m.get("active") is False:
            continue  # active None means the exchange did not say: keep it
        out[symbol] = str(m.get("id"))
    return out


def select_universe(
    cfg: UniverseConfig,
    markets: Mapping[str, str],
    quote_volumes: Mapping[str, float],
    watchlist: Sequence[str],
) -> list[str]:
    """The universe, most traded first; watchlist symbols always in (unless excluded).

    `markets` is `tradable_markets(...)`; `quote_volumes` the 24 h quote volume per symbol
    (symbols without one sort last and pass `min_quote_volume_24h` only when it is 0).
    """
    excluded = set(cfg.exclude)
    watched = [s for s in watchlist if s in markets and s not in excluded]
    if cfg.mode == "watchlist":
        return watched

    def volume(symbol: str) -> float:
        v = quote_volumes.get(symbol)
        return v if v is not None and v == v else -1.0

    floor = cfg.min_quote_volume_24h
    pool = [s for s in markets if s not in excluded and (volume(s) >= floor if floor > 0 else True)]
    pool.sort(key=lambda s: (-volume(s), s))
    if cfg.mode == "top":
        pool = pool[: cfg.top]
    chosen = set(pool)
    return pool + [s for s in watched if s not in chosen]


def apply_universe_override(config: AppConfig, keys: Mapping[str, Any]) -> AppConfig:
    """A copy of `config` whose `universe:` has `keys` set (`--universe`), validated again."""
    merged = {**config.universe.model_dump(), **keys}
    return config.model_copy(update={"universe": UniverseConfig.model_validate(merged)})
