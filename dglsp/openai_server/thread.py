"""Run an OpenAIServer on its own event loop in a background thread (tests, benchmarks, embedding)."""

from __future__ import annotations

import asyncio
import threading

from dglsp.openai_server.app import OpenAIServer


class ServerThread:
    """`with ServerThread(server) as base_url:` serves on an ephemeral loopback port until the block ends."""

    def __init__(self, server: OpenAIServer, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = server
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="dglsp-openai-server")
        self._thread.daemon = True  # never keeps a test run alive

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            self.port = await self.server.start(self.host, self.port)
        except BaseException as error:
            self._failure = error
            self._ready.set()
            await self.server.close()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.close()

    def start(self, timeout: float = 120.0) -> str:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the server did not start within {timeout:g} s")
        if self._failure is not None:
            raise self._failure
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
