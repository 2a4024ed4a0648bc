"""The daemon's core: one engine, many connections, one request on the model at a time.

- Loading starts as soon as the daemon listens; its progress goes to every connected client
  (a client that connects mid-load first gets the latest report).
- A failed load is kept (clients get its message) until a client asks to `start` again:
  then it is retried with a fresh engine, so fixing the model needs no daemon restart.
- Requests wait in a FairQueue; one runner task takes them in turn and streams drafts back.
  Up to the engine's `max_batch` run at once (the in-process engine then shares each
  denoising pass between them); with 1, strictly one at a time.
- A cancel, or the client going away, sets the request's CancelToken: the engine stops
  between two denoising steps. Queued requests of a vanished client are simply dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dglsp import __version__
from dglsp.daemon.connection import Connection, allowed_uid, peer_uid_pid
from dglsp.daemon.queue import FairQueue, Job
from dglsp.engine import wire
from dglsp.engine.base import Cancelled, Engine, EngineError, EngineState, Progress

log = logging.getLogger(__name__)

DISCONNECTED = "client disconnected"
HELLO_TIMEOUT_S = 10.0

EngineFactory = Callable[[], Engine]


@dataclass(frozen=True)
class DaemonInfo:
    model: str  # the model setting, a directory by its absolute path
    device: str
    socket: str


class DaemonServer:
    def __init__(self, factory: EngineFactory, info: DaemonInfo, idle_exit_s: float | None = None) -> None:
        """`idle_exit_s`: stop after this long without any client (None: never)."""
        self.info = info
        self._idle_exit_s = idle_exit_s
        self._idle_timer: asyncio.TimerHandle | None = None
        self._stop: asyncio.Event | None = None
        self.engine = factory()
        self.loads = 0  # engine loads begun: 1 for the daemon's whole life unless a load failed
        self.served = 0  # infill requests answered with a final draft
        self._factory = factory
        self._loading: asyncio.Task[None] | None = None
        self._progress: Progress | None = None
        self._connections: dict[int, Connection] = {}
        self._numbers = itertools.count(1)
        self._queue = FairQueue()
        self._running: dict[tuple[int, int], Job] = {}  # (connection, request id) -> job
        self._slot_freed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.load_interrupted = False  # set at shutdown: the engine's load thread still runs

    # --- lifecycle ---
    async def serve(self, listener: socket.socket, stop: asyncio.Event) -> None:
        """Accept clients on `listener` and run requests until `stop` is set."""
        server = await asyncio.start_unix_server(self._handle, sock=listener, limit=wire.MAX_MESSAGE_BYTES)
        runner = asyncio.create_task(self._run_jobs(), name="dglsp-daemon-runner")
        self._stop = stop
        self.begin_load()
        self._arm_idle_exit()
        try:
            await stop.wait()
        finally:
            server.close()
            await self._shut_down(runner)

    async def _shut_down(self, runner: asyncio.Task[None]) -> None:
        self.load_interrupted = self.loading
        for job in self._running.values():
            job.cancel.cancel("the daemon is stopping")
        runner.cancel()
        # Connection handlers and start answers; each handler closes its connection.
        tasks = [runner, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.engine.close()
        except Exception:
            log.exception("closing the engine failed")

    @property
    def loading(self) -> bool:
        return self._loading is not None and not self._loading.done()

    def begin_load(self) -> asyncio.Task[None]:
        """Start loading (or retry a failed load with a fresh engine); one load at a time."""
        if self._loading is not None and (self.loading or self.engine.state is not EngineState.ERROR):
            return self._loading
        failed: Engine | None = None
        if self.engine.state is EngineState.ERROR:
            log.info("retrying the failed load (%s)", self.engine.error)
            failed, self.engine = self.engine, self._factory()
        self.loads += 1
        self._loading = asyncio.create_task(self._load(failed), name="dglsp-daemon-load")
        return self._loading

    async def _load(self, failed: Engine | None) -> None:
        if failed is not None:
            await failed.close()  # its worker thread, if it has one
        try:
            await self.engine.start(self._broadcast_progress)
        except Exception:  # Engine.start should not raise; the state says what happened
            log.exception("the engine's start raised")
        self._progress = None
        if self.engine.state is EngineState.READY:
            log.info("engine ready: %s (canvas %d)", self.engine.model_name, self.engine.canvas_length)
        else:
            log.error("engine failed to load: %s", self.engine.error)

    def _broadcast_progress(self, progress: Progress) -> None:
        self._progress = progress
        log.info("loading: %s", progress.message)
        for connection in self._connections.values():
            connection.send(wire.progress_to_wire(progress))

    def status(self, message_id: int | None = None) -> wire.Message:
        engine = self.engine
        state = engine.state
        if state is EngineState.STOPPED and self.loading:
            state = EngineState.LOADING
        status: wire.Message = {
            "type": "status",
            "id": message_id,
            "state": state.value,
            "error": engine.error if state is EngineState.ERROR else None,
            "model": self.info.model,
            "model_name": engine.model_name,
            "device": self.info.device,
            "canvas_length": engine.canvas_length,
            "pid": os.getpid(),
            "version": __version__,
            "loads": self.loads,
            "served": self.served,
            "clients": len(self._connections),
            "queued": len(self._queue),
            "running": bool(self._running),
            "running_count": len(self._running),
            "max_batch": self.concurrency,
            "largest_batch": int(getattr(engine, "largest_batch", 0) or 0),
            "progress": wire.progress_to_wire(self._progress) if self._progress else None,
        }
        # Engines that can describe themselves (the scripted test engine lists its requests).
        describe = getattr(engine, "to_json", None)
        if callable(describe):
            status["engine"] = describe()
        return status

    # --- connections ---
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uid, pid = peer_uid_pid(writer)
        if not allowed_uid(uid):
            log.warning("refused a connection from uid %s (pid %s)", uid, pid)
            writer.close()
            return
        connection = Connection(next(self._numbers), writer)
        connection.peer_pid = pid
        self._track(asyncio.current_task())
        try:
            if await self._greet(connection, reader):
                await self._read_requests(connection, reader)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as error:
            log.debug("connection %d: %s", connection.number, error)
        except asyncio.CancelledError:
            pass  # shutting down; asyncio's stream server would log a cancelled handler as an error
        finally:
            self._forget(connection)
            await connection.close()  # sends what is queued (a protocol error) if the peer still reads

    async def _greet(self, connection: Connection, reader: asyncio.StreamReader) -> bool:
        try:
            line = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT_S)
            if not line:
                return False
            problem = wire.hello_problem(wire.decode(line), "client")
        except (TimeoutError, wire.WireError, ValueError) as error:
            problem = f"expected a hello: {error or 'none came'}"
        if problem is not None:
            log.warning("connection %d (pid %s) refused: %s", connection.number, connection.peer_pid, problem)
            connection.send(wire.error(None, f"dglsp serve: {problem}", kind="protocol"))
            return False
        connection.send(wire.hello(model=self.info.model, device=self.info.device))
        connection.greeted = True
        self._connections[connection.number] = connection
        self._arm_idle_exit()
        log.info(
            "client %d connected (pid %s); %d now",
            connection.number,
            connection.peer_pid,
            len(self._connections),
        )
        if self.loading and self._progress is not None:
            connection.send(wire.progress_to_wire(self._progress))
        return True

    async def _read_requests(self, connection: Connection, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            try:
                self._dispatch(connection, wire.decode(line))
            except wire.WireError as problem:
                log.warning("connection %d: %s", connection.number, problem)
                connection.send(wire.error(None, f"dglsp serve: {problem}", kind="protocol"))
                return

    def _forget(self, connection: Connection) -> None:
        """The client is gone: drop its queued requests and stop its running one."""
        if self._connections.pop(connection.number, None) is None:
            return
        dropped = self._queue.drop(connection.number)
        for running in self._running.values():
            if running.connection == connection.number:
                running.cancel.cancel(DISCONNECTED)
        log.info(
            "client %d disconnected (%d queued dropped); %d left",
            connection.number,
            len(dropped),
            len(self._connections),
        )
        self._arm_idle_exit()

    def _arm_idle_exit(self) -> None:
        """With no client left, stop after idle_exit_s (frees the GPU once every editor closed)."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._idle_exit_s is None or self._connections or self._stop is None:
            return
        stop = self._stop

        def expire() -> None:
            log.info("no client for %.0f s: stopping", self._idle_exit_s)
            stop.set()

        self._idle_timer = asyncio.get_running_loop().call_later(self._idle_exit_s, expire)

    def _dispatch(self, connection: Connection, message: wire.Message) -> None:
        kind = message["type"]
        if kind == "status":
            connection.send(self.status(wire.request_id(message)))
        elif kind == "start":
            self._spawn(self._answer_start(connection, wire.request_id(message)))
        elif kind == "infill":
            self._enqueue(connection, wire.request_id(message), message.get("request"))
        elif kind == "cancel":
            self._cancel(connection, wire.request_id(message), str(message.get("reason") or "cancelled"))
        else:  # a newer client's message: answer it, keep the connection
            connection.send(wire.error(message.get("id"), f"unknown message type '{kind}'", kind="protocol"))

    def _spawn(self, coroutine: Any) -> None:
        self._track(asyncio.create_task(coroutine))

    def _track(self, task: asyncio.Task[Any] | None) -> None:
        """Tasks to cancel at shutdown."""
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer_start(self, connection: Connection, message_id: int) -> None:
        await asyncio.shield(self.begin_load())
        connection.send(self.status(message_id))

    def _enqueue(self, connection: Connection, message_id: int, raw: Any) -> None:
        try:
            request = wire.request_from_wire(raw)
        except wire.WireError as problem:
            connection.send(wire.error(message_id, str(problem), kind="protocol"))
            return
        if (connection.number, message_id) in self._queue or self._is_running(connection, message_id):
            connection.send(wire.error(message_id, f"request id {message_id} is already in use", "protocol"))
            return
        self._queue.put(Job(connection.number, message_id, request))

    def _cancel(self, connection: Connection, message_id: int, reason: str) -> None:
        job = self._queue.remove(connection.number, message_id)
        if job is not None:
            connection.send({"type": "cancelled", "id": message_id, "reason": reason})
        elif self._is_running(connection, message_id):
            self._running[(connection.number, message_id)].cancel.cancel(reason)
        # Otherwise it has already ended: its final answer is on the way.

    def _is_running(self, connection: Connection, message_id: int) -> bool:
        return (connection.number, message_id) in self._running

    @property
    def concurrency(self) -> int:
        """Requests run at once: the engine's batch size (known once it has loaded)."""
        return max(1, int(getattr(self.engine, "max_batch", 1) or 1))

    # --- the model's lane ---
    async def _run_jobs(self) -> None:
        while True:
            # A job is taken from the fair queue only when a slot is free, so the queue (not
            # the engine) decides whose turn it is.
            while len(self._running) >= self.concurrency:
                self._slot_freed.clear()
                await self._slot_freed.wait()
            job = await self._queue.get()
            connection = self._connections.get(job.connection)
            if connection is None:
                continue
            self._running[(job.connection, job.id)] = job
            self._track(asyncio.create_task(self._run_and_free(job, connection)))

    async def _run_and_free(self, job: Job, connection: Connection) -> None:
        try:
            await self._run(job, connection)
        finally:
            self._running.pop((job.connection, job.id), None)
            self._slot_freed.set()

    async def _run(self, job: Job, connection: Connection) -> None:
        if self._loading is not None and self.loading:
            await asyncio.shield(self._loading)  # a client that did not `start` first waits here
        try:
            async for draft in self.engine.infill(job.request, job.cancel):
                connection.send(wire.draft_to_wire(job.id, draft))
                if draft.final:
                    self.served += 1
        except Cancelled as cancelled:
            reason = job.cancel.reason or str(cancelled) or "cancelled"
            log.debug("request %d/%d cancelled: %s", job.connection, job.id, reason)
            connection.send({"type": "cancelled", "id": job.id, "reason": reason})
        except EngineError as failure:
            # One request failed (e.g. GPU out of memory); the engine keeps serving.
            log.warning("request %d/%d failed: %s", job.connection, job.id, failure)
            connection.send(wire.error(job.id, str(failure)))
        except Exception as failure:  # a bug must not take the daemon (and every window) down
            log.exception("request %d/%d failed unexpectedly", job.connection, job.id)
            connection.send(wire.error(job.id, f"The engine failed: {type(failure).__name__}: {failure}"))
