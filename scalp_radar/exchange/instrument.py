"""Hooks on one ccxt.pro instance: count failed REST calls, and catch a dying receive loop.

ccxt's websocket receive loop parses each frame inside a task's done-callback; a frame that
does not parse (or a handler that raises) ends that callback before it schedules the next
receive, so the socket stays open, nothing is rejected and every stream on it freezes until a
stale watchdog notices. The guard here catches that exception at the frame, reports it at once,
and fails the socket's pending watches so the holder can re-create the exchange.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from scalp_radar.exchange.errors import Failure, FailureKind, classify

# Called with the ccxt websocket client and the exception that would have killed its receive loop.
ReceiveDied = Callable[[Any, BaseException], None]


@dataclass(slots=True)
class RestTally:
    """Failed REST calls of every exchange instance a holder created (process totals)."""

    rate_limited: int = 0  # HTTP 429 (Bitget's JSON body or plain text)
    errors: int = 0  # 5xx, timeouts, refused or dropped connections, other failures
    last: Failure | None = None

    def count(self, exc: BaseException, timeout_s: float) -> None:
        """Count one failed REST call (not one we cut ourselves by closing a re-created instance)."""
        import ccxt

        if isinstance(exc, ccxt.ExchangeClosedByUser):
            return
        failure = classify(exc, timeout_s=timeout_s)
        if failure.kind is FailureKind.RATE_LIMIT:
            self.rate_limited += 1
        else:
            self.errors += 1
        self.last = failure


def count_rest_failures(exchange: Any, tally: RestTally) -> None:
    """Wrap the instance's `fetch` (every REST call goes through it) to count its failures."""
    original: Callable[..., Awaitable[Any]] | None = getattr(exchange, "fetch", None)
    if original is None:
        return  # a stand-in without ccxt's transport (unit tests): nothing to count

    async def fetch(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        except Exception as exc:
            tally.count(exc, float(exchange.timeout) / 1000)
            raise

    exchange.fetch = fetch


def guard_receive_loop(exchange: Any, on_died: ReceiveDied) -> None:
    """Make every websocket client of `exchange` report, not swallow, a frame that kills it."""
    original_client: Callable[[str], Any] | None = getattr(exchange, "client", None)
    if original_client is None:
        return  # a stand-in without websockets

    def client(url: str) -> Any:
        c = original_client(url)
        if not getattr(c, "_receive_guarded", False):
            _guard(c, on_died)
        return c

    exchange.client = client


def _guard(client: Any, on_died: ReceiveDied) -> None:
    handle: Callable[[Any], None] = client.handle_message

    def guarded(message: Any) -> None:
        try:
            handle(message)
        except Exception as exc:  # noqa: BLE001 - any raise here ends ccxt's receive loop
            if getattr(client, "_receive_dead", False):
                return  # already reported; frames still queued before the close
            client._receive_dead = True
            on_died(client, exc)

    client.handle_message = guarded
    client._receive_guarded = True
    client._receive_dead = False


# Told (symbol, timeframe, what) of a candle frame ccxt will merge silently: "duplicate", "late".
FrameFault = Callable[[str, str, str], None]


def inspect_candle_frames(exchange: Any, on_fault: FrameFault) -> None:
    """Count candle frames ccxt's timestamp-keyed cache would swallow without a trace.

    A replayed frame (same `ts`, same rows) and a late frame (only rows older than the newest
    already pushed, each already cached) replace cached rows in place, so `watch_ohlcv` never
    shows them to the engine. Frames pass through unchanged; this only tells.
    """
    original: Callable[[Any, Any], None] | None = getattr(exchange, "handle_ohlcv", None)
    if original is None:
        return  # a stand-in without ccxt's bitget message handlers
    channels: dict[tuple[str, str], _Channel] = {}  # (instId, channel) -> what it pushed

    def handle_ohlcv(client: Any, message: Any) -> None:
        found = _frame_fault(exchange, message, channels)
        original(client, message)
        if found is not None:
            on_fault(*found)

    exchange.handle_ohlcv = handle_ohlcv


@dataclass(slots=True)
class _Channel:
    """One candle channel of one instance: its last frame, newest ts and (symbol, timeframe)."""

    last: tuple[Any, Any] | None = None  # (ts, data) of the last frame
    newest: int | None = None
    stream: tuple[str, str] | None = None  # resolved once: an instance's markets never change


def _frame_fault(
    exchange: Any, message: Any, channels: dict[tuple[str, str], _Channel]
) -> tuple[str, str, str] | None:
    """(symbol, timeframe, "duplicate" | "late") when ccxt will merge `message` silently."""
    try:
        arg = message["arg"]
        key = (str(arg["instId"]), str(arg["channel"]))
        data = message["data"]
        # A push carries one row (the forming candle) but for a close or a snapshot.
        stamps = [int(data[0][0])] if len(data) == 1 else [int(row[0]) for row in data]
    except (KeyError, TypeError, ValueError, IndexError):
        return None  # not a candle push we understand: ccxt decides
    channel = channels.get(key)
    if channel is None:
        channel = channels[key] = _Channel()
    elif message.get("action") == "snapshot":
        channel.last = channel.newest = None
    frame = (message.get("ts"), data)
    previous, channel.last = channel.last, frame
    top = channel.newest
    high = max(stamps) if stamps else None
    if high is not None and (top is None or high > top):
        channel.newest = high
    stream = channel.stream
    if stream is None:
        stream = channel.stream = _stream_of(exchange, key)
        if stream is None:
            return None  # not ours; asked again next frame (as cheap as it is rare)
    if previous is not None and previous == frame:
        return (*stream, "duplicate")
    if high is not None and top is not None and high < top:
        try:
            cached = exchange.ohlcvs[stream[0]][stream[1]].hashmap
        except (KeyError, AttributeError, TypeError):
            return None
        if all(ts in cached for ts in stamps):
            # ccxt replaces cached rows in place: the engine would never see this frame.
            return (*stream, "late")
    return None


def _stream_of(exchange: Any, key: tuple[str, str]) -> tuple[str, str] | None:
    """(symbol, timeframe) of a Bitget (instId, channel), resolved the way ccxt does."""
    try:
        market = exchange.safe_market(key[0], None, None, "contract")
        interval = key[1].replace("candle", "")
        timeframe = exchange.find_timeframe(interval, exchange.options["timeframes"])
    except Exception:  # noqa: BLE001 - an unknown market or channel cannot be ours
        return None
    if timeframe is None:
        return None
    return str(market["symbol"]), str(timeframe)
