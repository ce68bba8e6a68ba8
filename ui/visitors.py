"""Who a request comes from, so that visitors of a shared Space never see or slow each other's work.

The owner of a visitor's work (tags, cached embeddings) is their Hugging Face user when they signed in, else a
random id kept in their browser (`gr.BrowserState`, so it survives reloads), else, for an API client that keeps
no browser storage, its session. `VisitorBox.attach` sets it up once per page load; handlers that own data take
the visitor state as an input and call `visitor_of`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import gradio as gr

BROWSER_KEY = "alignment-visitor"
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Visitor:
    """One visitor: `owner` keys their tags and their cache namespace; `label` is what the page may show."""

    owner: str  # "hf:<username>", "browser:<id>" or "session:<hash>"
    label: str
    signed_in: bool = False

    @property
    def key(self) -> str:
        """A short, stable key for limits and logs that does not reveal the owner."""
        return hashlib.sha256(self.owner.encode()).hexdigest()[:16]


def visitor_of(state: Visitor | None, request: gr.Request | None = None) -> Visitor:
    """The visitor a handler works for: the page's (set on load), else the API client's session."""
    if isinstance(state, Visitor):
        return state
    session = getattr(request, "session_hash", None) or ANONYMOUS
    return Visitor(f"session:{session}", "this session")


def resolve(browser_id: str | None, profile: gr.OAuthProfile | None, request: gr.Request | None) -> Visitor:
    """The signed-in user, else the browser's id, else the session."""
    if profile is not None and getattr(profile, "username", None):
        return Visitor(f"hf:{profile.username}", f"@{profile.username}", signed_in=True)
    if browser_id and len(browser_id) <= 64 and browser_id.isalnum():
        return Visitor(f"browser:{browser_id}", "this browser")
    return visitor_of(None, request)


@dataclass(frozen=True)
class VisitorBox:
    """The components that carry the visitor: the browser's id and the session's resolved `Visitor`."""

    browser: gr.BrowserState
    state: gr.State

    def attach(self, demo: gr.Blocks) -> None:
        """On every page load: give a new browser an id (kept in its local storage) and resolve the visitor."""

        def arrive(
            browser_id: str | None, request: gr.Request, profile: gr.OAuthProfile | None = None
        ) -> tuple[str, Visitor]:
            if not (browser_id and browser_id.isalnum() and len(browser_id) <= 64):
                browser_id = secrets.token_hex(16)
            return browser_id, resolve(browser_id, profile, request)

        demo.load(arrive, [self.browser], [self.browser, self.state], api_visibility="private", queue=False)


def visitor_box() -> VisitorBox:
    """Create the components inside the current Blocks."""
    return VisitorBox(gr.BrowserState(None, storage_key=BROWSER_KEY), gr.State(None))
