"""Exceptions from ccxt/aiohttp turned into short human reasons ("connection refused 127.0.0.1:1").

ccxt wraps transport errors: REST raises `ExchangeNotAvailable(...) from <aiohttp error>`, a
websocket dial rejects with `NetworkError(<aiohttp error>)`, and HTTP statuses only survive in
the message text ("bitget GET <url> 503 Service Unavailable ..."). This module looks through
those layers once, so every screen, log line and incident names the same reason.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import aiohttp

# "bitget GET http://host/api/... 503 Service Unavailable <body>": ccxt's handle_http_status_code.
_HTTP_STATUS = re.compile(r"^\S+ (?:GET|POST|PUT|DELETE|PATCH) \S+ (\d{3})\b")
# Bitget's JSON error body inside ccxt's message: {"code":"429","msg":"Too Many Requests",...}
_JSON_CODE = re.compile(r'"code"\s*:\s*"?(\d+)"?')
_JSON_MSG = re.compile(r'"msg"\s*:\s*"([^"]*)"')
_CLOSE_CODE = re.compile(r"closing code (\d+)")
MAX_TEXT = 160


class FailureKind(StrEnum):
    """What kind of failure a reason describes; the first six mean "cannot reach the exchange"."""

    DNS = "dns"
    REFUSED = "refused"
    TLS = "tls"
    TIMEOUT = "timeout"
    HTTP = "http"
    CONNECT = "connect"
    RATE_LIMIT = "rate_limit"
    CLOSED = "closed"
    OTHER = "other"


UNREACHABLE = frozenset(
    {
        FailureKind.DNS,
        FailureKind.REFUSED,
        FailureKind.TLS,
        FailureKind.TIMEOUT,
        FailureKind.HTTP,
        FailureKind.CONNECT,
    }
)


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified exception: its kind and a short reason a trader can act on."""

    kind: FailureKind
    reason: str

    @property
    def unreachable(self) -> bool:
        """True when the exchange could not be reached at all (dial or HTTP level)."""
        return self.kind in UNREACHABLE


def describe(exc: BaseException) -> str:
    """One bounded line naming the exception: its classified reason, else "Type: first line"."""
    failure = classify(exc)
    if failure.kind is not FailureKind.OTHER:
        return failure.reason
    return _plain(exc)


def classify(exc: BaseException, *, timeout_s: float | None = None) -> Failure:
    """The kind and short reason of `exc`; `timeout_s` is the timeout that expired, if known."""
    for err in _layers(exc):
        found = _classify_one(err, timeout_s)
        if found is not None:
            return found
    return Failure(FailureKind.OTHER, _plain(exc))


def _classify_one(err: BaseException, timeout_s: float | None) -> Failure | None:
    # aiohttp first: its connector errors carry the host and the OS error.
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return Failure(FailureKind.DNS, f"DNS lookup failed for {err.host}")
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return Failure(FailureKind.TLS, f"TLS certificate rejected for {err.host}")
    if isinstance(err, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError | ssl.SSLError):
        where = (
            f" with {err.host}:{err.port}" if isinstance(err, aiohttp.ClientConnectorError) else ""
        )
        return Failure(FailureKind.TLS, f"TLS handshake failed{where}")
    if isinstance(err, aiohttp.ClientConnectorError):
        where = f"{err.host}:{err.port}"
        if isinstance(err.os_error, ConnectionRefusedError):
            return Failure(FailureKind.REFUSED, f"connection refused {where}")
        if isinstance(err.os_error, socket.gaierror):
            return Failure(FailureKind.DNS, f"DNS lookup failed for {err.host}")
        what = err.os_error.strerror or type(err.os_error).__name__
        return Failure(FailureKind.CONNECT, f"cannot connect to {where}: {what}")
    if isinstance(err, aiohttp.WSServerHandshakeError):
        return Failure(FailureKind.HTTP, f"HTTP {err.status} on the websocket handshake")
    if isinstance(err, socket.gaierror):
        return Failure(FailureKind.DNS, "DNS lookup failed")
    if isinstance(err, ConnectionRefusedError):
        return Failure(FailureKind.REFUSED, "connection refused")
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return Failure(FailureKind.CLOSED, "server closed the connection without answering")
    return _classify_ccxt(err, timeout_s)


def _classify_ccxt(err: BaseException, timeout_s: float | None) -> Failure | None:
    import ccxt  # lazy: ccxt costs ~0.7 s to import

    text = str(err)
    if isinstance(err, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        code = _JSON_CODE.search(text)
        msg = _JSON_MSG.search(text)
        status = _HTTP_STATUS.match(text)
        if code and code.group(1) != "429":
            detail = f"error {code.group(1)}" + (f" {msg.group(1)}" if msg else "")
        else:
            detail = "HTTP 429"
        if status is not None and status.group(1) != "429":
            detail = f"HTTP {status.group(1)}"
        return Failure(FailureKind.RATE_LIMIT, f"rate limited ({detail})")
    if isinstance(err, ccxt.RequestTimeout | TimeoutError):
        if "keepalive" in text:
            return Failure(FailureKind.TIMEOUT, "no pong: keepalive timed out")
        after = f" after {timeout_s:g} s" if timeout_s is not None else ""
        return Failure(FailureKind.TIMEOUT, f"timeout{after}")
    status = _HTTP_STATUS.match(text)
    if status is not None:
        return Failure(FailureKind.HTTP, f"HTTP {status.group(1)}")
    if isinstance(err, ccxt.NetworkError):
        close = _CLOSE_CODE.search(text)
        if close is not None:
            return Failure(FailureKind.CLOSED, f"connection closed (code {close.group(1)})")
    return None


def _layers(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it wraps: `__cause__`/`__context__` and an exception passed as arg."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        err = todo.pop(0)
        if id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        todo.extend(a for a in err.args[:1] if isinstance(a, BaseException))
        if err.__cause__ is not None:
            todo.append(err.__cause__)
        elif err.__context__ is not None and not err.__suppress_context__:
            todo.append(err.__context__)


def _plain(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    line = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return line if len(line) <= MAX_TEXT else line[: MAX_TEXT - 3] + "..."
