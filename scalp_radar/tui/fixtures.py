"""Realistic fixed EngineSnapshots for snapshot tests, screenshots and offline demos.

Prices follow a seeded random walk, so every call returns byte-identical data.
"""

from __future__ import annotations

import random

import msgspec

from scalp_radar.core.models import TimeFrame
from scalp_radar.core.snapshot import (
    BucketStats,
    CandleView,
    ConnectionFacts,
    EngineSnapshot,
    Incident,
    StreamSnapshot,
    StreamState,
)

# 2026-11-24 12:00:00 UTC: a fixed "now" so ages and times never move.
TAKEN_AT_MS = 1_795_521_600_000
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
TIMEFRAMES = ("1m", "5m", "15m", "1h")
START_PRICES = {"BTC/USDT:USDT": 97_250.0, "ETH/USDT:USDT": 3_412.5, "SOL/USDT:USDT": 238.41}
POINTS = 60


def _candles(symbol: str, tf: str, seed: int) -> tuple[CandleView, ...]:
    """A seeded random walk of POINTS candles ending at TAKEN_AT_MS (last one still forming)."""
    rng = random.Random(f"{symbol}|{tf}|{seed}")
    tf_ms = TimeFrame.from_string(tf).to_milliseconds()
    start = TimeFrame.from_string(tf).align(TAKEN_AT_MS) - (POINTS - 1) * tf_ms
    vol = {"1m": 0.0012, "5m": 0.0025, "15m": 0.004, "1h": 0.008}[tf]
    price = START_PRICES[symbol]
    out: list[CandleView] = []
    for i in range(POINTS):
        open_ = price
        close = open_ * (1 + rng.gauss(0.0002, vol))
        high = max(open_, close) * (1 + abs(rng.gauss(0, vol / 2)))
        low = min(open_, close) * (1 - abs(rng.gauss(0, vol / 2)))
        volume = round(rng.uniform(50, 400), 2)
        out.append(
            CandleView(
                start + i * tf_ms,
                round(open_, 2),
                round(high, 2),
                round(low, 2),
                round(close, 2),
                volume,
                i < POINTS - 1,
            )
        )
        price = close
    return tuple(out)


def _stream(symbol: str, tf: str, seed: int, **overrides: object) -> StreamSnapshot:
    candles = _candles(symbol, tf, seed)
    fields: dict[str, object] = {
        "symbol": symbol,
        "timeframe": tf,
        "state": StreamState.LIVE,
        "last_candle": candles[-1],
        "recent_closes": tuple(c.close for c in candles),
        "buffer_len": 500,
        "buffer_capacity": 500,
        "gaps_detected": 0,
        "gaps_healed": 0,
        "gaps_open": 0,
        "invalid_dropped": 0,
        "duplicates_dropped": 0,
        "last_update_age_s": 0.4,
        "updates_per_s": {"1m": 2.1, "5m": 1.9, "15m": 1.8, "1h": 1.7}[tf],
        "reconnects": 0,
        "recent_candles": candles,
    }
    fields.update(overrides)
    return StreamSnapshot(**fields)  # type: ignore[arg-type]


def _buckets(drained: bool = False) -> tuple[BucketStats, ...]:
    if drained:
        market = BucketStats("market_data", 0.3, 20, 10, 7, 4812, 96.4, 3.8, rejected_429=3)
    else:
        market = BucketStats("market_data", 17.0, 20, 10, 0, 1204, 1.2, 0.1)
    return (
        market,
        BucketStats("trade", 10.0, 10, 10, 0, 0, 0.0, 0.0),
        BucketStats("account", 10.0, 10, 10, 0, 3, 0.0, 0.0),
        BucketStats("position", 8.0, 10, 10, 0, 12, 0.1, 0.05),
    )


def healthy_snapshot(*, demo: bool = True, seed: int = 1) -> EngineSnapshot:
    """Three symbols x four timeframes, all live, full buffers, a quiet incident log."""
    streams = tuple(_stream(s, tf, seed) for s in SYMBOLS for tf in TIMEFRAMES)
    incidents = (
        Incident(TAKEN_AT_MS - 95_000, "heal", "ETH/USDT:USDT", "1m", "healed 2 candles", 1.3),
        Incident(TAKEN_AT_MS - 97_000, "gap", "ETH/USDT:USDT", "1m", "gap of 2 candles detected"),
        Incident(TAKEN_AT_MS - 3_600_000, "reconnect", None, None, "websocket connected", 0.8),
    )
    streams = tuple(
        _replace(s, gaps_detected=1, gaps_healed=1)
        if (s.symbol, s.timeframe) == ("ETH/USDT:USDT", "1m")
        else s
        for s in streams
    )
    return EngineSnapshot(
        taken_at_ms=TAKEN_AT_MS,
        streams=streams,
        limiter=_buckets(),
        connection=ConnectionFacts("bitget", demo, True, 8_123.0, 1, 12.5),
        incidents=incidents,
    )


