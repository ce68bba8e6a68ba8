"""How one server is shared by many visitors: the queue's size, how many model jobs a visitor may run at once, how
long a job may take, how long a session's state lives; and the gate every model job goes through.

Settings come from the environment (documented in the README's "Hosting" section). On a public deployment
(`ALIGN_PUBLIC`, on by default on a Hugging Face Space) jobs are capped in time; locally they are not.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import gradio as gr

from alignment.core.deployment import public_deployment
from alignment.models.turns import JobStopped, job
from ui.visitors import Visitor, visitor_of
from ui.widgets.errors import refuse


def _number(env: Mapping[str, str], name: str, default: float | None, *, minimum: float) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number (got {raw!r})") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g} (got {raw!r})")
    return value


@dataclass(frozen=True)
class HostSettings:
    """What one server allows; every value is named in the message that enforces it."""

    public: bool  # strangers share this server: per-visitor caches, capped jobs
    queue_size: int  # ALIGN_QUEUE_SIZE: requests waiting at once; beyond, a visitor is told to try again
    jobs_per_visitor: int  # ALIGN_JOBS_PER_VISITOR: model jobs one visitor may have running or waiting
    job_seconds: float | None  # ALIGN_JOB_SECONDS: a model job is stopped past this (None: never)
    session_ttl: float  # ALIGN_SESSION_TTL: seconds a session's results stay in memory after its last use
    sessions: int  # ALIGN_SESSIONS: sessions kept in memory at once (the oldest go first)
    model_jobs: int  # ALIGN_MODEL_JOBS: model jobs running at once (their forward passes take turns)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HostSettings:
        values = os.environ if env is None else env
        public = public_deployment(values)
        number = lambda name, default, minimum=1.0: _number(values, name, default, minimum=minimum)  # noqa: E731
        return cls(
            public=public,
            queue_size=int(number("ALIGN_QUEUE_SIZE", 64) or 64),
            jobs_per_visitor=int(number("ALIGN_JOBS_PER_VISITOR", 2) or 2),
            job_seconds=number("ALIGN_JOB_SECONDS", 300.0 if public else None),
            session_ttl=float(number("ALIGN_SESSION_TTL", 1800.0) or 1800.0),
            sessions=int(number("ALIGN_SESSIONS", 500) or 500),
            model_jobs=int(number("ALIGN_MODEL_JOBS", 2) or 2),
        )


class JobGate:
    """Admits a visitor's model job when they have fewer than `jobs_per_visitor` under way, and bounds its time."""

    def __init__(self, settings: HostSettings) -> None:
        self.settings = settings
        self._active: Counter[str] = Counter()
        self._stops: dict[str, set[threading.Event]] = {}  # visitor -> the stop signals of their jobs under way
        self._lock = threading.Lock()

    def active(self, visitor: Visitor) -> int:
        with self._lock:
            return self._active[visitor.key]

    @contextmanager
    def run(self, visitor: Visitor, what: str) -> Iterator[None]:
        """Run one model job for `visitor` (`what` names it in messages), or refuse it at once when they have too
        many under way; a job past the time limit is stopped at its next turn at the model."""
        limit = self.settings.jobs_per_visitor
        with self._lock:
            if self._active[visitor.key] >= limit:
                raise refuse(
                    f"You already have {limit} jobs running or waiting on this server; {what} can start when one "
                    "of them is done (ALIGN_JOBS_PER_VISITOR).",
                    title="Busy: try again in a moment",
                )
            self._active[visitor.key] += 1
            stop = threading.Event()
            self._stops.setdefault(visitor.key, set()).add(stop)
        try:
            with job(seconds=self.settings.job_seconds, stop=stop):
                yield
        except JobStopped as exc:
            why = "" if stop.is_set() else " (ALIGN_JOB_SECONDS)"
            raise refuse(f"{what.capitalize()}: {exc}{why}.", title="Stopped") from None
        finally:
            with self._lock:
                self._active[visitor.key] -= 1
                if self._active[visitor.key] <= 0:
                    del self._active[visitor.key]
                mine = self._stops.get(visitor.key, set())
                mine.discard(stop)
                if not mine:
                    self._stops.pop(visitor.key, None)

    def stop(self, visitor: Visitor) -> int:
        """Stop every model job of `visitor` at its next checkpoint (between two forward passes or blocks); how
        many were under way. Other visitors' jobs go on."""
        with self._lock:
            mine = list(self._stops.get(visitor.key, ()))
        for event in mine:
            event.set()
        return len(mine)


def stop_button(*, elem_id: str) -> tuple[gr.Button, gr.Markdown]:
    """A "Stop" button to put beside a long job's button, and the line under it that says what it stopped;
    `wire_stop` gives them their events."""
    button = gr.Button("Stop", variant="stop", scale=0, min_width=90, elem_id=elem_id)
    said = gr.Markdown(elem_id=f"{elem_id}-said")
    return button, said


def wire_stop(control: tuple[gr.Button, gr.Markdown], gate: JobGate, visitor: gr.State, *, cancels: list) -> None:
    """Stop every model job of this visitor at its next checkpoint (between two forward passes or blocks) and
    drop their events of `cancels` still waiting in the queue; the line beside the button says so, with the time
    (it stays until the next stop: an event that cleared it on the next start ran only after the stop, in
    gradio's order). The click skips the queue, so it answers even when the server is busy; other visitors' jobs
    go on."""
    button, said = control

    def stop(state: Visitor | None, request: gr.Request) -> str:
        stopped = gate.stop(visitor_of(state, request))
        at = time.strftime("%H:%M:%S")
        if not stopped:
            return f"No job of yours was running on the server at {at} (any still waiting in the queue are dropped)."
        jobs = f"{stopped} job{'s' if stopped > 1 else ''}"
        return f"**Stopped** {jobs} of yours at {at}, at your request. What was shown before stays."

    button.click(
        stop, [visitor], [said], cancels=cancels, queue=False, api_visibility="private", show_progress="hidden"
    )
