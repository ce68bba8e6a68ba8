"""Page renders take turns: a crowd's page loads run a couple at a time, everything else as before."""

from __future__ import annotations

import asyncio
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from ui.page_turns import PageTurns, renders_page


def http(path: str, method: str = "GET", root_path: str = "") -> dict:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


@pytest.mark.parametrize(
    ("scope", "renders"),
    [
        (http("/"), True),
        (http("/", "HEAD"), True),
        (http("/config"), True),
        (http("/config/"), True),
        (http("/app/", root_path="/app"), True),
        (http("/", "POST"), False),
        (http("/gradio_api/upload", "POST"), False),
        (http("/gradio_api/queue/join", "POST"), False),
        (http("/gradio_api/info"), False),
        (http("/assets/index.js"), False),
        ({"type": "websocket", "path": "/"}, False),
        ({"type": "lifespan"}, False),
    ],
)
def test_which_requests_render_the_page(scope: dict, renders: bool) -> None:
    assert renders_page(scope) is renders


class Renderer:
    """An ASGI app that renders for a while, then sends its response; it counts renders under way at once."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.running = self.most = self.rendered = 0
        self.rendered_before_sending = 0
        self.sent = asyncio.Event()  # lets the body go out
        self.fail_on = fail_on

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.01)
        self.running -= 1
        self.rendered += 1
        if scope["path"] == self.fail_on:
            raise RuntimeError("render failed")
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await self.sent.wait()  # a slow client: the body goes out later
        await send({"type": "http.response.body", "body": b"page"})  # type: ignore[operator]


def run_requests(app: PageTurns, renderer: Renderer, scopes: list[dict]) -> list[object]:
    async def main() -> list[object]:
        async def send(message: dict) -> None:
            pass

        async def receive() -> dict:
            return {"type": "http.request"}

        tasks = [asyncio.create_task(app(scope, receive, send)) for scope in scopes]
        await asyncio.sleep(0.3)  # long enough for every render, 2 at a time
        renderer.rendered_before_sending = renderer.rendered
        renderer.sent.set()
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    return asyncio.run(main())


def test_page_renders_take_turns_but_a_slow_client_holds_nobody_up() -> None:
    renderer = Renderer()
    results = run_requests(PageTurns(renderer, limit=2), renderer, [http("/") for _ in range(10)])
    assert results == [None] * 10
    assert renderer.most == 2  # 10 renders, 2 at a time
    assert renderer.rendered_before_sending == 10  # while the first pages still waited for their slow clients


def test_other_requests_do_not_wait() -> None:
    renderer = Renderer()
    run_requests(PageTurns(renderer, limit=2), renderer, [http("/gradio_api/upload", "POST") for _ in range(6)])
    assert renderer.most == 6


def test_a_failed_render_ends_its_turn() -> None:
    renderer = Renderer(fail_on="/config")
    scopes = [http("/config"), http("/config"), *(http("/") for _ in range(4))]
    results = run_requests(PageTurns(renderer, limit=2), renderer, scopes)
    assert [type(r).__name__ for r in results[:2]] == ["RuntimeError", "RuntimeError"]
    assert results[2:] == [None] * 4


def test_the_app_answers_a_crowd_of_page_loads(server: str) -> None:
    def load(_: int) -> bytes:
        with urllib.request.urlopen(server, timeout=60) as response:
            assert response.status == 200
            return response.read()

    with ThreadPoolExecutor(12) as pool:
        pages = list(pool.map(load, range(24)))
    assert len({len(page) for page in pages}) == 1 and b"Cross-Modal Alignment Explorer" in pages[0]
