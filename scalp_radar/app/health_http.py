"""`--http HOST:PORT` on the daemon: `GET /health` (200 or 503, the `status --json` document) and
`GET /metrics` (Prometheus text, read from the latest snapshot at scrape time, so serving metrics
costs nothing between scrapes). Loopback unless the user names another host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import msgspec
from aiohttp import web
from loguru import logger
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.engine.health import Health


class SnapshotCollector(Collector):
    """Prometheus metrics computed from the engine's latest snapshot when scraped."""

    def __init__(
        self, snapshot: Callable[[], EngineSnapshot], viewers: Callable[[], tuple[int, int]]
    ):
        self._snapshot = snapshot
        self._viewers = viewers

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        conn = snap.connection
        streams = snap.streams
        updates = GaugeMetricFamily(
            "scalp_radar_updates_per_second", "Candle updates per second", labels=["stream"]
        )
        for s in streams:
            updates.add_metric([s.key], s.updates_per_s)
        yield updates
        yield GaugeMetricFamily(
            "scalp_radar_updates_per_second_total",
            "Candle updates per second, all streams",
            value=sum(s.updates_per_s for s in streams),
        )
        age = GaugeMetricFamily(
            "scalp_radar_feed_age_seconds", "Seconds since a feed's last update", labels=["stream"]
        )
        for s in streams:
            if s.last_update_age_s is not None:
                age.add_metric([s.key], s.last_update_age_s)
        yield age
        yield CounterMetricFamily(
            "scalp_radar_reconnects", "Websocket reconnects since start", value=conn.reconnects
        )
        for name, doc, value in (
            (
                "gaps_detected",
                "Gaps found in candle streams",
                sum(s.gaps_detected for s in streams),
            ),
            ("gaps_healed", "Gaps healed over REST", sum(s.gaps_healed for s in streams)),
            ("rest_429", "HTTP 429 answers on REST", conn.rest_429s),
            ("rest_errors", "Other failed REST calls", conn.rest_errors),
            ("malformed_frames", "Unparseable websocket frames", conn.malformed_frames),
        ):
            yield CounterMetricFamily(f"scalp_radar_{name}", doc, value=value)
        yield GaugeMetricFamily(
            "scalp_radar_gaps_open", "Gaps not healed yet", value=sum(s.gaps_open for s in streams)
        )
        tokens = GaugeMetricFamily(
            "scalp_radar_limiter_tokens", "Rate limiter tokens available", labels=["category"]
        )
        capacity = GaugeMetricFamily(
            "scalp_radar_limiter_capacity", "Rate limiter bucket size", labels=["category"]
        )
        queued = GaugeMetricFamily(
            "scalp_radar_limiter_queued", "Requests waiting for a token", labels=["category"]
        )
        waited = CounterMetricFamily(
            "scalp_radar_limiter_wait_seconds", "Time spent waiting for tokens", labels=["category"]
        )
        for b in snap.limiter:
            tokens.add_metric([b.category], b.tokens)
            capacity.add_metric([b.category], b.capacity)
            queued.add_metric([b.category], b.queued)
            waited.add_metric([b.category], b.total_wait_s)
        yield from (tokens, capacity, queued, waited)
        yield GaugeMetricFamily(
            "scalp_radar_database_ok",
            "1 while database writes succeed",
            value=int(conn.database_ok),
        )
        if conn.write_latency_ms is not None:
            yield GaugeMetricFamily(
                "scalp_radar_write_latency_seconds",
                "Duration of the last database flush",
                value=conn.write_latency_ms / 1000,
            )
        yield GaugeMetricFamily("scalp_radar_uptime_seconds", "Engine uptime", value=conn.uptime_s)
        attached, dropped = self._viewers()
        yield GaugeMetricFamily("scalp_radar_viewers", "Attached viewers", value=attached)
        yield CounterMetricFamily(
            "scalp_radar_viewers_dropped", "Viewers dropped for not reading", value=dropped
        )


class HealthHttp:
    """The aiohttp site serving /health and /metrics on the daemon's loop."""

    def __init__(
        self,
        bind: tuple[str, int],
        health: Callable[[], Health],
        snapshot: Callable[[], EngineSnapshot],
        viewers: Callable[[], tuple[int, int]],
    ) -> None:
        self.host, self.port = bind
        self._health = health
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(SnapshotCollector(snapshot, viewers))
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; OSError (port taken, address not ours) propagates as one line upstream."""
        app = web.Application()
        app.router.add_get("/health", self._get_health)
        app.router.add_get("/metrics", self._get_metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        logger.info("daemon: /health and /metrics on http://{}:{}", self.host, self.port)

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _get_health(self, _request: web.Request) -> web.Response:
        health = self._health()
        return web.Response(
            body=msgspec.json.encode(health),
            status=200 if health.exit_code == 0 else 503,
            content_type="application/json",
        )

    async def _get_metrics(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self._registry),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )
