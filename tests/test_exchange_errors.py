"""Exceptions from real ccxt/aiohttp calls against local sockets, classified into short reasons."""

from __future__ import annotations

import socket

import aiohttp
import ccxt
import pytest

from scalp_radar.exchange.errors import FailureKind, classify, describe
from scalp_radar.exchange.factory import create_exchange
from tests.test_failures_visible import http_503_server


async def _load_markets_error(url: str) -> BaseException:
    ex = create_exchange(None, url)
    ex.timeout = 300
    try:
        await ex.load_markets()
    except Exception as exc:  # noqa: BLE001 - the point of the test
        return exc
    finally:
        await ex.close()
    raise AssertionError("load_markets succeeded")


async def test_refused_port_reads_connection_refused():
    exc = await _load_markets_error("http://127.0.0.1:1")
    assert isinstance(exc, ccxt.ExchangeNotAvailable)
    failure = classify(exc)
    assert (failure.kind, failure.reason) == (FailureKind.REFUSED, "connection refused 127.0.0.1:1")
    assert failure.unreachable


async def test_plain_http_server_spoken_tls_to_reads_tls_handshake_failed():
    async with http_503_server() as url:
        exc = await _load_markets_error(url.replace("http://", "https://"))
    failure = classify(exc)
    assert failure.kind is FailureKind.TLS
    assert failure.reason.startswith("TLS handshake failed with 127.0.0.1:")


async def test_http_503_reads_its_status():
    async with http_503_server() as url:
        exc = await _load_markets_error(url)
    assert classify(exc).reason == "HTTP 503"


async def test_silent_server_reads_timeout_after_the_configured_seconds():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        exc = await _load_markets_error(f"http://127.0.0.1:{sock.getsockname()[1]}")
    finally:
        sock.close()
    assert isinstance(exc, ccxt.RequestTimeout)
    assert classify(exc, timeout_s=0.3).reason == "timeout after 0.3 s"


def test_dns_failure_names_the_host():
    key = _connection_key("ws.bitget.com", 443)
    dns = aiohttp.ClientConnectorDNSError(key, socket.gaierror(-2, "Name or service not known"))
    # As a websocket dial rejects it: NetworkError wrapping the aiohttp error.
    assert classify(ccxt.NetworkError(dns)).reason == "DNS lookup failed for ws.bitget.com"


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (
            ccxt.DDoSProtection('bitget {"code":"429","msg":"Too Many Requests"}'),
            "rate limited (HTTP 429)",
        ),
        (
            ccxt.RateLimitExceeded(
                'bitget {"event":"error","code":30006,"msg":"request too many"}'
            ),
            "rate limited (error 30006 request too many)",
        ),
        (
            ccxt.NetworkError("Connection closed by remote server, closing code 1006"),
            "connection closed (code 1006)",
        ),
        (
            ccxt.BadSymbol("bitget does not have market symbol X"),
            "BadSymbol: bitget does not have market symbol X",
        ),
        (ValueError("x" * 500), "ValueError: " + "x" * 145 + "..."),
    ],
)
def test_describe_is_one_bounded_line(exc, reason):
    assert describe(exc) == reason


def _connection_key(host: str, port: int):  # noqa: ANN202 - aiohttp's private key type
    from aiohttp.client_reqrep import ConnectionKey

    fields = dict.fromkeys(ConnectionKey._fields)
    fields.update(host=host, port=port, is_ssl=True, ssl=True)
    return ConnectionKey(**fields)
