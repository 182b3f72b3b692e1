"""ExchangeHolder.close: the sockets are aborted at once, never waiting on a close handshake."""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from scalp_radar.exchange.factory import create_exchange
from scalp_radar.exchange.holder import ExchangeHolder
from tests.engine_support import wait_for


class SilentPeer:
    """A websocket server that accepts, records what it receives and never answers a close."""

    def __init__(self) -> None:
        self.received: list[WSMsgType] = []
        self.connected = asyncio.Event()
        self.gone = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoclose=False, autoping=False)
        await ws.prepare(request)
        self.connected.set()
        while True:  # a CLOSE frame arrives here and stays unanswered (autoclose=False)
            msg = await ws.receive()
            self.received.append(msg.type)
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break  # the connection ended, or a close handshake began (left unanswered)
        self.gone.set()
        return ws

    async def __aenter__(self) -> SilentPeer:
        app = web.Application()
        app.router.add_get("/ws", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/ws"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_close_aborts_the_socket_without_a_close_handshake():
    async with SilentPeer() as peer:
        ex = create_exchange(None, "http://127.0.0.1:9")  # a simulator URL: no keys, plain ws
        holder = ExchangeHolder(lambda: ex)
        holder.ensure()
        ex.open()
        client = ex.client(peer.url)
        watcher = asyncio.ensure_future(ex.watch(peer.url, "probe", {"op": "subscribe"}, "probe"))
        await asyncio.wait_for(peer.connected.wait(), 10)
        await asyncio.wait_for(client.connected, 10)  # ccxt's side is up too
        await holder.close()
        # The peer sees the connection end, and no close frame was ever sent to wait on.
        await asyncio.wait_for(peer.gone.wait(), 10)
        assert WSMsgType.CLOSE not in peer.received
        assert ex.session is None and not ex.clients
        await wait_for(lambda: watcher.done(), 5.0, "the pending watch to end")
        assert client.connection is None or client.connection.closed
        watcher.cancel()


async def test_every_instance_shares_one_tls_context() -> None:
    """Each shard's instance (and each re-creation) loaded the CA bundle into its own TLS
    context: ~0.9 MB and ~40 ms apiece. The factory hands them all the same context."""
    a = create_exchange(None)
    b = create_exchange(None, sim_url="http://127.0.0.1:9")
    try:
        a.open()
        b.open()
        assert a.ssl_context is not None and a.ssl_context is b.ssl_context
    finally:
        await a.close()
        await b.close()
