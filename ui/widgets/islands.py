"""What the HTML/JS islands share: views found by token, the tag callback, server functions, static files."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import gradio as gr

from alignment.inputs.items import Item

STATIC = Path(__file__).with_name("static")
T = TypeVar("T")
ItemLookup = Callable[[str, str], Item | None]  # (modality, id) -> the decoded item, None when there is no content
MAX_TAG_CHARS = 40


class Tagger(Protocol):
    """Where tags live (the lead plugs the SQLite store in). Keys are error keys (alignment.store.tags.error_key)."""

    def tag(self, keys: list[str], tag: str) -> int:
        """Give every key the tag (replacing its previous one); return how many were tagged."""
        ...

    def tags(self) -> Mapping[str, str]:
        """The current tag of every tagged key."""
        ...


class MemoryTagger:
    """Tags in a dict: for demos and tests, and a model of what a store must do. Thread-safe."""

    def __init__(self) -> None:
        self._tags: dict[str, str] = {}
        self._lock = threading.Lock()

    def tag(self, keys: list[str], tag: str) -> int:
        tag = check_tag(tag)
        with self._lock:
            for key in keys:
                self._tags[key] = tag
        return len(keys)

    def tags(self) -> Mapping[str, str]:
        with self._lock:
            return dict(self._tags)


def check_tag(tag: object) -> str:
    """A tag from a browser: one line of 1 to MAX_TAG_CHARS characters (any of the four, or a custom one)."""
    if not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > MAX_TAG_CHARS or "\n" in tag:
        raise ValueError(f"a tag must be one line of 1 to {MAX_TAG_CHARS} characters (got {str(tag)[:60]!r})")
    return tag.strip()


class Views(Generic[T]):
    """Server-side state of the views an island has drawn, found by an unguessable token. The browser holds only
    the token; the newest `limit` views are kept (a Space serves strangers: memory stays bounded)."""

    def __init__(self, *, limit: int = 32) -> None:
        if limit < 1:
            raise ValueError(f"keep at least one view (got limit={limit})")
        self.limit = limit
        self._views: OrderedDict[str, T] = OrderedDict()
        self._shared: dict[str, str] = {}  # shared key -> token
        self._lock = threading.Lock()

    def put(self, view: T, *, shared: str | None = None) -> str:
        """Keep `view`; its token. With `shared` (a key naming public content, e.g. the bundled example), every
        visitor shown that content gets the same view and token while it is kept: one copy, not one per page."""
        with self._lock:
            token = self._shared.get(shared) if shared is not None else None
            if token is not None and token in self._views:
                self._views.move_to_end(token)
                return token
            token = secrets.token_urlsafe(18)
            self._views[token] = view
            if shared is not None:
                self._shared[shared] = token
            while len(self._views) > self.limit:
                gone, _ = self._views.popitem(last=False)
                self._shared = {k: t for k, t in self._shared.items() if t != gone}
        return token

    def get(self, token: object) -> T:
        with self._lock:
            view = self._views.get(token) if isinstance(token, str) else None
            if view is None:
                raise ValueError(
                    f"this view has expired (the server keeps the last {self.limit}): draw it again to go on"
                )
            self._views.move_to_end(token)  # type: ignore[arg-type]
            return view


def server_function(name: str, fn: Callable[[dict], dict]) -> Callable[[Any], dict]:
    """A function the island calls as `server.<name>(request)`: one JSON object in, one out; a bad request or an
    expired view answers {"error": message} for the island to show, instead of a bare HTTP 500."""

    def call(request: Any) -> dict:
        if not isinstance(request, dict):
            return {"error": f"{name}: expected one object, got {type(request).__name__}"}
        try:
            return fn(request)
        except (ValueError, KeyError, TypeError) as exc:
            return {"error": f"{exc}"}

    call.__name__ = name
    return call


def event_payload(evt: gr.EventData) -> dict:
    """The object an island passed to `trigger(name, payload)`."""
    data = getattr(evt, "_data", None)
    if not isinstance(data, dict):
        raise gr.Error("This event carries no data: it must come from the browser island.")
    return data


def static_text(name: str) -> str:
    """A file of ui/widgets/static (the islands' HTML templates, CSS and JS)."""
    return (STATIC / name).read_text(encoding="utf-8")


def static_js(name: str, *, prefix: str | None = None, **replace: str) -> str:
    """A JS file of ui/widgets/static with its __PLACEHOLDERS__ filled in; with `prefix`, __ISLAND_COMMON__ becomes
    island_common.js (element helpers, `status`, and `call` of the server functions named `<prefix>_*`)."""
    text = static_text(name)
    if prefix is not None:
        text = text.replace("__ISLAND_COMMON__", static_text("island_common.js").replace("__PREFIX__", prefix))
    for key, value in replace.items():
        text = text.replace(f"__{key}__", value)
    return text