def degraded_snapshot(*, demo: bool = False, seed: int = 1) -> EngineSnapshot:
    """A bad minute: a stale stream, one reconnecting, open gaps, a drained bucket with 429s."""
    base = healthy_snapshot(demo=demo, seed=seed)
    streams = []
    for s in base.streams:
        if (s.symbol, s.timeframe) == ("BTC/USDT:USDT", "1m"):
            s = _replace(s, state=StreamState.STALE, last_update_age_s=48.2, updates_per_s=0.0)
        elif s.symbol == "SOL/USDT:USDT" and s.timeframe in ("1m", "5m"):
            s = _replace(
                s,
                state=StreamState.RECONNECTING,
                last_update_age_s=31.0,
                updates_per_s=0.0,
                reconnects=4,
                attempt=3,
                next_retry_in_s=4.0,
                reason="NetworkError: connection reset",
            )
        elif (s.symbol, s.timeframe) == ("ETH/USDT:USDT", "1m"):
            s = _replace(s, gaps_detected=3, gaps_healed=1, gaps_open=2, buffer_len=455)
        elif (s.symbol, s.timeframe) == ("SOL/USDT:USDT", "1h"):
            s = _replace(
                s,
                state=StreamState.FAILED,
                buffer_len=212,
                reason="BadSymbol",
                last_update_age_s=3_600.0,
                updates_per_s=0.0,
            )
        streams.append(s)
    t = TAKEN_AT_MS
    incidents = (
        Incident(t - 2_000, "error", None, None, "429 Too Many Requests on market_data (3rd)"),
        Incident(t - 4_000, "reconnect", "SOL/USDT:USDT", "1m", "retry 3 in 4s: connection reset"),
        Incident(t - 18_000, "stale", "BTC/USDT:USDT", "1m", "no update for 45s"),
        Incident(t - 31_000, "disconnect", "SOL/USDT:USDT", "1m", "NetworkError: reset", 31.0),
        Incident(t - 40_000, "gap", "ETH/USDT:USDT", "1m", "gap of 7 candles detected"),
        Incident(t - 41_000, "gap", "ETH/USDT:USDT", "1m", "gap of 38 candles detected"),
        Incident(t - 95_000, "heal", "ETH/USDT:USDT", "1m", "healed 2 candles", 1.3),
        Incident(t - 3_600_000, "error", "SOL/USDT:USDT", "1h", "BadSymbol: stream failed"),
    )
    return EngineSnapshot(
        taken_at_ms=t,
        streams=tuple(streams),
        limiter=_buckets(drained=True),
        connection=ConnectionFacts("bitget", demo, True, 8_123.0, 9, -842.0),
        incidents=incidents,
    )


def _replace(stream: StreamSnapshot, **changes: object) -> StreamSnapshot:
    return msgspec.structs.replace(stream, **changes)


def many_symbols_snapshot(count: int = 10) -> EngineSnapshot:
    """A long watchlist (prices recycled from the three base symbols) to test scrolling."""
    base = healthy_snapshot()
    names = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT", "LTC", "BNB", "TRX"]
    streams = []
    for i in range(count):
        source = SYMBOLS[i % len(SYMBOLS)]
        symbol = f"{names[i % len(names)]}{i // len(names) or ''}/USDT:USDT"
        streams += [
            msgspec.structs.replace(s, symbol=symbol) for s in base.streams if s.symbol == source
        ]
    return msgspec.structs.replace(base, streams=tuple(streams))


# ---------------------------------------------------------------- the market-wide radar

RADAR_BASES = [
    "BTC",
    "ETH",
    "SOL",
    "XRP",
    "DOGE",
    "ADA",
    "AVAX",
    "LINK",
    "DOT",
    "LTC",
    "BNB",
    "TRX",
    "SUI",
    "APT",
    "ARB",
    "OP",
    "NEAR",
    "ATOM",
    "FIL",
    "INJ",
    "TIA",
    "SEI",
    "WIF",
    "PEPE",
    "BONK",
    "FET",
    "RNDR",
    "TAO",
    "JUP",
    "PYTH",
    "ENA",
    "ONDO",
    "STRK",
    "ZRO",
    "W",
    "ETHFI",
    "ORDI",
    "SATS",
    "AAVE",
    "UNI",
    "MKR",
    "LDO",
    "CRV",
    "DYDX",
    "GMX",
    "PENDLE",
    "RUNE",
    "THETA",
    "ICP",
    "ETC",
    "BCH",
    "XLM",
    "HBAR",
    "VET",
    "ALGO",
    "EGLD",
    "SAND",
    "MANA",
    "AXS",
    "GALA",
]


