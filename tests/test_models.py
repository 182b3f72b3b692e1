"""Domain model validation: every rule can be broken, and each break is refused."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from scalp_radar.core.models import (
    Candle,
    Direction,
    MarketRegime,
    MultiTimeframeData,
    Order,
    OrderBookLevel,
    OrderBookSnapshot,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    SessionState,
    Signal,
    SignalStrength,
    TickerData,
    TimeFrame,
    Trade,
)

T0 = 1_700_000_040_000  # aligned to 1m (and not to 5m)


def candle(**overrides) -> Candle:
    values = dict(
        symbol="BTC/USDT:USDT",
        timeframe=TimeFrame.M1,
        timestamp=T0,
        open=100.0,
        high=105.0,
        low=95.0,
        close=102.0,
        volume=10.0,
    )
    values.update(overrides)
    return Candle(**values)


def test_enums_have_the_seed_members():
    assert {d.value for d in Direction} == {"LONG", "SHORT"}
    assert {t.value for t in OrderType} == {"MARKET", "LIMIT"}
    assert {s.value for s in OrderSide} == {"BUY", "SELL"}
    assert {s.name for s in OrderStatus} == {
        "PENDING",
        "OPEN",
        "FILLED",
        "PARTIALLY_FILLED",
        "CANCELLED",
    }
    assert {s.name for s in SignalStrength} == {"STRONG", "MODERATE", "WEAK"}
    assert len(MarketRegime) == 5
    assert {"M1", "M5", "M15", "H1"} <= {tf.name for tf in TimeFrame}


@pytest.mark.parametrize(
    ("text", "expected", "ms"),
    [
        ("1m", TimeFrame.M1, 60_000),
        ("5m", TimeFrame.M5, 300_000),
        ("15m", TimeFrame.M15, 900_000),
        ("1h", TimeFrame.H1, 3_600_000),
        ("H1", TimeFrame.H1, 3_600_000),
    ],
)
def test_timeframe_from_string_and_ms(text, expected, ms):
    tf = TimeFrame.from_string(text)
    assert tf is expected
    assert tf.to_milliseconds() == ms


def test_timeframe_from_string_error_lists_valid_values():
    with pytest.raises(ValueError) as err:
        TimeFrame.from_string("7m")
    message = str(err.value)
    assert "'7m'" in message
    for valid in ("1m", "5m", "15m", "1h"):
        assert valid in message


def test_weekly_candles_align_on_monday():
    monday = int(datetime(2026, 11, 23, tzinfo=UTC).timestamp() * 1000)
    wednesday = monday + 2 * 86_400_000 + 12_345
    assert TimeFrame.W1.align(wednesday) == monday


def test_valid_candle_and_derived_fields():
    c = candle(vwap=100.0, mark_price=101.0)
    assert c.close_time == T0 + 60_000
    assert c.datetime == datetime.fromtimestamp(T0 / 1000, UTC)


def test_candle_timestamp_must_align_to_timeframe():
    with pytest.raises(ValidationError, match="not aligned to the 5m"):
        candle(timeframe=TimeFrame.M5)
    with pytest.raises(ValidationError, match="not aligned"):
        candle(timestamp=T0 + 1)


def test_candle_low_above_open_close_is_refused():
    with pytest.raises(ValidationError, match="low"):
        candle(low=101.0)


def test_candle_high_below_open_close_is_refused():
    with pytest.raises(ValidationError, match="high"):
        candle(high=101.0)


def test_candle_negative_volume_and_nan_are_refused():
    with pytest.raises(ValidationError):
        candle(volume=-1)
    with pytest.raises(ValidationError):
        candle(close=float("nan"))
    with pytest.raises(ValidationError, match="finite"):
        candle(volume=float("inf"))


def test_candle_vwap_outside_range_and_bad_mark_price():
    with pytest.raises(ValidationError, match="vwap"):
        candle(vwap=200.0)
    with pytest.raises(ValidationError):
        candle(mark_price=0.0)


def test_candle_is_frozen_and_rejects_unknown_fields():
    c = candle()
    with pytest.raises(ValidationError):
        c.close = 1.0  # type: ignore[misc]
    with pytest.raises(ValidationError):
        candle(colour="red")


def test_orderbook_mid_and_spread():
    book = OrderBookSnapshot(
        symbol="BTC/USDT:USDT",
        timestamp=T0,
        bids=[OrderBookLevel(price=99, quantity=1), OrderBookLevel(price=98, quantity=2)],
        asks=[OrderBookLevel(price=101, quantity=1), OrderBookLevel(price=102, quantity=3)],
    )
    assert book.mid_price == 100
    assert book.spread == 2
    assert book.spread_percent == pytest.approx(2.0)


def test_orderbook_ordering_and_crossing_refused():
    lvl = OrderBookLevel
    with pytest.raises(ValidationError, match="bids"):
        OrderBookSnapshot(
            symbol="X", timestamp=0, bids=[lvl(price=98, quantity=1), lvl(price=99, quantity=1)]
        )
    with pytest.raises(ValidationError, match="asks"):
        OrderBookSnapshot(
            symbol="X", timestamp=0, asks=[lvl(price=102, quantity=1), lvl(price=101, quantity=1)]
        )
    with pytest.raises(ValidationError, match="crossed"):
        OrderBookSnapshot(
            symbol="X",
            timestamp=0,
            bids=[lvl(price=101, quantity=1)],
            asks=[lvl(price=100, quantity=1)],
        )


def test_ticker_requires_positive_prices():
    t = TickerData(
        symbol="BTC/USDT:USDT", timestamp=T0, last_price=100, mark_price=100.5, funding_rate=-0.0001
    )
    assert t.funding_rate == -0.0001
    with pytest.raises(ValidationError):
        TickerData(symbol="BTC/USDT:USDT", timestamp=T0, last_price=0)


def signal(**overrides) -> Signal:
    values = dict(
        symbol="BTC/USDT:USDT",
        strategy="vwap_rsi",
        direction=Direction.LONG,
        strength=SignalStrength.STRONG,
        score=0.8,
        entry_price=100.0,
        tp_price=102.0,
        sl_price=99.0,
    )
    values.update(overrides)
    return Signal(**values)


def test_signal_score_range_and_risk_reward():
    assert signal().risk_reward == pytest.approx(2.0)
    with pytest.raises(ValidationError):
        signal(score=1.5)
    with pytest.raises(ValidationError):
        signal(score=-0.1)


def test_signal_tp_sl_on_the_right_side():
    with pytest.raises(ValidationError, match="LONG signal needs tp_price above"):
        signal(tp_price=98.0)
    with pytest.raises(ValidationError, match="LONG signal needs sl_price below"):
        signal(sl_price=101.0)
    short = signal(direction=Direction.SHORT, tp_price=98.0, sl_price=101.0)
    assert short.direction is Direction.SHORT
    with pytest.raises(ValidationError, match="SHORT"):
        signal(direction=Direction.SHORT)


def test_order_limit_needs_price_and_fill_within_quantity():
    Order(id="1", symbol="X", side=OrderSide.BUY, type=OrderType.MARKET, quantity=1)
    with pytest.raises(ValidationError, match="LIMIT order needs a price"):
        Order(id="1", symbol="X", side=OrderSide.BUY, type=OrderType.LIMIT, quantity=1)
    with pytest.raises(ValidationError, match="filled_quantity"):
        Order(
            id="1",
            symbol="X",
            side=OrderSide.SELL,
            type=OrderType.MARKET,
            quantity=1,
            filled_quantity=2,
        )


def test_position_leverage_and_margins():
    p = Position(
        symbol="X",
        direction=Direction.LONG,
        entry_price=100,
        quantity=2,
        leverage=15,
        initial_margin=13.3,
        maintenance_margin=1.0,
    )
    assert p.notional == 200
    with pytest.raises(ValidationError):
        Position(
            symbol="X",
            direction=Direction.LONG,
            entry_price=100,
            quantity=2,
            leverage=0,
            initial_margin=1,
            maintenance_margin=0,
        )
    with pytest.raises(ValidationError, match="maintenance_margin"):
        Position(
            symbol="X",
            direction=Direction.LONG,
            entry_price=100,
            quantity=2,
            leverage=2,
            initial_margin=1,
            maintenance_margin=2,
        )


def trade(**overrides) -> Trade:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    values = dict(
        id="t1",
        symbol="X",
        direction=Direction.LONG,
        entry_price=100,
        exit_price=101,
        quantity=1,
        gross_pnl=1.0,
        fee_cost=0.12,
        slippage_cost=0.05,
        net_pnl=0.83,
        entry_time=now,
        exit_time=now + timedelta(minutes=3),
    )
    values.update(overrides)
    return Trade(**values)


def test_trade_net_pnl_must_add_up():
    assert trade().net_pnl == pytest.approx(0.83)
    with pytest.raises(ValidationError, match="net_pnl"):
        trade(net_pnl=1.0)


def test_trade_exit_before_entry_refused():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match="exit_time"):
        trade(entry_time=now, exit_time=now - timedelta(seconds=1))


def test_session_state_counts_and_win_rate():
    s = SessionState(total_trades=4, wins=3, losses=1)
    assert s.win_rate == 0.75
    assert SessionState().win_rate == 0.0
    with pytest.raises(ValidationError, match="wins"):
        SessionState(total_trades=1, wins=1, losses=1)


def test_multi_timeframe_latest():
    data = MultiTimeframeData(
        symbol="BTC/USDT:USDT", candles={TimeFrame.M1: [candle(), candle(timestamp=T0 + 60_000)]}
    )
    assert data.latest(TimeFrame.M1).timestamp == T0 + 60_000
    assert data.latest(TimeFrame.H1) is None
