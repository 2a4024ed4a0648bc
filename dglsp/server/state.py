"""Everything the server remembers between messages (no LSP types here).

Handlers read and change it; background work only ever gets a `Snapshot` of a document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from dglsp.config import Settings
from dglsp.documents import Document
from dglsp.engine.base import Engine, EngineState
from dglsp.pipeline import Pipeline
from dglsp.server.scheduler import Scheduler

EngineFactory = Callable[[Settings], Engine]

# How long a completion request waits for the model to finish loading before answering empty.
# Not a setting: long enough for a large model from a warm disk, short enough not to hang an editor.
ENGINE_WAIT_S = 60.0


@dataclass
class ClientInfo:
    """What the client said it supports in `initialize`."""

    encoding: str = "utf-16"  # the negotiated positionEncoding
    work_done_progress: bool = False
    inline_completion: bool = False
    configuration_pull: bool = False  # workspace/configuration


@dataclass
class EngineSlot:
    """The current engine, its pipeline, and an event set once its load settled (ready or failed)."""

    engine: Engine
    pipeline: Pipeline
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    loader: asyncio.Task[None] | None = None


@dataclass
class ServerState:
    settings: Settings
    engine_factory: EngineFactory
    client: ClientInfo = field(default_factory=ClientInfo)
    documents: dict[str, Document] = field(default_factory=dict)
    scheduler: Scheduler = field(default_factory=Scheduler)
    slot: EngineSlot | None = None
    shown_messages: set[str] = field(default_factory=set)  # window/showMessage texts already shown
    startup_problems: list[str] = field(default_factory=list)  # settings problems from initialize
    engine_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one (re)start at a time
    shutting_down: bool = False  # `shutdown` arrived: no engine starts any more
    # What didChangeConfiguration merges onto: the command line's settings + initializationOptions.
    base_settings: Settings = field(init=False)

    def __post_init__(self) -> None:
        self.base_settings = self.settings

    @property
    def engine_failed(self) -> bool:
        return self.slot is not None and self.slot.engine.state is EngineState.ERROR

    async def wait_engine(self, timeout: float = ENGINE_WAIT_S) -> None:
        """Until the current engine has loaded or failed, or `timeout` passed.

        Follows a restart: if the engine was replaced while waiting, waits for the new one.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            slot = self.slot
            if slot is None:  # not started yet (before `initialized`)
                if loop.time() >= deadline:
                    return
                await asyncio.sleep(0.05)
                continue
            remaining = deadline - loop.time()
            if slot.settled.is_set() or remaining <= 0:
                return
            try:
                await asyncio.wait_for(slot.settled.wait(), remaining)
            except TimeoutError:
                return
            if self.slot is slot:
                return
