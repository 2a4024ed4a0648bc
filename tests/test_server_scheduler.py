"""The scheduler alone: supersession, FIFO, debounce, cancellation (no LSP, no engine)."""

from __future__ import annotations

import asyncio

import pytest

from dglsp.engine.base import Cancelled, CancelToken
from dglsp.server.scheduler import CLIENT_CANCELLED, Scheduler, Superseded


class FakeEngine:
    """Work that takes `steps` steps of `step_s` and checks the token between steps, like an engine."""

    def __init__(self, steps: int = 5, step_s: float = 0.02) -> None:
        self.steps = steps
        self.step_s = step_s
        self.log: list[tuple[str, str]] = []  # (event, name)
        self.active = 0
        self.max_active = 0

    def work(self, name: str, steps: int | None = None):
        async def run(token: CancelToken) -> str:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.log.append(("start", name))
            try:
                for _ in range(steps or self.steps):
                    await asyncio.sleep(self.step_s)
                    if token.cancelled:
                        self.log.append(("cancelled", name))
                        raise Cancelled(token.reason)
                self.log.append(("done", name))
                return name
            finally:
                self.active -= 1

        return run

    def started(self) -> list[str]:
        return [name for event, name in self.log if event == "start"]


async def test_runs_one_job_and_returns_its_result() -> None:
    scheduler, engine = Scheduler(), FakeEngine(steps=1)
    assert await scheduler.run("a", engine.work("a1")) == "a1"
    assert scheduler.job("a") is None


async def test_newer_job_for_same_key_supersedes_running_one_between_steps() -> None:
    scheduler, engine = Scheduler(), FakeEngine(steps=50, step_s=0.01)
    first = asyncio.create_task(scheduler.run("doc", engine.work("first")))
    await asyncio.sleep(0.035)
    second = asyncio.create_task(scheduler.run("doc", engine.work("second", steps=2)))

    with pytest.raises(Superseded, match="superseded"):
        await first
    assert await second == "second"
    # The first stopped at its next step and the second never overlapped with it.
    assert engine.log[:3] == [("start", "first"), ("cancelled", "first"), ("start", "second")]
    assert engine.max_active == 1


async def test_superseded_while_queued_never_reaches_the_engine() -> None:
    scheduler, engine = Scheduler(), FakeEngine(steps=3)
    other = asyncio.create_task(scheduler.run("other", engine.work("other")))
    await asyncio.sleep(0)
    old = asyncio.create_task(scheduler.run("doc", engine.work("old")))
    await asyncio.sleep(0.01)
    new = asyncio.create_task(scheduler.run("doc", engine.work("new")))

    with pytest.raises(Superseded):
        await old
    assert old.done() and not other.done()  # answered at once, not after "other" finished
    assert await other == "other"
    assert await new == "new"
    assert engine.started() == ["other", "new"]


async def test_different_keys_run_in_arrival_order_one_at_a_time() -> None:
    scheduler, engine = Scheduler(), FakeEngine(steps=2, step_s=0.005)
    tasks = [asyncio.create_task(scheduler.run(f"doc{i}", engine.work(f"doc{i}"))) for i in range(5)]
    assert await asyncio.gather(*tasks) == [f"doc{i}" for i in range(5)]
    assert engine.started() == [f"doc{i}" for i in range(5)]
    assert engine.max_active == 1


async def test_debounce_drops_superseded_automatic_requests() -> None:
    scheduler, engine = Scheduler(), FakeEngine(steps=1)
    typed = [
        asyncio.create_task(scheduler.run("doc", engine.work(f"key{i}"), debounce=0.05)) for i in range(4)
    ]
    for task in typed[:-1]:
        with pytest.raises(Superseded):
            await task
    assert await typed[-1] == "key3"
    assert engine.started() == ["key3"]


async def test_debounce_delays_the_engine() -> None:
    scheduler, engine = Scheduler(), FakeEngine(steps=1, step_s=0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await scheduler.run("doc", engine.work("x"), debounce=0.08)
    assert loop.time() - started >= 0.075


async def test_caller_cancellation_triggers_the_token_and_frees_the_engine() -> None:
    scheduler, engine = Scheduler(), FakeEngine(steps=100, step_s=0.01)
    seen: list[CancelToken] = []

    async def work(token: CancelToken) -> str:
        seen.append(token)
        return await engine.work("slow")(token)

    task = asyncio.create_task(scheduler.run("doc", work))
    await asyncio.sleep(0.03)
    task.cancel()  # what pygls does on $/cancelRequest
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen[0].cancelled and seen[0].reason == CLIENT_CANCELLED
    await scheduler.wait_idle()
    assert ("cancelled", "slow") in engine.log
    assert await scheduler.run("doc", engine.work("next", steps=1)) == "next"


async def test_caller_cancelled_while_queued_leaves_the_queue() -> None:
    scheduler, engine = Scheduler(), FakeEngine(steps=3)
    busy = asyncio.create_task(scheduler.run("a", engine.work("a")))
    await asyncio.sleep(0)
    queued = asyncio.create_task(scheduler.run("b", engine.work("b")))
    await asyncio.sleep(0.005)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert await busy == "a"
    await scheduler.wait_idle()
    assert engine.started() == ["a"]


async def test_cancel_by_key_stops_running_work() -> None:
    scheduler, engine = Scheduler(), FakeEngine(steps=100, step_s=0.01)
    task = asyncio.create_task(scheduler.run("doc", engine.work("w")))
    await asyncio.sleep(0.02)
    assert scheduler.cancel("doc", "document changed")
    with pytest.raises(Superseded, match="document changed"):
        await task
    assert not scheduler.cancel("doc", "again")


async def test_cancel_all_and_ready_gate() -> None:
    scheduler, engine = Scheduler(), FakeEngine(steps=1)
    loaded = asyncio.Event()
    waiting = [
        asyncio.create_task(scheduler.run(f"d{i}", engine.work(f"d{i}"), ready=loaded.wait)) for i in range(3)
    ]
    await asyncio.sleep(0.01)
    assert engine.started() == []
    scheduler.cancel_all("engine restarting")
    for task in waiting:
        with pytest.raises(Superseded, match="engine restarting"):
            await task
    loaded.set()
    assert await scheduler.run("d0", engine.work("after"), ready=loaded.wait) == "after"


async def test_work_errors_reach_the_caller_and_the_next_job_runs() -> None:
    scheduler = Scheduler()

    async def broken(token: CancelToken) -> str:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await scheduler.run("doc", broken)
    assert await scheduler.run("doc", FakeEngine(steps=1).work("ok")) == "ok"


async def test_work_that_trips_its_own_token_while_finishing_still_returns_its_result() -> None:
    # The in-process engine cancels the token it was given when its consumer stops while the
    # model thread is still winding down, which includes a normal finish.
    scheduler = Scheduler()

    async def finishes_then_trips(token: CancelToken) -> str:
        await asyncio.sleep(0.01)
        token.cancel("consumer stopped")
        return "text"

    assert await scheduler.run("doc", finishes_then_trips) == "text"
    # A real cancellation keeps its own reason even if the work overwrites the token's.
    task = asyncio.create_task(scheduler.run("doc", FakeEngine(steps=100, step_s=0.01).work("w")))
    await asyncio.sleep(0.02)
    scheduler.cancel("doc", "document changed")
    with pytest.raises(Superseded, match="document changed"):
        await task
