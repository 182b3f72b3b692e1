"""Domain models for Scalp Radar: market data, trading objects and session state.

Every model validates strictly so a bad value fails where it enters, not where it is used.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scalp_radar.core.timeframe import TimeFrame as TimeFrame  # re-exported: models use it

# Tolerance for float comparisons (pnl sums, price orderings from exchange strings).
_EPS = 1e-9


class Direction(StrEnum):
    """Side of a position or signal."""

    LONG = "LONG"
    SHORT = "SHORT"


class OrderType(StrEnum):
    """How an order executes."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderSide(StrEnum):
    """Buy or sell."""

    BUY = "BUY"
    SELL = "SELL"


class OrderStatus(StrEnum):
    """Lifecycle of an order."""

    PENDING = "PENDING"
    OPEN = "OPEN"
    FILLED = "FILLED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    CANCELLED = "CANCELLED"


class SignalStrength(StrEnum):
    """Qualitative strength of a signal."""

    STRONG = "STRONG"
    MODERATE = "MODERATE"
    WEAK = "WEAK"


class MarketRegime(StrEnum):
    """Market state a strategy may condition on."""

    TRENDING_UP = "TRENDING_UP"
    TRENDING_DOWN = "TRENDING_DOWN"
    RANGING = "RANGING"
    HIGH_VOLATILITY = "HIGH_VOLATILITY"
    LOW_VOLATILITY = "LOW_VOLATILITY"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Strict(BaseModel):
    """Base: unknown fields rejected, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Candle(_Strict):
    """One OHLCV candle; `timestamp` is its open time in ms, aligned to the timeframe."""

    # allow_inf_nan=False refuses NaN/inf in every float field (and is cheaper than a validator).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    symbol: str = Field(min_length=1)
    timeframe: TimeFrame
    timestamp: int = Field(ge=0)
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    volume: float = Field(ge=0)
    vwap: float | None = None
    mark_price: float | None = None

    @model_validator(mode="after")
    def _check_ohlc(self) -> Candle:
        if self.timeframe.align(self.timestamp) != self.timestamp:
            raise ValueError(
                f"timestamp {self.timestamp} is not aligned to the {self.timeframe.value} timeframe"
            )
        if self.low > min(self.open, self.close) + _EPS:
            raise ValueError(f"low {self.low} is above min(open, close)")
        if self.high < max(self.open, self.close) - _EPS:
            raise ValueError(f"high {self.high} is below max(open, close)")
        if self.vwap is not None and not (self.low - _EPS <= self.vwap <= self.high + _EPS):
            raise ValueError(f"vwap {self.vwap} is outside [low, high]")
        if self.mark_price is not None and self.mark_price <= 0:
            raise ValueError("mark_price must be > 0")
        return self

    @property
    def close_time(self) -> int:
        """Open time of the next candle, in ms."""
        return self.timestamp + self.timeframe.to_milliseconds()

    @property
    def datetime(self) -> datetime:
        """Open time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.timestamp / 1000, UTC)


class OrderBookLevel(_Strict):
    """One price level of an L2 book."""

    price: float = Field(gt=0)
    quantity: float = Field(ge=0)


