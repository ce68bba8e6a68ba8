"""Pages are rendered a few at a time, so that a crowd arriving at once does not leave the server larger.

Each `GET /` makes gradio deep-copy the app's whole configuration and render it into the page (~0.5 MB of HTML,
about 1 MB of short-lived Python objects; `GET /config`, which every API client fetches, does the same). Gradio runs
each on a thread of its pool of 40: 200 visitors arriving at once had 40 renders interleaved on 2 cores, the
interleaving scattered their objects over ~150 MiB of fresh heap, and after they were freed about 50-75 MiB stayed
resident (Python frees an arena of its allocator only once all of it is empty; docs/BENCHMARKS.md, "Many visitors on
one server"). Renders hold the GIL throughout, so running more than a couple at once finishes none of them sooner.

`PageTurns` is an ASGI middleware that lets `limit` renders run at once and queues the rest in arrival order; a
render's turn ends when its response starts, so a slow client reading its page holds nobody up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

RENDERED = ("/", "/config", "/config/")  # the page and its configuration, under the app's root path


def renders_page(scope: Scope) -> bool:
    """Whether a request makes gradio render the page or its configuration."""
    if scope.get("type") != "http" or scope.get("method") not in ("GET", "HEAD"):
        return False
    path = scope.get("path", "")
    root = scope.get("root_path", "").rstrip("/")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path in RENDERED or path == ""


class PageTurns:
    """At most `limit` page renders at once; the others wait their turn in arrival order."""

    def __init__(self, app: ASGIApp, limit: int = 2) -> None:
        self.app = app
        self.limit = limit
        self._turns: asyncio.Semaphore | None = None  # made in the server's event loop, on the first page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not renders_page(scope):
            await self.app(scope, receive, send)
            return
        if self._turns is None:
            self._turns = asyncio.Semaphore(self.limit)
        turns = self._turns
        await turns.acquire()
        done = False

        def end_turn() -> None:
            nonlocal done
            if not done:
                done = True
                turns.release()

        async def send_after_turn(message: Message) -> None:
            if message["type"] == "http.response.start":
                end_turn()  # rendered: sending it to a slow client holds nobody up
            await send(message)

        try:
            await self.app(scope, receive, send_after_turn)
        finally:
            end_turn()
