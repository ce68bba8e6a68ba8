"""Turns at the model: the forward passes of concurrent jobs take turns in arrival order, a bounded chunk each, so
a short job (one visitor's one-image compare) waits for at most one chunk of a long one (another visitor's
evaluation of thousands of items) instead of all of it. A job may also carry a deadline and a stop signal, both
checked at every turn and between the blocks of long computations.

Library code asks for a turn with `forward_turn()` around each forward pass, and calls `checkpoint()` between
steps of work that runs no model (e.g. each block of an evaluation); whoever runs a job (the app, the CLI) may
wrap it in `job(seconds=..., stop=...)` to bound its time or let its owner stop it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


class JobStopped(RuntimeError):
    """A job ran past its deadline or was stopped (raised at its next checkpoint, between two steps of work)."""


@dataclass(frozen=True)
class Job:
    """What the current job may spend: a deadline on the monotonic clock and the limit it came from (for messages),
    and the event its owner sets to stop it."""

    deadline: float
    seconds: float
    stop: threading.Event | None = None


_current: ContextVar[Job | None] = ContextVar("alignment_job", default=None)


class Turns:
    """A first-come, first-served lock: each `turn()` takes a ticket and runs when every earlier ticket is done."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._serving += 1
                self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """Tickets taken and not yet served (the one running included)."""
        with self._cond:
            return self._next_ticket - self._serving


TURNS = Turns()  # one model per process: every forward pass in it takes its turn here


def checkpoint() -> None:
    """Raise JobStopped when the current job was stopped or is past its deadline (no job: never)."""
    current = _current.get()
    if current is None:
        return
    if current.stop is not None and current.stop.is_set():
        raise JobStopped("stopped at your request")
    if time.monotonic() > current.deadline:
        raise JobStopped(
            f"this job ran past the server's limit of {current.seconds:g} s per job and was stopped; "
            "try fewer or smaller inputs"
        )


@contextmanager
def forward_turn() -> Iterator[None]:
    """Wait for this job's turn at the model (first come, first served), then hold it for one forward pass."""
    checkpoint()
    with TURNS.turn():
        checkpoint()  # the wait itself may have used the job's time up
        yield


@contextmanager
def job(*, seconds: float | None, stop: threading.Event | None = None) -> Iterator[None]:
    """Run the enclosed work as one job, stopped at its next checkpoint once `seconds` have passed (None: no limit)
    or once `stop` is set."""
    if seconds is None and stop is None:
        yield
        return
    limit = float("inf") if seconds is None else seconds
    token = _current.set(Job(time.monotonic() + limit, limit, stop))
    try:
        yield
    finally:
        _current.reset(token)
