"""A small HTTP/1.1 client on asyncio streams: one request per connection, streamed bodies.

Standard library only. Every wait on the network is bounded by a timeout and polls a stop
flag, so a cancelled completion closes its connection within one poll interval (closing it
is how vLLM learns to abort the request). Chunked, Content-Length and read-to-close bodies.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dglsp.engine.base import Cancelled

T = TypeVar("T")

POLL_S = 0.02  # how often a waiting read looks at the stop flag
MAX_LINE = 1 << 20  # longest header or SSE line accepted


class HttpFailure(Exception):
    """The server could not be reached, timed out, or broke the protocol. The message names the URL."""


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    path: str  # the API root's path, e.g. "/v1"

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{url}' is not an http:// or https:// URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    def url(self, path: str = "") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}{path}"


class Response:
    """Status, headers, and a body read piece by piece under the caller's timeout and stop flag."""

    def __init__(
        self,
        url: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        read_timeout: float,
        should_stop: Callable[[], bool],
    ) -> None:
        self.url = url
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self._reader, self._writer = reader, writer
        self._read_timeout = read_timeout
        self._should_stop = should_stop

    async def _wait(self, operation: Awaitable[T]) -> T:
        """Await a read; raise Cancelled when the stop flag is set, HttpFailure after the timeout."""
        task = asyncio.ensure_future(operation)
        deadline = asyncio.get_running_loop().time() + self._read_timeout
        try:
            while True:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise HttpFailure(
                        f"{self.url} sent nothing for {self._read_timeout:g} s (timed out waiting for it)"
                    )
                done, _ = await asyncio.wait({task}, timeout=min(POLL_S, left))
                if done:
                    return task.result()
                if self._should_stop():
                    raise Cancelled("cancelled while waiting for the server")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError) as error:
            raise HttpFailure(f"{self.url} broke off the response: {error}") from None
        finally:
            task.cancel()

    async def _read_head(self) -> None:
        status_line = (await self._wait(self._reader.readline())).decode("latin-1").strip()
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise HttpFailure(f"{self.url} did not answer in HTTP (first line {status_line[:80]!r})")
        self.status, self.reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
        while True:
            line = (await self._wait(self._reader.readline())).decode("latin-1").strip()
            if not line:
                return
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    async def pieces(self) -> AsyncIterator[bytes]:
        """The body as it arrives, de-chunked."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            while True:
                size_line = await self._wait(self._reader.readline())
                try:
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise HttpFailure(
                        f"{self.url} sent a malformed chunk header {size_line[:40]!r}"
                    ) from None
                if size == 0:
                    return  # trailers, if any, are left unread: we close the connection
                data = await self._wait(self._reader.readexactly(size + 2))
                yield data[:-2]
        elif "content-length" in self.headers:
            left = int(self.headers["content-length"])
            while left > 0:
                data = await self._wait(self._reader.read(min(left, 65536)))
                if not data:
                    raise HttpFailure(f"{self.url} closed the connection before the end of its answer")
                left -= len(data)
                yield data
        else:
            while data := await self._wait(self._reader.read(65536)):
                yield data

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines (UTF-8, without line ends), as they arrive."""
        buffer = b""
        async for piece in self.pieces():
            buffer += piece
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r").decode("utf-8", errors="replace")
            if len(buffer) > MAX_LINE:
                raise HttpFailure(f"{self.url} sent a line longer than {MAX_LINE} bytes")
        if buffer:
            yield buffer.rstrip(b"\r").decode("utf-8", errors="replace")

    async def read(self) -> bytes:
        return b"".join([piece async for piece in self.pieces()])

    async def json(self) -> Any:
        body = await self.read()
        try:
            return json.loads(body)
        except ValueError:
            raise HttpFailure(
                f"{self.url} answered with something that is not JSON: {body[:200]!r}"
            ) from None

    def close(self) -> None:
        self._writer.close()


async def request(
    endpoint: Endpoint,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> Response:
    """Send one request and read the status line and headers. The caller reads the body and closes."""
    url = endpoint.url(path)
    context = ssl.create_default_context() if endpoint.scheme == "https" else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port, ssl=context, limit=MAX_LINE),
            connect_timeout,
        )
    except TimeoutError:
        raise HttpFailure(f"{url} did not accept a connection within {connect_timeout:g} s") from None
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise HttpFailure(f"cannot connect to {url}: {reason}") from None
    payload = json.dumps(body).encode() if body is not None else b""
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    head = [
        f"{method} {endpoint.path}{path} HTTP/1.1",
        f"Host: {host}:{endpoint.port}",
        "Connection: close",
        "Accept: application/json, text/event-stream",
        "User-Agent: dglsp",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    response = Response(url, reader, writer, read_timeout, should_stop)
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        await response._wait(writer.drain())
        await response._read_head()
    except BaseException:
        writer.close()
        raise
    return response
