"""Pydantic models of the four YAML config files and the cross-checked AppConfig.

Every model rejects unknown keys so a typo fails at load time instead of being ignored.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from scalp_radar.core.config_errors import CrossCheckError
from scalp_radar.core.config_secrets import SecretsConfig
from scalp_radar.core.timeframe import TimeFrame

# ccxt.pro's bitget has no websocket channel for these (watch_ohlcv raises TypeError).
NON_STREAMABLE_TIMEFRAMES = frozenset({TimeFrame.H2})
STREAMABLE_TIMEFRAMES = tuple(tf for tf in TimeFrame if tf not in NON_STREAMABLE_TIMEFRAMES)
RATE_LIMIT_CATEGORIES = ("market_data", "trade", "account", "position")
_SYMBOL_RE = re.compile(r"^[A-Z0-9]+/USDT:USDT$")


def _stream_timeframe(value: Any) -> TimeFrame:
    """Parse a timeframe the websocket can stream; the error lists the valid values."""
    valid = ", ".join(tf.value for tf in STREAMABLE_TIMEFRAMES)
    try:
        tf = value if isinstance(value, TimeFrame) else TimeFrame.from_string(str(value))
    except ValueError:
        raise ValueError(f"unknown timeframe {value!r}: expected one of {valid}") from None
    if tf in NON_STREAMABLE_TIMEFRAMES:
        raise ValueError(
            f"timeframe {tf.value!r} cannot be streamed over Bitget's websocket "
            f"(ccxt.pro has no channel for it): expected one of {valid}"
        )
    return tf


StreamTimeFrame = Annotated[TimeFrame, BeforeValidator(_stream_timeframe)]
Percent = Annotated[float, Field(gt=0, le=100)]
NonNegPercent = Annotated[float, Field(ge=0, le=100)]
# Every number has a finite range (documented in the YAML comments): what `config check`
# accepts must run, and 1e308 seconds or a 10^26-candle buffer do not.
Multiplier = Annotated[float, Field(gt=0, le=1000)]
Leverage = Annotated[int, Field(ge=1, le=200)]  # Bitget's highest USDT-M leverage is x125-x200
Period = Annotated[int, Field(ge=1, le=1000)]  # candles in an indicator window


class _Strict(BaseModel):
    """Base: unknown keys rejected, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# ---------------------------------------------------------------- assets.yaml


class AssetConfig(_Strict):
    """One USDT-M perpetual to watch."""

    symbol: str
    exchange: str = "bitget"
    type: Literal["swap"] = "swap"
    timeframes: list[StreamTimeFrame] = Field(min_length=1)
    max_leverage: Leverage
    tick_size: float = Field(gt=0, le=1_000_000)
    correlation_group: str | None = None

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        if not _SYMBOL_RE.match(value):
            raise ValueError(
                f"expected a ccxt USDT-M perpetual symbol like BTC/USDT:USDT, got {value!r}"
            )
        return value

    @field_validator("timeframes")
    @classmethod
    def _unique_timeframes(cls, value: list[TimeFrame]) -> list[TimeFrame]:
        if len(set(value)) != len(value):
            raise ValueError("expected each timeframe once (found a duplicate)")
        return value


class CorrelationGroupConfig(_Strict):
    """Exposure limits over assets that move together."""

    max_concurrent_same_direction: int = Field(ge=1, le=100)
    max_exposure_percent: Percent


