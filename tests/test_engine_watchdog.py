"""The stream watchdog behaves as asyncio.timeout across a loop of guarded awaits."""

from __future__ import annotations

import asyncio

import pytest

from scalp_radar.engine.watchdog import Watchdog


async def test_a_silent_await_times_out_and_leaves_the_task_uncancelled():
    dog = Watchdog()
    with pytest.raises(TimeoutError), dog.guard(0.02):
        await asyncio.Event().wait()
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # no cancellation left pending for the task
    dog.close()


async def test_awaits_that_keep_arriving_never_time_out_though_their_sum_exceeds_the_timeout():
    dog = Watchdog()
    for _ in range(50):
        with dog.guard(0.5):
            await asyncio.sleep(0.02)  # 50 x 20 ms: twice the timeout in total
    # And it still fires for the next silent await (the deadline followed every guard).
    with pytest.raises(TimeoutError), dog.guard(0.02):
        await asyncio.Event().wait()
    dog.close()


async def test_a_shorter_timeout_after_a_longer_one_is_honoured():
    dog = Watchdog()
    with dog.guard(60.0):
        await asyncio.sleep(0)
    with pytest.raises(TimeoutError), dog.guard(0.02):
        await asyncio.Event().wait()
    dog.close()


async def test_time_between_guarded_awaits_does_not_count():
    dog = Watchdog()
    with dog.guard(0.02):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)  # unguarded (a backoff sleep): the timer must not cancel it
    with dog.guard(1.0):
        await asyncio.sleep(0)
    dog.close()


async def test_a_real_cancellation_stays_a_cancellation():
    async def guarded() -> None:
        dog = Watchdog()
        with dog.guard(60.0):
            await asyncio.Event().wait()

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
