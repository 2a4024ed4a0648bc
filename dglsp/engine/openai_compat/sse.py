"""Server-sent events: the `data:` payloads of an event stream, one per event."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def data_events(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """Each event's data (multi-line data joined by newlines); comments and other fields skipped."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:  # a stream that ends without the final blank line
        yield "\n".join(data)