class UniverseConfig(_Strict):
    """The `universe:` section of assets.yaml: which perpetuals the radar tracks, and how.

    Connection limits are Bitget's (per IP / per connection); the defaults keep a margin.
    """

    mode: Literal["all", "top", "watchlist"] = "all"
    top: int = Field(default=100, ge=1, le=2000)
    min_quote_volume_24h: float = Field(default=0.0, ge=0)
    exclude: list[str] = Field(default_factory=list)
    channels_per_shard: int = Field(default=50, ge=1, le=1000)
    max_connections: int = Field(default=40, ge=1, le=100)
    new_connections_per_5min: int = Field(default=250, ge=1, le=300)
    subscribes_per_hour: int = Field(default=200, ge=1, le=240)
    messages_per_s: float = Field(default=5.0, gt=0, le=10)
    dial_spacing_s: float = Field(default=0.3, ge=0.05, le=60)
    stale_after_s: float = Field(default=30.0, ge=2, le=600)
    markets_refresh_s: float = Field(default=3600.0, ge=60, le=3600)
    rest_fallback_s: float = Field(default=10.0, ge=1, le=300)
    store_stats: bool = True
    hot_count: int = Field(default=10, ge=0, le=50)

    @field_validator("exclude")
    @classmethod
    def _check_exclude(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _SYMBOL_RE.match(item):
                raise ValueError(
                    f"expected ccxt USDT-M perpetual symbols like BTC/USDT:USDT, got {item!r}"
                )
        return value


class AssetsFile(_Strict):
    """Content of assets.yaml."""

    assets: list[AssetConfig] = Field(min_length=1)
    correlation_groups: dict[str, CorrelationGroupConfig] = Field(default_factory=dict)
    universe: UniverseConfig = Field(default_factory=UniverseConfig)


# ---------------------------------------------------------------- strategies.yaml


class StrategyBase(_Strict):
    """Keys every strategy has."""

    enabled: bool = True
    assets: list[str] = Field(min_length=1)
    timeframe: StreamTimeFrame
    tp_percent: Percent
    sl_percent: Percent


class VwapRsiConfig(StrategyBase):
    """Mean reversion: price stretched from VWAP with RSI at an extreme."""

    rsi_period: int = Field(ge=2, le=1000)
    rsi_long_threshold: float = Field(gt=0, lt=100)
    rsi_short_threshold: float = Field(gt=0, lt=100)
    vwap_deviation_entry: Percent
    volume_spike_multiplier: Multiplier

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> VwapRsiConfig:
        if self.rsi_long_threshold >= self.rsi_short_threshold:
            raise ValueError("expected rsi_long_threshold < rsi_short_threshold")
        return self


class LiquidationConfig(StrategyBase):
    """Trades cascades around estimated liquidation zones."""

    oi_change_threshold: Multiplier
    leverage_estimate: Leverage
    zone_buffer_percent: Percent


class OrderFlowConfig(StrategyBase):
    """Order-book imbalance and absorption."""

    imbalance_threshold: Multiplier
    large_order_multiplier: Multiplier
    absorption_threshold: float = Field(gt=0, le=1)
    orderbook_depth: int = Field(ge=1, le=1000)


class MomentumConfig(StrategyBase):
    """Range breakouts confirmed by volume."""

    breakout_lookback: int = Field(ge=2, le=1000)
    volume_confirmation_multiplier: Multiplier
    atr_period: Period
    atr_multiplier_tp: float = Field(gt=0, le=100)
    atr_multiplier_sl: float = Field(gt=0, le=100)


class FundingConfig(StrategyBase):
    """Fades extreme funding rates."""

    extreme_positive_threshold: Percent
    extreme_negative_threshold: float = Field(ge=-100, lt=0)
    entry_delay_minutes: int = Field(ge=0, le=1440)


class CustomStrategyConfig(StrategyBase):
    """A user strategy: the common keys plus free-form scalar params."""

    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _scalars_only(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if not isinstance(item, str | int | float | bool):
                raise ValueError(f"expected numbers, strings or booleans (params.{key} is not)")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"expected finite numbers (params.{key} is {item})")
            if isinstance(item, int) and abs(item) > 2**63 - 1:
                raise ValueError(f"expected numbers within 64 bits (params.{key} is not)")
        return value


class StrategiesConfig(_Strict):
    """Content of strategies.yaml."""

    vwap_rsi: VwapRsiConfig
    liquidation: LiquidationConfig
    orderflow: OrderFlowConfig
    momentum: MomentumConfig
    funding: FundingConfig
    custom_strategies: dict[str, CustomStrategyConfig] = Field(default_factory=dict)

    def named(self) -> dict[tuple[str, ...], StrategyBase]:
        """Every strategy keyed by its path in strategies.yaml."""
        found: dict[tuple[str, ...], StrategyBase] = {
            (name,): getattr(self, name)
            for name in ("vwap_rsi", "liquidation", "orderflow", "momentum", "funding")
        }
        for name, custom in self.custom_strategies.items():
            found[("custom_strategies", name)] = custom
        return found


# ---------------------------------------------------------------- risk.yaml


class KillSwitchConfig(_Strict):
    """Loss limits that stop new trades."""

    max_session_loss_percent: Percent
    max_daily_loss_percent: Percent

    @model_validator(mode="after")
    def _session_within_daily(self) -> KillSwitchConfig:
        if self.max_session_loss_percent > self.max_daily_loss_percent:
            raise ValueError("expected max_session_loss_percent <= max_daily_loss_percent")
        return self


class PositionConfig(_Strict):
    """Position sizing."""

    max_risk_per_trade_percent: Percent
    default_leverage: Leverage
    max_concurrent_positions: int = Field(ge=1, le=100)


class FeesConfig(_Strict):
    """Exchange fees in percent of notional."""

    maker_percent: NonNegPercent
    taker_percent: NonNegPercent


class SlippageConfig(_Strict):
    """Slippage estimate and cap, in percent."""

    default_estimate_percent: NonNegPercent
    max_acceptable_percent: Percent


class MarginConfig(_Strict):
    """Margin mode and reserve."""

    mode: Literal["isolated", "cross"]
    min_free_margin_percent: NonNegPercent


SlCostPart = Literal["distance", "taker_fee", "maker_fee", "slippage"]


class SlTpConfig(_Strict):
    """How stop-loss cost is counted, and fallback TP/SL distances."""

    sl_real_cost_includes: list[SlCostPart] = Field(min_length=1)
    default_tp_percent: Percent
    default_sl_percent: Percent

    @field_validator("sl_real_cost_includes")
    @classmethod
    def _has_distance(cls, value: list[str]) -> list[str]:
        if "distance" not in value:
            raise ValueError("expected a list that includes distance")
        if len(set(value)) != len(value):
            raise ValueError("expected each cost part once (found a duplicate)")
        return value


class RiskConfig(_Strict):
    """Content of risk.yaml."""

    kill_switch: KillSwitchConfig
    position: PositionConfig
    fees: FeesConfig
    slippage: SlippageConfig
    margin: MarginConfig
    sl_tp: SlTpConfig


# ---------------------------------------------------------------- exchanges.yaml


class WebSocketConfig(_Strict):
    """Websocket endpoint, keepalive, subscribe pacing and reconnect backoff."""

    url: str = "wss://ws.bitget.com/v2/ws/public"
    # Bitget closes a connection silent for 2 minutes: a keepalive must come sooner.
    ping_interval_s: float = Field(default=30, ge=1, le=110)
    # Bitget allows 10 messages per second per connection.
    subscribe_rate_per_s: float = Field(default=5, ge=0.1, le=10)
    reconnect_delay_s: float = Field(default=1, ge=0.1, le=60)
    max_reconnect_delay_s: float = Field(default=60, ge=0.1, le=3600)
    stable_after_s: float = Field(default=60, ge=1, le=3600)
    # Candle streams per socket: Bitget recommends <= 50 channels, allows 1000.
    streams_per_connection: int = Field(default=50, ge=1, le=1000)
    # Subscribe frames per socket per hour (Bitget: 240); a socket out of budget waits.
    subscribes_per_hour: int = Field(default=200, ge=1, le=240)
    # Seconds between two new sockets (Bitget: 300 new connections per 5 min per IP).
    dial_spacing_s: float = Field(default=0.3, ge=0.05, le=60)

    @field_validator("url")
    @classmethod
    def _ws_scheme(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError(f"expected a ws:// or wss:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _backoff_ordered(self) -> WebSocketConfig:
        if self.max_reconnect_delay_s < self.reconnect_delay_s:
            raise ValueError("expected max_reconnect_delay_s >= reconnect_delay_s")
        return self


class RateLimitConfig(_Strict):
    """Token bucket of one endpoint category."""

    # Bitget's highest per-endpoint limit is 20 requests/s; below 0.1/s a request waits > 10 s.
    requests_per_second: float = Field(ge=0.1, le=20)
    burst: int = Field(ge=1, le=100)


class ApiConfig(_Strict):
    """REST API settings."""

    product_type: Literal["USDT-FUTURES"] = "USDT-FUTURES"
    default_type: Literal["swap"] = "swap"
    price_type: Literal["mark", "last"] = "mark"
    timeout_ms: int = Field(default=10000, ge=100, le=120_000)


class ExchangeConfig(_Strict):
    """The `exchange:` section of exchanges.yaml."""

    name: Literal["bitget"] = "bitget"
    sim_url: str | None = None
    websocket: WebSocketConfig = Field(default_factory=WebSocketConfig)
    rate_limits: dict[str, RateLimitConfig]
    api: ApiConfig = Field(default_factory=ApiConfig)

    @field_validator("sim_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"expected null or an http:// URL like http://127.0.0.1:8765, got {value!r}"
            )
        return value.rstrip("/") if value else value

    @field_validator("rate_limits")
    @classmethod
    def _all_categories(cls, value: dict[str, RateLimitConfig]) -> dict[str, RateLimitConfig]:
        expected = ", ".join(RATE_LIMIT_CATEGORIES)
        unknown = [k for k in value if k not in RATE_LIMIT_CATEGORIES]
        if unknown:
            raise ValueError(f"unknown category {unknown[0]!r}: expected exactly {expected}")
        missing = [k for k in RATE_LIMIT_CATEGORIES if k not in value]
        if missing:
            raise ValueError(
                f"category {missing[0]!r} is not configured: expected all of {expected}"
            )
        return {k: value[k] for k in RATE_LIMIT_CATEGORIES}


class EngineConfig(_Strict):
    """The `data_engine:` section of exchanges.yaml."""

    buffer_size: int = Field(default=500, ge=10, le=100_000)
    flush_interval_s: float = Field(default=1.0, ge=0.05, le=60)
    snapshot_hz: float = Field(default=4.0, ge=0.1, le=60)
    stale_multiplier: float = Field(default=3.0, ge=1, le=100)
    stale_min_s: float = Field(default=15.0, ge=1, le=3600)
    incidents_max: int = Field(default=200, ge=1, le=10_000)
    sparkline_points: int = Field(default=60, ge=2, le=1000)
    heal_gaps: bool = True
    # Candle streams a hot (top mover) or pinned (detail screen open) symbol gets.
    hot_timeframes: list[StreamTimeFrame] = Field(
        default_factory=lambda: [TimeFrame.M1, TimeFrame.M5], min_length=1
    )


class ExchangesFile(_Strict):
    """Content of exchanges.yaml."""

    exchange: ExchangeConfig
    data_engine: EngineConfig = Field(default_factory=EngineConfig)


# ---------------------------------------------------------------- AppConfig


class AppConfig(_Strict):
    """The whole configuration, cross-validated across files."""

    assets: list[AssetConfig]
    correlation_groups: dict[str, CorrelationGroupConfig] = Field(default_factory=dict)
    strategies: StrategiesConfig
    risk: RiskConfig
    exchange: ExchangeConfig
    engine: EngineConfig = Field(default_factory=EngineConfig)
    universe: UniverseConfig = Field(default_factory=UniverseConfig)
    secrets: SecretsConfig
    config_dir: Path

    @property
    def symbols(self) -> list[str]:
        """ccxt unified symbols in config order."""
        return [asset.symbol for asset in self.assets]

    @property
    def streams(self) -> list[tuple[str, TimeFrame]]:
        """Every (symbol, timeframe) to stream, in config order."""
        return [(asset.symbol, tf) for asset in self.assets for tf in asset.timeframes]

    def asset(self, symbol: str) -> AssetConfig:
        """The asset with this symbol (KeyError if absent)."""
        for asset in self.assets:
            if asset.symbol == symbol:
                return asset
        raise KeyError(symbol)

    @model_validator(mode="after")
    def _cross_check(self) -> AppConfig:
        # CrossCheckError is not a ValueError, so pydantic lets it through with its file and key.
        by_symbol: dict[str, AssetConfig] = {}
        for i, asset in enumerate(self.assets):
            if asset.symbol in by_symbol:
                raise CrossCheckError(
                    f"duplicate symbol {asset.symbol!r} (each asset once)",
                    file="assets.yaml",
                    key=("assets", i, "symbol"),
                )
            by_symbol[asset.symbol] = asset
            if asset.exchange != self.exchange.name:
                raise CrossCheckError(
                    f"expected {self.exchange.name!r} (exchange.name in exchanges.yaml), "
                    f"got {asset.exchange!r}",
                    file="assets.yaml",
                    key=("assets", i, "exchange"),
                )
            group = asset.correlation_group
            if group is not None and group not in self.correlation_groups:
                known = ", ".join(self.correlation_groups) or "none defined"
                raise CrossCheckError(
                    f"unknown correlation group {group!r}: expected one of correlation_groups "
                    f"({known}) or null",
                    file="assets.yaml",
                    key=("assets", i, "correlation_group"),
                )
        leverage = self.risk.position.default_leverage
        for asset in self.assets:
            if leverage > asset.max_leverage:
                raise CrossCheckError(
                    f"expected at most {asset.max_leverage} (max_leverage of {asset.symbol} "
                    f"in assets.yaml), got {leverage}",
                    file="risk.yaml",
                    key=("position", "default_leverage"),
                )
        known_symbols = ", ".join(by_symbol)
        for path, strategy in self.strategies.named().items():
            for j, symbol in enumerate(strategy.assets):
                if symbol not in by_symbol:
                    raise CrossCheckError(
                        f"unknown asset {symbol!r}: expected one of assets.yaml's symbols "
                        f"({known_symbols})",
                        file="strategies.yaml",
                        key=(*path, "assets", j),
                    )
                if strategy.timeframe not in by_symbol[symbol].timeframes:
                    raise CrossCheckError(
                        f"{symbol} does not stream {strategy.timeframe.value} in assets.yaml: "
                        f"expected one of {', '.join(tf.value for tf in by_symbol[symbol].timeframes)}",
                        file="strategies.yaml",
                        key=(*path, "timeframe"),
                    )
        return self
