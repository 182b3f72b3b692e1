"""Benchmark of the simulator's ticker feed for the market-wide radar (prints figures only).

Run: .venv/bin/python tests/bench/bench_sim_tickers.py [--contracts 500] [--seconds 30]
     [--speed 1] [--shards 10]

The simulator runs as the demo runs it: a child process (`scalp-radar sim --contracts N`). A raw
aiohttp reader in this process opens `--shards` websocket connections, subscribes every contract's
`ticker` channel (one subscribe message per connection, 50 channels each for 500 contracts) and
counts the pushes it receives for `--seconds` at Bitget's realistic cadence. Figures:
  - time until the child listens, and the first all-tickers REST call (it builds every
    contract's day blocks);
  - ticker pushes/s served, and the cadence: pushes/s of the 10 busiest contracts vs the 100
    quietest;
  - the child's CPU share of one core while serving, and its RSS;
  - error events (30006/30007) and closed connections: both must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiohttp  # noqa: E402

from scalp_radar.app.demo import start_child_simulator  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def contracts_of(url: str) -> list[str]:
    """Every contract id the simulator lists, most traded first."""
    query = f"{url}/api/v2/mix/market/contracts?productType=USDT-FUTURES"
    async with aiohttp.ClientSession() as http, http.get(query) as r:
        body = await r.json()
    return [c["symbol"] for c in body["data"]]


async def reader(
    ws_url: str, insts: list[str], counts: Counter[str], errors: list[dict], go: asyncio.Event
) -> None:
    """One connection: subscribe every inst in one message, count pushes once `go` is set."""
    args = [{"instType": "USDT-FUTURES", "channel": "ticker", "instId": i} for i in insts]
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "args": args}))
        last_ping = time.monotonic()
        while True:
            if time.monotonic() - last_ping > 25:  # Bitget wants a ping within 30 s
                await ws.send_str("ping")
                last_ping = time.monotonic()
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                errors.append({"closed": str(msg.type)})
                return
            if msg.data == "pong":
                continue
            frame = json.loads(msg.data)
            if frame.get("event") == "error":
                errors.append(frame)
            elif "data" in frame and go.is_set():
                counts[frame["arg"]["instId"]] += 1


async def main(args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    child = await start_child_simulator(
        ["BTC/USDT:USDT", "ETH/USDT:USDT"], speed=args.speed, contracts=args.contracts
    )
    ready_s = time.monotonic() - t0
    try:
        insts = await contracts_of(child.url)
        t1 = time.monotonic()
        query = f"{child.url}/api/v2/mix/market/tickers?productType=USDT-FUTURES"
        async with aiohttp.ClientSession() as http, http.get(query) as r:
            assert len((await r.json())["data"]) == len(insts)
        first_s = time.monotonic() - t1
        ws_url = child.url.replace("http://", "ws://") + "/v2/ws/public"
        counts: Counter[str] = Counter()
        errors: list[dict] = []
        go = asyncio.Event()
        groups = [insts[i :: args.shards] for i in range(args.shards)]
        tasks = [asyncio.create_task(reader(ws_url, g, counts, errors, go)) for g in groups]
        await asyncio.sleep(3.0)  # snapshots delivered, feed in its stride
        cpu0, wall0 = cpu_seconds(child.pid), time.monotonic()
        go.set()
        await asyncio.sleep(args.seconds)
        cpu1, wall1 = cpu_seconds(child.pid), time.monotonic()
        go.clear()
        rss = rss_mb(child.pid)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await child.stop()
    wall = wall1 - wall0
    total = sum(counts.values())
    busiest = sum(counts[i] for i in insts[:10]) / 10 / wall
    quietest = sum(counts[i] for i in insts[-100:]) / 100 / wall
    print(
        f"contracts {len(insts)} over {args.shards} connections, speed {args.speed:g}x, "
        f"{wall:.1f} s measured"
    )
    print(f"child ready after {ready_s:.1f} s; first all-tickers REST call {first_s:.1f} s")
    print(
        f"ticker pushes served: {total / wall:.0f}/s "
        f"({len([i for i in insts if counts[i]])} contracts pushed at least once)"
    )
    print(f"cadence: 10 busiest {busiest:.2f} pushes/s each, 100 quietest {quietest:.3f}/s each")
    print(f"simulator CPU: {(cpu1 - cpu0) / wall * 100:.1f} % of one core; RSS {rss:.0f} MB")
    print(f"error events / closed connections: {len(errors)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--shards", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
