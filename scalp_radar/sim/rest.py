"""REST endpoints of the simulated Bitget v2 public API (bitget-v2-public.md section 1)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from scalp_radar.core.bitget_depth import RECENT_CANDLES_DEPTH_DAYS
from scalp_radar.sim.clock import SimClock
from scalp_radar.sim.faults import FaultInjector
from scalp_radar.sim.format import rest_row
from scalp_radar.sim.limits import Bucket, SimLimits
from scalp_radar.sim.market import Market, Row
from scalp_radar.sim.tickers import TickerBook
from scalp_radar.sim.timeframes import (
    DAY_MS,
    GRANULARITY,
    TF_MS,
    align,
    prev_start,
)

PRODUCT_TYPES = (
    "USDT-FUTURES",
    "COIN-FUTURES",
    "USDC-FUTURES",
    "SUSDT-FUTURES",
    "SCOIN-FUTURES",
    "SUSDC-FUTURES",
)
MAX_SPAN_MS = 90 * DAY_MS
_INLINE_SPAN_MS = 4 * DAY_MS  # larger candle requests are computed in a worker thread
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BitgetError(Exception):
    """An error answered the way Bitget does: HTTP status plus a JSON body with a code."""

    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


def _int_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise BitgetError(400, "400172", f"Parameter {name} verification failed") from None


def rows_back(tf: str, end_ts: int, count: int) -> int:
    """Start of the candle `count` candles before the aligned end_ts."""
    if tf == "1M":
        ts = end_ts
        for _ in range(count):
            ts = prev_start("1M", ts)
        return ts
    return end_ts - count * TF_MS[tf]


class RestApi:
    """The public REST endpoints; `routes()` gives them to the aiohttp app."""

    def __init__(
        self,
        market: Market,
        clock: SimClock,
        limits: SimLimits,
        faults: FaultInjector,
        tickers: TickerBook | None = None,
        on_violation: Callable[[str], None] | None = None,
    ) -> None:
        self.market = market
        self.tickers = tickers or TickerBook(market)
        self._on_violation = on_violation
        self.clock = clock
        self.limits = limits
        self.faults = faults
        rates = limits.rest_rates or {}
        self._buckets = {name: Bucket(rate) for name, rate in rates.items()}
        self.requests = 0  # served requests, for tests and benchmarks
        self.counts: Counter[str] = Counter()  # requests seen per endpoint key

    def routes(self) -> list[web.RouteDef]:
        """Route table."""
        return [
            web.get("/api/v2/public/time", self._wrap("time", self.time)),
            web.get("/api/v2/spot/public/coins", self._wrap("coins", self.coins)),
            web.get("/api/v2/mix/market/contracts", self._wrap("contracts", self.contracts)),
            web.get("/api/v2/mix/market/candles", self._wrap("candles", self.candles)),
            web.get(
                "/api/v2/mix/market/history-candles",
                self._wrap("history-candles", self.history_candles),
            ),
            web.get("/api/v2/mix/market/ticker", self._wrap("ticker", self.ticker)),
            web.get("/api/v2/mix/market/tickers", self._wrap("tickers", self.all_tickers)),
            web.get(
                "/api/v2/mix/market/current-fund-rate",
                self._wrap("current-fund-rate", self.current_fund_rate),
            ),
            web.get(
                "/api/v2/mix/market/funding-time", self._wrap("funding-time", self.funding_time)
            ),
            web.get(
                "/api/v2/mix/market/open-interest", self._wrap("open-interest", self.open_interest)
            ),
        ]

    # -- envelope, limits and faults -----------------------------------------------------------
    def _envelope(self, data: object) -> web.Response:
        body = {"code": "00000", "msg": "success", "requestTime": self.clock.now_ms(), "data": data}
        return web.Response(text=json.dumps(body), content_type="application/json")

    def _error(self, status: int, code: str, msg: str) -> web.Response:
        body = {"code": code, "msg": msg, "requestTime": self.clock.now_ms(), "data": None}
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    def _wrap(self, endpoint: str, handler: Callable[[web.Request], Awaitable[object]]) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            self.counts[endpoint] += 1
            fault = self.faults.take_rest(endpoint)
            if fault is not None:
                if fault[0] == "restdrop":
                    if request.transport is not None:
                        request.transport.abort()
                    return web.Response(status=500)  # never reaches the client
                response = await self._fault_response(*fault)
                if response is not None:
                    return response
            bucket = self._buckets.get(endpoint)
            if bucket is not None and not bucket.take():
                if self._on_violation is not None:
                    self._on_violation(f"rest:{endpoint}")
                return self._error(429, "429", "Too Many Requests")
            try:
                data = await handler(request)
            except BitgetError as exc:
                return self._error(exc.status, exc.code, exc.msg)
            self.requests += 1
            return self._envelope(data)

        return wrapped

    async def _fault_response(self, kind: str, params: dict) -> web.Response | None:
        if kind == "rest429":
            return self._error(429, "429", "Too Many Requests")
        if kind == "rest429text":
            return web.Response(status=429, text="Too Many Requests")
        if kind == "rest5xx":
            status = int(params.get("status", 502))
            return web.Response(status=status, text=f"{status} Server Error")
        if kind == "slow":
            await asyncio.sleep(float(params.get("delay", 15)))
        return None  # slow: answer normally, late

    # -- endpoints -------------------------------------------------------------------------------
    async def time(self, request: web.Request) -> object:
        return {"serverTime": str(self.clock.now_ms())}

    async def coins(self, request: web.Request) -> object:
        return []

    async def contracts(self, request: web.Request) -> object:
        product = request.query.get("productType", "")
        if product.upper() not in PRODUCT_TYPES:
            raise BitgetError(400, "40019", "Parameter productType cannot be empty or invalid")
        if product.upper() != "USDT-FUTURES":
            return []
        symbol = request.query.get("symbol")
        out = []
        for spec in self.market.specs.values():
            if symbol and symbol.upper() != spec.inst_id:
                continue
            vp = spec.volume_places
            step = f"{10.0**-vp:.{vp}f}" if vp else "1"
            out.append(
                {
                    "symbol": spec.inst_id,
                    "baseCoin": spec.base,
                    "quoteCoin": spec.quote,
                    "buyLimitPriceRatio": "0.05",
                    "sellLimitPriceRatio": "0.05",
                    "feeRateUpRatio": "0.005",
                    "makerFeeRate": "0.0002",
                    "takerFeeRate": "0.0006",
                    "openCostUpRatio": "0.01",
                    "supportMarginCoins": [spec.quote],
                    "minTradeNum": step,
                    "priceEndStep": "1",
                    "volumePlace": str(vp),
                    "pricePlace": str(spec.price_places),
                    "sizeMultiplier": step,
                    "symbolType": "perpetual",
                    "minTradeUSDT": "5",
                    "maxSymbolOrderNum": "200",
                    "maxProductOrderNum": "400",
                    "maxPositionNum": "150",
                    "symbolStatus": spec.status,
                    "offTime": "-1",
                    "limitOpenTime": "-1",
                    "deliveryTime": "",
                    "deliveryStartTime": "",
                    "deliveryPeriod": "",
                    "launchTime": str(spec.listing_ms),
                    "fundInterval": str(spec.funding_hours),
                    "minLever": "1",
                    "maxLever": "125",
                    "posLimit": "0.05",
                    "maintainTime": "",
                }
            )
        return out

    def _symbol(self, request: web.Request) -> str:
        symbol = request.query.get("symbol")
        if not symbol:
            raise BitgetError(400, "40019", "Parameter symbol cannot be empty")
        product = request.query.get("productType")
        if not product:
            raise BitgetError(400, "40019", "Parameter productType cannot be empty")
        if product.upper() != "USDT-FUTURES" or self.market.resolve(symbol) is None:
            raise BitgetError(400, "40034", f"Parameter {symbol} does not exist")
        return self.market.resolve(symbol)  # type: ignore[return-value]

    async def ticker(self, request: web.Request) -> object:
        inst = self._symbol(request)
        return [self.ticker_data(inst, self.clock.now_ms(), rest=True)]

    def ticker_data(self, inst: str, now: int, *, rest: bool) -> dict:
        """Ticker fields for the REST endpoint (rest=True) or the websocket channel."""
        return self.tickers.rest(inst, now) if rest else self.tickers.ws(inst, now)

    def _product(self, request: web.Request) -> str:
        product = request.query.get("productType", "")
        if not product:
            raise BitgetError(400, "40019", "Parameter productType cannot be empty")
        if product.upper() not in PRODUCT_TYPES:
            raise BitgetError(400, "40019", "Parameter productType cannot be empty or invalid")
        return product.upper()

    def _symbols(self, request: web.Request) -> list[str]:
        """Every simulated contract, or the one `symbol` names (for the product type)."""
        if self._product(request) != "USDT-FUTURES":
            return []
        if request.query.get("symbol"):
            return [self._symbol(request)]
        return list(self.market.specs)

    async def all_tickers(self, request: web.Request) -> object:
        now = self.clock.now_ms()
        insts = self._symbols(request)
        # The first call of a large universe builds every contract's day blocks (seconds):
        # in a worker thread, so the loop keeps serving sockets and pings meanwhile.
        return await asyncio.to_thread(lambda: [self.tickers.rest(i, now) for i in insts])

    async def current_fund_rate(self, request: web.Request) -> object:
        now = self.clock.now_ms()
        insts = self._symbols(request)
        return await asyncio.to_thread(lambda: [self.tickers.funding(i, now) for i in insts])

    async def funding_time(self, request: web.Request) -> object:
        now = self.clock.now_ms()
        spec = self.market.spec(self._symbol(request))
        return [
            {
                "symbol": spec.inst_id,
                "nextFundingTime": str(self.tickers.next_funding_ms(spec, now)),
                "ratePeriod": str(spec.funding_hours),
            }
        ]

    async def open_interest(self, request: web.Request) -> object:
        inst = self._symbol(request)
        now = self.clock.now_ms()
        size = self.tickers.open_interest(inst, now)
        return {"openInterestList": [{"symbol": inst, "size": size}], "ts": str(now)}

    async def candles(self, request: web.Request) -> object:
        return await self._candles(request, history=False)

    async def history_candles(self, request: web.Request) -> object:
        return await self._candles(request, history=True)

    async def _candles(self, request: web.Request, *, history: bool) -> object:
        inst = self._symbol(request)
        granularity = request.query.get("granularity", "")
        tf = GRANULARITY.get(granularity)
        if tf is None:
            raise BitgetError(
                400, "400172", f"Parameter granularity {granularity!r} verification failed"
            )
        start = _int_param(request, "startTime")
        end = _int_param(request, "endTime")
        limit = _int_param(request, "limit")
        cap = 200 if history else 1000
        limit = 100 if limit is None else max(1, min(limit, cap))
        if start is not None and end is not None and end - start > MAX_SPAN_MS:
            raise BitgetError(
                400, "40017", "The time range between startTime and endTime cannot exceed 90 days"
            )
        now = self.clock.now_ms()
        span_ms = (limit + 1) * TF_MS[tf]
        if span_ms > _INLINE_SPAN_MS:
            # Many days of 1m truth may have to be generated: off the loop, which keeps serving.
            rows = await asyncio.to_thread(self._select, inst, tf, start, end, limit, now, history)
        else:
            rows = self._select(inst, tf, start, end, limit, now, history)
        return [rest_row(r) for r in rows]

    def _select(
        self,
        inst: str,
        tf: str,
        start: int | None,
        end: int | None,
        limit: int,
        now: int,
        history: bool,
    ) -> list[Row]:
        """The latest `limit` rows with start <= ts < end (the recent endpoint adds the forming one)."""
        end_excl = now + 1 if end is None else min(end, now + 1)
        lo = self.market.spec(inst).listing_ms
        if not history and tf in RECENT_CANDLES_DEPTH_DAYS:
            lo = max(lo, now - RECENT_CANDLES_DEPTH_DAYS[tf] * DAY_MS)
        if start is not None:
            lo = max(lo, align(tf, start))
        # Only the last `limit` candles before end are needed.
        lo = max(lo, rows_back(tf, align(tf, end_excl - 1), limit))
        if lo >= end_excl:
            return []
        rows = self.market.candles(inst, tf, lo, end_excl, now)
        if not history:
            forming = self.market.forming(inst, tf, now)
            if lo <= forming[0] < end_excl:
                rows.append(forming)
        return rows[-limit:]
