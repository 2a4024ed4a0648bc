"""Fair turns on the one model: round-robin across connections, first-come within one.

Each editor window is one connection. A window that queues many requests must not starve
another window: the next job comes from the connection served least recently, so two
windows with three requests each alternate (A1 B1 A2 B2 A3 B3), whatever the arrival order.
Which of one window's requests are still wanted is that window's business (its server
cancels superseded ones); here they just run in the order they came.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field

from dglsp.engine.base import CancelToken, InfillRequest


@dataclass(eq=False)
class Job:
    connection: int  # the connection's number
    id: int  # the client's request id
    request: InfillRequest
    cancel: CancelToken = field(default_factory=CancelToken)


class FairQueue:
    def __init__(self) -> None:
        self._pending: dict[int, deque[Job]] = {}
        self._last_served: dict[int, int] = {}  # connection -> turn it was last served
        self._turns = itertools.count(1)
        self._changed = asyncio.Event()

    def put(self, job: Job) -> None:
        self._pending.setdefault(job.connection, deque()).append(job)
        self._changed.set()

    async def get(self) -> Job:
        """The next job: from the connection with pending jobs that waited longest for a turn."""
        while not self._pending:
            self._changed.clear()
            await self._changed.wait()
        connection = min(self._pending, key=lambda c: self._last_served.get(c, 0))
        jobs = self._pending[connection]
        job = jobs.popleft()
        if not jobs:
            del self._pending[connection]
        self._last_served[connection] = next(self._turns)
        return job

    def remove(self, connection: int, job_id: int) -> Job | None:
        """Take a queued job out (it was cancelled before its turn)."""
        jobs = self._pending.get(connection, deque())
        for job in jobs:
            if job.id == job_id:
                jobs.remove(job)
                if not jobs:
                    del self._pending[connection]
                return job
        return None

    def drop(self, connection: int) -> list[Job]:
        """Forget a connection that went away, with its queued jobs (returned)."""
        self._last_served.pop(connection, None)
        return list(self._pending.pop(connection, ()))

    def __len__(self) -> int:
        return sum(len(jobs) for jobs in self._pending.values())

    def __contains__(self, key: tuple[int, int]) -> bool:
        connection, job_id = key
        return any(job.id == job_id for job in self._pending.get(connection, ()))
