"""One real daemon (`scalp-radar --headless --demo`) and real viewers on its Unix socket."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
import stat
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from scalp_radar.core.snapshot import StreamState
from scalp_radar.engine import wire
from scalp_radar.tui.attached import AttachedSource
from tests.daemon_support import Daemon, run_cli, running_daemon, short_dir, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PORT = _free_port()


# One real daemon for the module: its start (the demo's 500-contract radar live) takes seconds.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(None, "--http", f"127.0.0.1:{PORT}") as d:
        yield d


def _viewer(daemon: Daemon) -> AttachedSource:
    source = AttachedSource(str(daemon.socket), rate_hz=10, retry_s=0.1)
    assert source.start(wait_s=10), "viewer did not attach"
    return source


def _stored_closes(daemon: Daemon) -> int:
    with sqlite3.connect(f"file:{daemon.db}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT COUNT(*) FROM candles").fetchone()[0])


def test_several_viewers_attach_and_one_quitting_leaves_the_daemon_streaming(daemon):
    viewers = [_viewer(daemon) for _ in range(3)]
    try:
        for v in viewers:
            snap = v.snapshot()
            assert snap is not None and len(snap.streams) == 12
            assert snap.connection.demo is True
            assert (v.header_note() or "").startswith("attached · daemon up ")
        assert wait_for("3 viewers", lambda: (h := daemon.health()) and h.viewers == 3)
        viewers[0].stop()
        assert wait_for("2 viewers", lambda: (h := daemon.health()) and h.viewers == 2)
        # The daemon keeps publishing to the others and keeps writing candles.
        seen = viewers[1].snapshot()
        assert seen is not None
        stored = _stored_closes(daemon)
        wait_for(
            "a newer snapshot",
            lambda: (s := viewers[1].snapshot()) is not None and s.taken_at_ms > seen.taken_at_ms,
        )
        wait_for("more candles stored", lambda: _stored_closes(daemon) > stored)
        live = viewers[2].snapshot()
        assert live is not None and all(s.state is StreamState.LIVE for s in live.streams)
        assert daemon.proc is not None and daemon.proc.poll() is None
    finally:
        for v in viewers:
            v.stop()


def test_a_viewer_of_another_major_version_is_refused_with_one_line(daemon):
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(str(daemon.socket))
        raw.sendall(b"scalp-radar-protocol 2.3\n")
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    text = answer.decode()
    assert text.count("\n") == 1 and text.startswith("refused: ")
    assert "2.3" in text and wire.PROTOCOL in text

    async def attach() -> None:
        await wire.connect(str(daemon.socket), hello=b"scalp-radar-protocol 2.3\n")

    with pytest.raises(wire.Refused, match="refused: viewer speaks protocol 2.3"):
        asyncio.run(attach())


def test_socket_is_0600_in_a_0700_directory(daemon):
    assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o600
    assert stat.S_ISSOCK(daemon.socket.stat().st_mode)
    assert stat.S_IMODE(daemon.socket.parent.stat().st_mode) == 0o700


def test_status_exit_0_when_healthy_and_json_says_why(daemon):
    # The radar promotes hot symbols (2 streams each) once 5 min changes exist (~10 s at 60x):
    # while their streams connect the verdict is degraded, so wait for a healthy moment.
    def healthy(*flags: str) -> subprocess.CompletedProcess[str] | None:
        where = ("--db", str(daemon.db), "--socket", str(daemon.socket))
        out = run_cli("status", *flags, *where, cwd=daemon.dir)
        return out if out.returncode == 0 else None

    human = wait_for("a healthy status", healthy, 60.0)
    assert "HEALTHY" in human.stdout and "DEMO" in human.stdout
    # 12 candle streams and 10 ticker shards, plus 2 streams per hot symbol promoted by then.
    fresh = re.search(r"feeds: (\d+)/(\d+) fresh", human.stdout)
    assert fresh is not None and fresh[1] == fresh[2] and (int(fresh[2]) - 22) % 2 == 0
    doc = wait_for("a healthy status --json", lambda: healthy("--json"), 60.0)
    health = json.loads(doc.stdout)
    assert health["verdict"] == "healthy"
    assert health["engine_connected"] is True and health["database_ok"] is True
    assert health["pid"] == daemon.pid and health["feeds_total"] >= 22
    assert "incidents_last_hour" in health and health["uptime_s"] >= 0


def test_status_exit_2_without_a_daemon():
    base = short_dir()
    out = run_cli("status", "--db", str(base / "none.db"), cwd=base)
    assert out.returncode == 2
    assert "no daemon for" in out.stdout and "scalp-radar --headless" in out.stdout
    assert not (base / "none.db").exists()  # asking changed nothing


def test_health_and_metrics_are_served_over_http(daemon):
    def healthy() -> dict | None:
        # A feed a stalled machine let go stale makes it 503 (degraded) until it is fresh again.
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=5) as response:
                assert response.status == 200
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            assert exc.code == 503, exc
            return None

    health = wait_for("a healthy verdict", healthy)
    assert health["verdict"] == "healthy" and health["pid"] == daemon.pid

    def scrape() -> str | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=5) as response:
            text = response.read().decode()
        # The write latency appears once the first closed candles were flushed.
        return text if "scalp_radar_write_latency_seconds" in text else None

    text = wait_for("a flush timed", scrape)
    for metric in (
        "scalp_radar_updates_per_second_total",
        "scalp_radar_reconnects_total",
        "scalp_radar_gaps_detected_total",
        "scalp_radar_gaps_healed_total",
        "scalp_radar_rest_429_total",
        'scalp_radar_limiter_tokens{category="market_data"}',
        "scalp_radar_viewers",
    ):
        assert metric in text, metric
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{PORT}/nope", timeout=5)
    assert missing.value.code == 404


def test_a_second_engine_on_the_same_database_is_refused_with_one_line(daemon):
    other_socket = daemon.dir / "run" / "other.sock"
    second = run_cli(
        "--headless", "--demo", "--db", str(daemon.db), "--socket", str(other_socket),
        cwd=daemon.dir,
    )  # fmt: skip
    lines = [x for x in second.stderr.splitlines() if x.strip()]
    assert second.returncode == 2, second.stderr
    assert len(lines) == 1, second.stderr
    assert f"daemon (pid {daemon.pid}) already runs on {daemon.db}" in lines[0]
    assert "run `scalp-radar` to attach" in lines[0]
    # A standalone dashboard is refused the same way, before any screen is drawn.
    dashboard = run_cli("--no-attach", "--demo", "--db", str(daemon.db), cwd=daemon.dir)
    lines = [x for x in dashboard.stderr.splitlines() if x.strip()]
    assert dashboard.returncode == 2 and len(lines) == 1, dashboard.stderr
    assert "already runs on" in lines[0]
    assert not other_socket.exists()


def test_cli_backfill_and_repair_run_on_the_daemon(daemon):
    out = run_cli(
        "backfill", "--demo", "--db", str(daemon.db), "--socket", str(daemon.socket),
        "--symbol", "BTC/USDT:USDT", "--timeframe", "4h", "--days", "20",
        cwd=daemon.dir,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"sent to the running daemon (pid {daemon.pid})" in out.stdout
    assert "complete:" in out.stdout
    assert "DEMO: simulated Bitget" not in out.stdout  # no simulator of its own
    assert "backfill: complete" in daemon.output() or "complete:" in daemon.output()
    repair = run_cli(
        "--db", str(daemon.db), "--socket", str(daemon.socket), "data", "repair", "--demo",
        cwd=daemon.dir,
    )  # fmt: skip
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert f"sent to the running daemon (pid {daemon.pid})" in repair.stdout
    bad = run_cli(
        "backfill", "--demo", "--db", str(daemon.db), "--socket", str(daemon.socket),
        "--symbol", "NOPE/USDT:USDT", "--days", "1",
        cwd=daemon.dir,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "NOPE/USDT:USDT not listed" in bad.stderr


def test_the_radar_over_the_wire_universe_sparklines_and_watchlist(daemon):
    from scalp_radar.tui.radar_source import radar_seam

    viewer = _viewer(daemon)
    try:
        assert radar_seam(viewer) is viewer  # the dashboard finds the radar's seams on it
        rows = wait_for(
            "the universe's rows",
            lambda: (s := viewer.snapshot()) is not None and s.universe.rows,
        )
        symbol = rows[0].symbol
        assert viewer.sparkline(symbol, 30) == ()  # asked now, fetched after the next snapshot
        spark = wait_for("a sparkline from the daemon", lambda: viewer.sparkline(symbol, 30))
        assert 0 < len(spark) <= 30 and all(x > 0 for x in spark)
        assert viewer.set_watchlist((symbol,)) == "sent to the daemon"
        note = wait_for("the daemon's watchlist answer", lambda: viewer.watchlist_note)
        assert "tracked" in note or "adding" in note
    finally:
        viewer.stop()


def test_sparklines_are_asked_again_every_few_seconds_not_after_every_snapshot(daemon):
    """Five viewers each asking after every snapshot cost the daemon a request per viewer per
    snapshot; the shown rows' sparklines are asked again once SPARKLINE_REFRESH_S has passed, a
    newly shown row's once SPARKLINE_NEW_GAP_S has (re-sorting shows new rows all the time)."""
    from scalp_radar.tui.attached import SPARKLINE_NEW_GAP_S, SPARKLINE_REFRESH_S

    now = [100.0]
    viewer = AttachedSource(str(daemon.socket), rate_hz=10, retry_s=0.1, clock=lambda: now[0])
    assert viewer.start(wait_s=10), "viewer did not attach"
    try:
        rows = wait_for(
            "the universe's rows",
            lambda: (
                (s := viewer.snapshot()) is not None and s.universe.rows[1:] and s.universe.rows
            ),
        )
        first, second = rows[0].symbol, rows[1].symbol
        wait_for("a sparkline", lambda: viewer.sparkline(first, 30))
        asked = viewer.sparkline_requests

        def pictures(n: int, *shown: str) -> None:  # n more snapshots, the UI asking on each
            for _ in range(n):
                before = viewer.snapshot()
                wait_for("a new snapshot", lambda b=before: viewer.snapshot() is not b)
                for symbol in shown:
                    viewer.sparkline(symbol, 30)

        pictures(5, first)
        assert viewer.sparkline_requests == asked  # the clock stood still: nothing new to ask
        pictures(3, first, second)  # a row not asked before (a scroll)...
        assert viewer.sparkline_requests == asked  # ...waits out the gap since the last request
        now[0] += SPARKLINE_NEW_GAP_S
        wait_for("the new row's sparkline", lambda: viewer.sparkline(second, 30))
        pictures(2, first, second)
        assert viewer.sparkline_requests == asked + 1
        now[0] += SPARKLINE_REFRESH_S
        pictures(3, first, second)
        assert viewer.sparkline_requests == asked + 2  # refreshed once, not once per snapshot
    finally:
        viewer.stop()


async def test_the_attached_dashboard_says_so_in_its_header(daemon):
    from scalp_radar.tui.app import make_app

    viewer = AttachedSource(str(daemon.socket), rate_hz=10, retry_s=0.1)
    assert await asyncio.to_thread(viewer.start, 10)
    app = make_app(viewer, refresh_hz=10)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(100):
                if app.snapshot is not None:
                    break
                await pilot.pause(0.05)
            app.refresh_snapshot()
            assert app.sub_title.startswith("attached · daemon up ")
            assert "DEMO" in app.sub_title  # the daemon's simulated prices stay labelled
    finally:
        viewer.stop()


def test_a_backfill_from_an_attached_dashboard_runs_on_the_daemon(daemon):
    from scalp_radar.history.types import BackfillRequest

    viewer = _viewer(daemon)
    try:
        now = viewer.snapshot().taken_at_ms  # type: ignore[union-attr]
        day = 86_400_000
        request = BackfillRequest(("ETH/USDT:USDT",), ("4h",), now - 6 * day, now)
        plan = viewer.plan_backfill(request).result(timeout=30)
        assert plan.requests > 0
        progress = []
        result = viewer.start_backfill(plan, progress.append).result(timeout=60)
        assert result.complete and result.windows_total == plan.requests
        assert progress and progress[-1].windows_done == plan.requests
    finally:
        viewer.stop()


def _quiet_symbol(viewer: AttachedSource) -> str:
    """A radar symbol without candle streams, the least likely to turn hot meanwhile."""
    snap = wait_for(
        "the universe's rows",
        lambda: (s := viewer.snapshot()) is not None and s.universe.rows and s,
    )
    streamed = set(snap.symbols)
    rows = [r for r in snap.universe.rows if r.symbol not in streamed]
    return min(rows, key=lambda r: abs(r.change_5m) if r.change_5m == r.change_5m else 0).symbol


def _streams_of(viewer: AttachedSource, symbol: str) -> set[str]:
    snap = viewer.snapshot()
    return {s.timeframe for s in snap.streams if s.symbol == symbol} if snap else set()


def test_pins_over_the_wire_stream_candles_until_the_last_viewer_lets_go_or_leaves(daemon):
    a, b = _viewer(daemon), _viewer(daemon)
    try:
        symbol = _quiet_symbol(a)
        other = next(
            r.symbol
            for r in a.snapshot().universe.rows  # type: ignore[union-attr]
            if r.symbol != symbol and r.symbol not in a.snapshot().symbols  # type: ignore[union-attr]
        )
        assert a.pin(symbol) is True
        wait_for("its candle streams on the daemon", lambda: _streams_of(b, symbol))
        assert b.pin(symbol) is True
        a.unpin(symbol)
        # The daemon handles one viewer's requests in order: once a later pin and unpin of
        # another symbol took effect, so did the unpin above.
        a.pin(other)
        wait_for("the other's streams", lambda: _streams_of(a, other))
        a.unpin(other)
        wait_for("the other's streams gone", lambda: not _streams_of(a, other))
        assert _streams_of(a, symbol), "b still pins it: its candles keep streaming"
        b.stop()  # b leaves without unpinning: the daemon releases its pins
        wait_for("its streams gone with the last viewer", lambda: not _streams_of(a, symbol))
    finally:
        a.stop()
        b.stop()


async def test_the_attached_detail_screen_promotes_its_symbol_as_standalone(daemon):
    from scalp_radar.tui.app import make_app
    from scalp_radar.tui.screens.ticker_detail import TickerDetailScreen

    viewer = AttachedSource(str(daemon.socket), rate_hz=10, retry_s=0.1)
    assert await asyncio.to_thread(viewer.start, 10)
    app = make_app(viewer, refresh_hz=10)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            symbol = await asyncio.to_thread(_quiet_symbol, viewer)
            app.refresh_snapshot()
            app.open_detail(symbol)  # `enter` on the radar's row
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, TickerDetailScreen) and screen.pinned
            await asyncio.to_thread(
                wait_for, "its candle streams", lambda: _streams_of(viewer, symbol)
            )
            app.refresh_snapshot()
            await pilot.pause()
            info = str(screen.query_one("#ticker-info").render())
            assert "candles: promoted while this screen is open" in info
            await pilot.press("escape")
            await pilot.pause()
            await asyncio.to_thread(
                wait_for, "its streams gone", lambda: not _streams_of(viewer, symbol)
            )
            # Open again while it streams: the candle chart, as standalone.
            await asyncio.to_thread(viewer.pin, symbol)
            await asyncio.to_thread(wait_for, "streams", lambda: _streams_of(viewer, symbol))
            app.refresh_snapshot()
            app.open_detail(symbol)
            await pilot.pause()
            assert type(app.screen).__name__ == "DetailScreen"
            viewer.unpin(symbol)
    finally:
        viewer.stop()
