"""Pulses (protocol 1.2), on a real engine against the simulated Bitget: a pulse on its snapshot
shows exactly what a snapshot built at that moment shows of candles, closes, ages and radar rows;
the daemon sends pulse viewers pulses between snapshots that come about once a second, and a 1.1
viewer gets whole snapshots at its rate and never a pulse."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import msgspec
import pytest

from scalp_radar.app.daemon_server import DaemonServer
from scalp_radar.core.clock import clock_speed
from scalp_radar.core.snapshot import EngineSnapshot
from scalp_radar.engine import wire
from scalp_radar.engine.pulse import Pulse, PulseFrame, StreamMove, apply_pulse
from scalp_radar.engine.wire_delta import DeltaError, Splice, make_delta
from scalp_radar.tui.attached import AttachedSource
from scalp_radar.tui.fixtures import healthy_snapshot
from tests.engine_support import wait_for
from tests.test_daemon_deltas import (
    OUTSIDER,
    as_full_frame,
    checking_meanwhile,
    over_the_wire,
    radar_engine,
    same,
)

_encode = msgspec.msgpack.encode


async def test_a_pulse_on_its_snapshot_shows_what_a_snapshot_built_then_shows():
    async with radar_engine() as (engine, published):
        # Watched through what it publishes: reading its snapshot would make it publish one at
        # every tick for a while, and pulses against a snapshot 50 ms old carry little.
        await wait_for(
            lambda: len(published) > 3 and len(published[-1].universe.rows) == 12,
            60,
            "the radar's rows",
        )
        pulses = moves = slides = rows = 0
        while pulses < 20:
            await asyncio.sleep(0.1)
            pulse = engine.build_pulse()
            if pulse is None:
                continue  # streams or rows changed since the last published snapshot
            # Built now, before the loop takes anything more in: the truth at the pulse's time.
            truth = engine.snapshot(fresh=True)
            frame = over_the_wire(msgspec.structs.replace(pulse.frame, base=1))
            assert isinstance(frame, PulseFrame)
            base = as_full_frame(pulse.snapshot)
            seen = apply_pulse(base, frame)
            speed = clock_speed(engine.clock)
            for worker, s, t in zip(engine.streams, seen.streams, truth.streams, strict=True):
                assert (s.recent_candles, s.recent_closes) == (t.recent_candles, t.recent_closes)
                assert s.last_candle == t.last_candle
                last = worker.last_update_ms
                age = None if last is None else max(0.0, (frame.taken_at_ms - last) / 1000 / speed)
                assert s.last_update_age_s == age
            assert _encode(seen.universe.rows) == _encode(truth.universe.rows)
            # The rest is the base's until the next snapshot.
            assert (seen.limiter, seen.incidents) == (base.limiter, base.incidents)
            assert seen.taken_at_ms == frame.taken_at_ms
            # What a whole delta would have carried is more.
            delta = make_delta(pulse.snapshot, 1, truth, 2)
            assert len(wire.encode_frame(frame)) < len(wire.encode_frame(delta))
            pulses += 1
            moves += len(frame.moves)
            # A close brings the closed candle and the new forming one (or more).
            slides += sum(1 for m in frame.moves if m.candles.head or len(m.candles.tail) > 1)
            rows += len(frame.rows)
        # Forming candles moved, candles closed (1m closes every 0.5 s here), rows changed.
        assert slides > 0, f"no candle closed under {pulses} pulses ({moves} moves)"
        assert moves > slides and rows > 0, (moves, slides, rows)

        # A new stream: no pulse on a snapshot without it.
        universe = engine.universe
        assert universe is not None
        universe.set_user_watchlist((OUTSIDER,))
        await wait_for(lambda: OUTSIDER in {r.symbol for r in published[-1].universe.rows}, 60)
        await engine.pin(OUTSIDER)
        await wait_for(lambda: any(s.symbol == OUTSIDER for s in engine.streams), 60)
        pulse = engine.build_pulse()  # at once: published since only if the loop just did
        assert pulse is None or len(pulse.snapshot.streams) == len(engine.streams)


async def test_pulse_viewers_see_the_engines_pictures_and_a_1_1_viewer_only_snapshots():
    """A real DaemonServer on a real engine, wired as the daemon wires it; real viewers."""
    async with radar_engine() as (engine, published):
        await wait_for(lambda: len(published) > 3 and len(published[-1].universe.rows) == 12, 60)
        pulses: list[Pulse] = []
        engine.on_pulse(pulses.append)
        server = DaemonServer(
            engine.snapshot,
            socket_path=Path(tempfile.mkdtemp(prefix="sr-")) / "d.sock",
            db_path=Path("x.db"),
            demo=True,
            want_pulses=engine.want_pulses,
        )
        await server.start()
        engine.on_snapshot(server.publish)
        engine.on_pulse(server.publish_pulse)
        # As in the daemon, viewers come once the server has a published snapshot to send.
        n = len(published)
        await wait_for(lambda: len(published) > n, 10, "a published snapshot")
        viewers = [
            AttachedSource(str(server.socket_path), rate_hz=rate, retry_s=0.1) for rate in (20, 4)
        ]
        try:
            for v in viewers:
                assert await asyncio.to_thread(v.start, 10)
            checked: list[dict[str, set[int]]] = [
                {"snapshot": set(), "pulse": set()} for _ in viewers
            ]
            truth: dict[int, tuple[str, EngineSnapshot]] = {}

            def check() -> bool:
                truth.update((s.taken_at_ms, ("snapshot", s)) for s in published[-20:])
                for p in pulses[-20:]:
                    truth[p.frame.taken_at_ms] = ("pulse", apply_pulse(p.snapshot, p.frame))
                for i, v in enumerate(viewers):
                    seen = v.snapshot()
                    assert seen is not None
                    kind, picture = truth.get(seen.taken_at_ms, ("", None))
                    if picture is not None and seen.taken_at_ms not in checked[i][kind]:
                        assert same(seen, picture), f"viewer {i} differs from the engine's {kind}"
                        checked[i][kind].add(seen.taken_at_ms)
                return all(len(c["pulse"]) >= 8 and len(c["snapshot"]) >= 2 for c in checked)

            async with checking_meanwhile(check):
                fulls, n = len(published), len(pulses)
                await wait_for(check, 60, "both viewers checked on pulses and snapshots")
                # Between snapshots, pulses: a snapshot about once a second, pulses the rest.
                assert len(pulses) - n >= 2 * (len(published) - fulls)
            assert all(v.attaches == 1 for v in viewers)  # no pulse or delta failed to apply

            # A 1.1 viewer: whole snapshots (full, then deltas) at its rate, never a pulse; and
            # while it watches, the engine builds snapshots at full rate instead of pulses.
            old = await wire.connect(str(server.socket_path))
            await old.send(wire.Subscribe(20.0, deltas=True))
            kinds = [type(await asyncio.wait_for(old.receive(), 10)) for _ in range(3)]
            n = len(pulses)
            kinds += [type(await asyncio.wait_for(old.receive(), 10)) for _ in range(10)]
            assert kinds[0] is wire.SnapshotFrame
            assert set(kinds[1:]) == {wire.DeltaFrame}
            assert len(pulses) == n
            await old.close()
        finally:
            for v in viewers:
                await asyncio.to_thread(v.stop)
            await server.stop()


def test_a_pulse_that_does_not_fit_its_snapshot_is_refused():
    base = healthy_snapshot()
    n = len(base.streams)
    ages = tuple(0.1 for _ in range(n))
    for bad in (
        PulseFrame(1, base.taken_at_ms, ages[1:]),  # an age short
        PulseFrame(1, base.taken_at_ms, ages, moves=(StreamMove(n, Splice()),)),
        PulseFrame(1, base.taken_at_ms, ages, moves=(StreamMove(0, Splice(stop=10_000)),)),
        PulseFrame(1, base.taken_at_ms, ages, rows_at=(10_000,), rows=()),
    ):
        with pytest.raises(DeltaError):
            apply_pulse(base, bad)
    moved = apply_pulse(base, PulseFrame(1, base.taken_at_ms + 250, ages))
    assert [s.last_update_age_s for s in moved.streams] == list(ages)
    assert moved.streams[0].recent_candles is base.streams[0].recent_candles