class OrderBookSnapshot(_Strict):
    """L2 order book: bids descending, asks ascending, never crossed."""

    symbol: str = Field(min_length=1)
    timestamp: int = Field(ge=0)
    bids: list[OrderBookLevel] = Field(default_factory=list)
    asks: list[OrderBookLevel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_book(self) -> OrderBookSnapshot:
        bid_prices = [lvl.price for lvl in self.bids]
        ask_prices = [lvl.price for lvl in self.asks]
        if any(a <= b for a, b in zip(bid_prices, bid_prices[1:], strict=False)):
            raise ValueError("bids must be strictly descending by price")
        if any(b <= a for a, b in zip(ask_prices, ask_prices[1:], strict=False)):
            raise ValueError("asks must be strictly ascending by price")
        if bid_prices and ask_prices and bid_prices[0] >= ask_prices[0]:
            raise ValueError(f"crossed book: best bid {bid_prices[0]} >= best ask {ask_prices[0]}")
        return self

    @property
    def best_bid(self) -> float | None:
        """Highest bid price."""
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> float | None:
        """Lowest ask price."""
        return self.asks[0].price if self.asks else None

    @property
    def mid_price(self) -> float | None:
        """Midpoint of best bid and ask."""
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2

    @property
    def spread(self) -> float | None:
        """Best ask minus best bid."""
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid

    @property
    def spread_percent(self) -> float | None:
        """Spread as a percentage of the mid price."""
        mid, spread = self.mid_price, self.spread
        return None if mid is None or spread is None else spread / mid * 100


class TickerData(_Strict):
    """Latest ticker of a perpetual: last, mark and index prices, funding, open interest."""

    symbol: str = Field(min_length=1)
    timestamp: int = Field(ge=0)
    last_price: float = Field(gt=0)
    mark_price: float | None = Field(default=None, gt=0)
    index_price: float | None = Field(default=None, gt=0)
    bid: float | None = Field(default=None, gt=0)
    ask: float | None = Field(default=None, gt=0)
    funding_rate: float | None = None
    open_interest: float | None = Field(default=None, ge=0)
    volume_24h: float | None = Field(default=None, ge=0)
    change_24h_percent: float | None = None


class Signal(_Strict):
    """A strategy's trade idea: direction, score in [0, 1], entry with TP and SL."""

    symbol: str = Field(min_length=1)
    strategy: str = Field(min_length=1)
    timestamp: datetime = Field(default_factory=_utc_now)
    direction: Direction
    strength: SignalStrength
    score: float = Field(ge=0, le=1)
    entry_price: float = Field(gt=0)
    tp_price: float = Field(gt=0)
    sl_price: float = Field(gt=0)
    regime: MarketRegime | None = None
    timeframe: TimeFrame | None = None
    signals_detail: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_levels(self) -> Signal:
        if self.direction is Direction.LONG:
            if not self.tp_price > self.entry_price:
                raise ValueError("LONG signal needs tp_price above entry_price")
            if not self.sl_price < self.entry_price:
                raise ValueError("LONG signal needs sl_price below entry_price")
        else:
            if not self.tp_price < self.entry_price:
                raise ValueError("SHORT signal needs tp_price below entry_price")
            if not self.sl_price > self.entry_price:
                raise ValueError("SHORT signal needs sl_price above entry_price")
        return self

    @property
    def risk_reward(self) -> float:
        """Distance to TP divided by distance to SL."""
        return abs(self.tp_price - self.entry_price) / abs(self.entry_price - self.sl_price)


class Order(_Strict):
    """An order sent (or to be sent) to the exchange."""

    id: str = Field(min_length=1)
    symbol: str = Field(min_length=1)
    side: OrderSide
    type: OrderType
    price: float | None = Field(default=None, gt=0)
    quantity: float = Field(gt=0)
    filled_quantity: float = Field(default=0, ge=0)
    status: OrderStatus = OrderStatus.PENDING
    sl_order_id: str | None = None
    tp_order_id: str | None = None
    fee: float = Field(default=0, ge=0)
    created_at: datetime = Field(default_factory=_utc_now)

    @model_validator(mode="after")
    def _check_order(self) -> Order:
        if self.type is OrderType.LIMIT and self.price is None:
            raise ValueError("a LIMIT order needs a price")
        if self.filled_quantity > self.quantity + _EPS:
            raise ValueError("filled_quantity exceeds quantity")
        return self


class Position(_Strict):
    """An open position with its leverage and margins."""

    symbol: str = Field(min_length=1)
    direction: Direction
    entry_price: float = Field(gt=0)
    quantity: float = Field(gt=0)
    leverage: int = Field(ge=1)
    initial_margin: float = Field(ge=0)
    maintenance_margin: float = Field(ge=0)
    unrealized_pnl: float = 0.0
    sl_price: float | None = Field(default=None, gt=0)
    tp_price: float | None = Field(default=None, gt=0)
    opened_at: datetime = Field(default_factory=_utc_now)

    @model_validator(mode="after")
    def _check_margins(self) -> Position:
        if self.maintenance_margin > self.initial_margin + _EPS:
            raise ValueError("maintenance_margin cannot exceed initial_margin")
        return self

    @property
    def notional(self) -> float:
        """Entry price times quantity."""
        return self.entry_price * self.quantity


class Trade(_Strict):
    """A closed position; net_pnl must equal gross_pnl - fee_cost - slippage_cost."""

    id: str = Field(min_length=1)
    symbol: str = Field(min_length=1)
    direction: Direction
    entry_price: float = Field(gt=0)
    exit_price: float = Field(gt=0)
    quantity: float = Field(gt=0)
    leverage: int = Field(default=1, ge=1)
    gross_pnl: float
    fee_cost: float = Field(ge=0)
    slippage_cost: float = Field(ge=0)
    net_pnl: float
    entry_time: datetime
    exit_time: datetime
    strategy: str | None = None
    exit_reason: str | None = None

    @model_validator(mode="after")
    def _check_pnl(self) -> Trade:
        expected = self.gross_pnl - self.fee_cost - self.slippage_cost
        if abs(self.net_pnl - expected) > 1e-6 * max(1.0, abs(expected)):
            raise ValueError(
                f"net_pnl {self.net_pnl} != gross_pnl - fee_cost - slippage_cost ({expected})"
            )
        if self.exit_time < self.entry_time:
            raise ValueError("exit_time is before entry_time")
        return self


class SessionState(_Strict):
    """Running totals of a trading session, persisted for crash recovery."""

    start_time: datetime = Field(default_factory=_utc_now)
    total_pnl: float = 0.0
    total_trades: int = Field(default=0, ge=0)
    wins: int = Field(default=0, ge=0)
    losses: int = Field(default=0, ge=0)
    max_drawdown: float = Field(default=0.0, ge=0)
    kill_switch_triggered: bool = False
    open_positions: list[Position] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_counts(self) -> SessionState:
        if self.wins + self.losses > self.total_trades:
            raise ValueError("wins + losses exceed total_trades")
        return self

    @property
    def win_rate(self) -> float:
        """Share of winning trades among closed trades, 0 when none."""
        return self.wins / self.total_trades if self.total_trades else 0.0


class MultiTimeframeData(_Strict):
    """Everything known about one symbol: candles per timeframe, latest book and ticker."""

    symbol: str = Field(min_length=1)
    candles: dict[TimeFrame, list[Candle]] = Field(default_factory=dict)
    orderbook: OrderBookSnapshot | None = None
    ticker: TickerData | None = None

    def latest(self, timeframe: TimeFrame) -> Candle | None:
        """Most recent candle of a timeframe, or None."""
        rows = self.candles.get(timeframe)
        return rows[-1] if rows else None