def universe_snapshot(count: int = 60, *, seed: int = 7, demo: bool = True) -> EngineSnapshot:
    """A healthy snapshot plus a deterministic radar of `count` symbols (~60 named, then numbered):
    one trending hard, one volume burst, one funding spike, one spread blow-out, two stale rows."""
    from scalp_radar.core.snapshot import ShardSnapshot, ShardState, TickerRow, UniverseSnapshot

    rng = random.Random(f"universe|{seed}")
    rows: list[TickerRow] = []
    nan = float("nan")
    for i in range(count):
        base = RADAR_BASES[i % len(RADAR_BASES)] + (
            str(i // len(RADAR_BASES)) if i >= len(RADAR_BASES) else ""
        )
        symbol = f"{base}/USDT:USDT"
        last = START_PRICES.get(symbol) or round(10 ** rng.uniform(-4, 3.5), 6)
        spread = round(rng.uniform(0.2, 6.0), 2)
        half = last * spread / 20_000
        c5 = rng.gauss(0, 0.6)
        fields: dict[str, object] = {
            "symbol": symbol,
            "last": last,
            "bid": last - half,
            "ask": last + half,
            "mark": last * (1 + rng.gauss(0, 0.0002)),
            "index": last * (1 + rng.gauss(0, 0.0003)),
            "change_1m": rng.gauss(0, 0.2),
            "change_5m": c5,
            "change_15m": c5 + rng.gauss(0, 0.6),
            "change_1h": c5 + rng.gauss(0, 1.5),
            "change_24h": rng.gauss(0, 5.0),
            "quote_volume_24h": round(10 ** rng.uniform(6, 9.5), 0),
            "volume_surge": round(rng.uniform(0.4, 1.8), 2),
            "spread_bps": spread,
            "funding_rate": round(rng.gauss(0.0001, 0.00008), 6),
            "next_funding_ms": TAKEN_AT_MS + 3_600_000,
            "open_interest": round(rng.uniform(1e4, 1e7), 0),
            "oi_change_15m": rng.gauss(0, 1.0),
            "basis_bps": rng.gauss(0, 2.0),
            "updated_ms": TAKEN_AT_MS - rng.randint(0, 1500),
            "source": "ws",
            "shard_id": i // 50,
        }
        if i == 7:  # trending hard
            fields.update(change_1m=1.9, change_5m=6.8, change_15m=9.4, change_1h=12.2)
        elif i == 11:  # volume burst
            fields.update(volume_surge=9.4, change_5m=1.1)
        elif i == 19:  # funding spike
            fields.update(funding_rate=-0.0075)
        elif i == 23:  # spread blow-out
            fields.update(spread_bps=84.0)
        elif i == 29:  # OI jump
            fields.update(oi_change_15m=14.5)
        elif i in (41, 53):  # a stale ticker and one covered by REST
            fields.update(
                updated_ms=TAKEN_AT_MS - 48_000 if i == 41 else TAKEN_AT_MS - 2_000,
                source="ws" if i == 41 else "rest",
            )
        if i == 59:  # just listed: no hour of history yet
            fields.update(change_1h=nan, oi_change_15m=nan)
        rows.append(TickerRow(**fields))  # type: ignore[arg-type]
    shards = tuple(
        ShardSnapshot(k, ShardState.LIVE, min(50, count - k * 50), 1, 1, 0.3)
        for k in range((count + 49) // 50)
    )
    universe = UniverseSnapshot(
        mode="all",
        symbols=count,
        rows=tuple(rows),
        shards=shards,
        markets_loaded_ms=TAKEN_AT_MS - 600_000,
        rest_polls=1,
        tickers_live=count - 1,
    )
    return msgspec.structs.replace(healthy_snapshot(demo=demo), universe=universe)


def universe_sparks(snapshot: EngineSnapshot, points: int = 60) -> dict[str, tuple[float, ...]]:
    """Seeded last-hour price paths ending at each row's last price (for the sparkline column)."""
    out: dict[str, tuple[float, ...]] = {}
    for row in snapshot.universe.rows:
        rng = random.Random(f"spark|{row.symbol}")
        drift = (row.change_1h if row.change_1h == row.change_1h else 0.0) / 100 / points
        path = [row.last]
        for _ in range(points - 1):
            path.append(path[-1] / (1 + drift + rng.gauss(0, 0.002)))
        out[row.symbol] = tuple(reversed(path))
    return out
