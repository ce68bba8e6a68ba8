"""What the server keeps for each visitor's session: gradio's per-session record, without its copy of the page.

Gradio 6 gives every session a `SessionState` holding the session's `gr.State` values and the components its events
updated, and also `config_values`: the whole page's configuration rebuilt for that session (every component's
props, API description and example inputs: 232 components here, ~0.37 MiB of Python objects and ~18 ms of CPU per
session), into which it then copies the last value of every input and output of every event the session ran
(plots, HTML, galleries). That copy serves one feature, deep links (`gr.DeepLinkButton`: a URL that reopens the page
as it is), which this app does not offer. It is never freed while the server runs: gradio drops a session's
`gr.State` values after their time to live, but keeps the `SessionState` until `state_session_capacity` newer
sessions push it out. Measured on the tiny preset after one compare of the bundled example: 0.63 MiB per session
(docs/BENCHMARKS.md, "Many visitors on one server"), still there after every session had expired.

`LeanSessionState` is gradio's `SessionState` without that copy; what a request reads (the session's state values,
its updated components, its event functions) is unchanged. A deep link made from it gets the session's components
as they are configured, with their default values.

One more difference: when a page closes, gradio gives every `gr.State` of its session an hour to live from when it
was last set, even a state whose own time to live is shorter (ALIGN_SESSION_TTL), so closing the tab kept a
visitor's results longer than staying on it. Here a closed page's states live the shorter of the two.
`use_lean_sessions()` makes gradio create a `LeanSessionState` for every new session.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from copy import copy
from typing import TYPE_CHECKING, Any

import gradio.state_holder
from gradio.components import State
from gradio.state_holder import SessionState

if TYPE_CHECKING:
    from gradio.blocks import Blocks


class LeanSessionState(SessionState):
    """A session's state values and updated components, with no per-session copy of the page's configuration."""

    def __init__(self, blocks: Blocks) -> None:  # SessionState.__init__ less `config_values`
        self.blocks_config = copy(blocks.default_config)
        self.config_values: dict[int, dict] = {}  # stays empty: nothing reads it but deep links (`components`)
        self.state_data: dict[int, Any] = {}
        self._state_ttl: dict[int, tuple[float, datetime.datetime]] = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600  # as gradio's

    def __setitem__(self, key: int, value: Any) -> None:
        block = self.blocks_config.blocks.get(key)
        if isinstance(block, State):
            self._state_ttl[key] = (block.time_to_live, datetime.datetime.now())
            self.state_data[key] = value
        else:
            self.blocks_config.blocks[key] = value

    def _update_config(self, key: int) -> None:
        """Gradio refreshes its copy of an updated component's config here; there is no copy to refresh."""

    def _update_value_in_config(self, key: int, value: Any) -> None:
        """Gradio copies every input and output value of every event into its copy of the page here; not kept."""

    @property
    def components(self) -> Iterator[dict]:
        """For a deep link: the session's components as configured now (updated props included), default values."""
        page = self.blocks_config.root_block.blocks
        for key, block in self.blocks_config.blocks.items():
            if key in page:
                config = self.blocks_config.config_for_block(key, [], block)
                if config:
                    yield config

    @property
    def state_components(self) -> Iterator[tuple[State, Any, bool]]:
        """Each state with its value and whether it has expired: gradio's rule, except that a closed page's state
        lives the shorter of its own time to live and gradio's hour (gradio: the hour, even when it is longer)."""
        now = datetime.datetime.now()
        gone = []
        for key in self.state_data:
            block = self.blocks_config.blocks.get(key)
            if block is None:  # removed by a reload or a re-render
                gone.append(key)
                continue
            if isinstance(block, State) and key in self._state_ttl:
                time_to_live, set_at = self._state_ttl[key]
                if self.is_closed:
                    time_to_live = min(time_to_live, self.STATE_TTL_WHEN_CLOSED)
                yield block, self.state_data[key], (now - set_at).total_seconds() > time_to_live
        for key in gone:
            del self.state_data[key]


def use_lean_sessions() -> None:
    """Make gradio create a `LeanSessionState` for each new session (`StateHolder` looks the class up by name)."""
    gradio.state_holder.SessionState = LeanSessionState  # type: ignore[misc]
