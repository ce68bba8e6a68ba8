"""A visitor's session on the server: gradio's record of it, without gradio's per-session copy of the whole page."""

from __future__ import annotations

import datetime
import socket
from collections.abc import Iterator

import gradio as gr
import gradio.state_holder
import pytest
from gradio.state_holder import SessionState
from gradio_client import Client

from ui.sessions import LeanSessionState, use_lean_sessions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch) -> None:
    """use_lean_sessions for this test only: the class gradio had comes back afterwards."""
    monkeypatch.setattr(gradio.state_holder, "SessionState", gradio.state_holder.SessionState)


def small_blocks() -> tuple[gr.Blocks, gr.State, gr.Dropdown]:
    """A state, a dropdown whose choices an event updates, and an event that takes one of the new choices."""
    with gr.Blocks() as demo:
        kept = gr.State(None, time_to_live=600)
        pick = gr.Dropdown(choices=["a"], value="a")
        said = gr.Textbox()

        def offer(prefix: str) -> tuple:
            return f"{prefix}: offered", gr.Dropdown(choices=["a", "b", "c"], value="b")

        def choose(choice: str, before: str | None) -> tuple:
            return f"{before} then {choice}", f"chose {choice}"

        prefix = gr.Textbox(visible=False)
        gr.Button("offer").click(offer, [prefix], [kept, pick], api_name="offer")
        gr.Button("choose").click(choose, [pick, kept], [kept, said], api_name="choose")
    return demo, kept, pick


@pytest.fixture
def served(lean: None) -> Iterator[tuple[gr.Blocks, Client]]:
    use_lean_sessions()
    demo, _, _ = small_blocks()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        yield demo, Client(demo.local_url, verbose=False, download_files=False)
    finally:
        demo.close()


def test_a_lean_session_has_every_attribute_gradios_has() -> None:
    """Guards a gradio upgrade: LeanSessionState re-implements SessionState.__init__ less one dictionary."""
    demo, _, _ = small_blocks()
    assert set(vars(LeanSessionState(demo))) == set(vars(SessionState(demo)))
    for name in ("__setitem__", "_update_config", "_update_value_in_config", "components", "state_components"):
        assert hasattr(SessionState, name), f"gradio's SessionState no longer has {name}"


def test_a_session_keeps_its_state_and_updated_components_but_no_copy_of_the_page(
    served: tuple[gr.Blocks, Client],
) -> None:
    demo, client = served
    client.predict("x", api_name="/offer")
    # "b" is only a choice in this session's updated dropdown: gradio validates the input against it
    assert client.predict("b", api_name="/choose") == "chose b"
    holder = demo.server_app.state_holder
    (session,) = holder.session_data.values()
    assert type(session) is LeanSessionState
    assert session.config_values == {}
    assert list(session.state_data.values()) == ["x: offered then b"]
    updated = [block for block in session.blocks_config.blocks.values() if isinstance(block, gr.Dropdown)]
    assert [choice[0] for choice in updated[0].choices] == ["a", "b", "c"]
    with pytest.raises(Exception, match="not in the list of choices"):  # another session has the page's choices
        Client(demo.local_url, verbose=False, download_files=False).predict("b", api_name="/choose")


def test_a_deep_link_gets_the_sessions_components(served: tuple[gr.Blocks, Client]) -> None:
    demo, client = served
    client.predict("x", api_name="/offer")
    (session,) = demo.server_app.state_holder.session_data.values()
    configs = {config["id"]: config for config in session.components}
    assert set(configs) == set(demo.blocks)
    dropdown = next(c for c in configs.values() if c["type"] == "dropdown")
    assert [choice[0] for choice in dropdown["props"]["choices"]] == ["a", "b", "c"]


def test_a_lean_session_is_small() -> None:
    """Gradio's copy of the page was ~0.37 MiB per session of the app; a lean session copies two dictionaries."""
    import tracemalloc

    demo, _, _ = small_blocks()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        lean = [LeanSessionState(demo) for _ in range(20)]
        lean_each = (tracemalloc.get_traced_memory()[0] - before) / 20
        before = tracemalloc.get_traced_memory()[0]
        full = [SessionState(demo) for _ in range(20)]
        full_each = (tracemalloc.get_traced_memory()[0] - before) / 20
    finally:
        tracemalloc.stop()
    assert lean and full
    assert lean_each < full_each / 5


def set_ago(session: LeanSessionState, state: gr.State, seconds: float) -> None:
    session._state_ttl[state._id] = (state.time_to_live, datetime.datetime.now() - datetime.timedelta(seconds=seconds))


def expired(session: LeanSessionState) -> list[bool]:
    return [gone for _, _, gone in session.state_components]


def test_closing_the_page_never_makes_a_state_live_longer() -> None:
    demo, kept, _ = small_blocks()  # kept: a time to live of 600 s
    session = LeanSessionState(demo)
    session[kept._id] = "result"
    set_ago(session, kept, 300)
    assert expired(session) == [False]
    session.is_closed = True  # gradio would keep it an hour after it was set; here its own 600 s
    assert expired(session) == [False]
    set_ago(session, kept, 700)
    assert expired(session) == [True]
    session.is_closed = False
    assert expired(session) == [True]


def test_a_closed_pages_state_without_a_time_to_live_lives_gradios_hour() -> None:
    with gr.Blocks() as demo:
        forever = gr.State(None)
    session = LeanSessionState(demo)
    session[forever._id] = "visitor"
    set_ago(session, forever, 7000)
    assert expired(session) == [False]  # open page: kept
    session.is_closed = True
    assert expired(session) == [True]
    set_ago(session, forever, 3000)
    assert expired(session) == [False]


def test_the_app_serves_lean_sessions(server: str) -> None:
    assert gradio.state_holder.SessionState is LeanSessionState
