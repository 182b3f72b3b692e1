"""`backfill` and `data repair` while a daemon runs: the daemon does the work (one rate limiter
governs the IP); this process plans nothing itself, prints the daemon's plan and progress, and
Ctrl-C cancels the job on the daemon (what was written stays valid).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from typing import Literal

from scalp_radar.app import history_cmds
from scalp_radar.app.context import RunContext
from scalp_radar.app.daemon_client import daemon_socket, open_daemon
from scalp_radar.app.errors import ExitCode, UsageError, print_error
from scalp_radar.app.history_cmds import (
    DAY_MS,
    _report,
    check_symbol,
    check_timeframe,
    describe_plan,
    progress_bar,
    resolve_range,
    select_streams,
)
from scalp_radar.app.signals import on_stop_signals
from scalp_radar.core.timefmt import utc_minute
from scalp_radar.engine import wire

JOB = 1


def _job(
    args: argparse.Namespace, ctx: RunContext, kind: Literal["backfill", "repair"]
) -> wire.HistoryJob:
    """The request, with every input checked here first (bad input never reaches the daemon)."""
    concurrency: int = args.concurrency
    retries: int = args.retries
    if kind == "repair":
        symbols = tuple(check_symbol(s) for s in (args.symbol or []))
        tfs = tuple(check_timeframe(t) for t in (args.timeframe or []))
        return wire.HistoryJob(
            JOB,
            "repair",
            symbols=symbols,
            timeframes=tfs,
            concurrency=concurrency,
            retries=retries,
        )
    selection = select_streams(args, ctx.config)
    resolve_range(args, int(time.time() * 1000) + DAY_MS)  # dates checked before any request
    return wire.HistoryJob(
        JOB,
        "backfill",
        streams=selection.streams,
        days=args.days,
        since=args.since,
        until=args.until,
        force=bool(args.force),
        concurrency=concurrency,
        retries=retries,
    )


async def _follow(conn: wire.DaemonConnection, job: wire.HistoryJob) -> int:
    await conn.send(job)
    with contextlib.ExitStack() as stack:
        on_progress = None

        def cancel() -> None:
            print("cancelling on the daemon...", file=sys.stderr)
            asyncio.ensure_future(conn.send(wire.CancelBackfill(job.job)))

        stack.enter_context(on_stop_signals(cancel))
        while True:
            message = await conn.receive()
            if isinstance(message, wire.BackfillPlanned):
                plan = message.plan
                if job.kind == "repair":
                    print(message.note or "no holes: nothing to repair")
                else:
                    print(
                        f"range: {utc_minute(message.since_ms)} .. {utc_minute(message.until_ms)} UTC"
                    )
                if plan.requests:
                    for line in describe_plan(plan):
                        print(line)
                    on_progress = stack.enter_context(progress_bar(plan))
                elif job.kind == "backfill":
                    print("nothing to fetch: every candle in range is already stored")
            elif isinstance(message, wire.BackfillProgressed) and on_progress is not None:
                on_progress(message.progress)
            elif isinstance(message, wire.BackfillFinished):
                stack.close()  # the progress bar ends before the summary
                if message.result.windows_total == 0:
                    return ExitCode.OK
                return _report(message.result)
            elif isinstance(message, wire.Error):
                stack.close()
                print_error(message.message)
                return ExitCode.USAGE if message.usage else ExitCode.INCOMPLETE


def _on_daemon(
    args: argparse.Namespace, ctx: RunContext, kind: Literal["backfill", "repair"]
) -> int | None:
    """Run the command on the database's daemon; None when no daemon runs (run it here)."""
    path = daemon_socket(ctx.db_path, args.socket)

    async def main() -> int | None:
        conn = await open_daemon(path)
        if conn is None:
            return None
        try:
            job = _job(args, ctx, kind)
            print(
                f"sent to the running daemon (pid {conn.welcome.pid}), which shares its rate "
                "limiter with the live engine"
            )
            return await _follow(conn, job)
        except (asyncio.IncompleteReadError, ConnectionError):
            print_error(
                "the daemon went away during the job; what was written is valid, rerun to complete"
            )
            return ExitCode.INCOMPLETE
        finally:
            await conn.close()

    try:
        return asyncio.run(main())
    except UsageError as exc:
        print_error(exc)
        return ExitCode.USAGE
    except wire.Refused as exc:
        print_error(exc)
        return ExitCode.USAGE


def run_backfill(args: argparse.Namespace, ctx: RunContext) -> int:
    """`scalp-radar backfill`: on the daemon when one runs on this database, else here."""
    routed = _on_daemon(args, ctx, "backfill")
    return history_cmds.run_backfill(args, ctx) if routed is None else routed


def run_data_repair(args: argparse.Namespace, ctx: RunContext) -> int:
    """`scalp-radar data repair`: on the daemon when one runs on this database, else here."""
    routed = _on_daemon(args, ctx, "repair")
    return history_cmds.run_data_repair(args, ctx) if routed is None else routed
