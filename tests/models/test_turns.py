"""Turns at the model: first come, first served per forward pass, so a short job slips in between a long job's
chunks; a job past its deadline stops at its next turn."""

from __future__ import annotations

import threading
import time

import pytest

from alignment.models import turns
from alignment.models.turns import JobStopped, Turns, forward_turn, job


def test_turns_are_served_in_arrival_order() -> None:
    lock = Turns()
    order: list[int] = []
    holding = threading.Event()

    def first() -> None:
        with lock.turn():
            holding.set()
            time.sleep(0.2)  # the others arrive, one after another, while this one holds the model
            order.append(0)

    def waiter(n: int) -> None:
        with lock.turn():
            order.append(n)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    holding.wait()
    for n in range(1, 6):
        threads.append(threading.Thread(target=waiter, args=(n,)))
        threads[-1].start()
        time.sleep(0.02)
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3, 4, 5]
    assert lock.waiting == 0


def test_a_short_job_waits_one_chunk_of_a_long_one_not_all_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "TURNS", Turns())
    log: list[str] = []
    long_started = threading.Event()

    def long_job() -> None:
        for chunk in range(20):
            with forward_turn():
                long_started.set()
                log.append(f"long {chunk}")
                time.sleep(0.02)

    def short_job() -> None:
        with forward_turn():
            log.append("short")

    a = threading.Thread(target=long_job)
    a.start()
    long_started.wait()
    b = threading.Thread(target=short_job)
    b.start()
    a.join(10)
    b.join(10)
    position = log.index("short")
    assert position <= 3, f"the short job waited behind {position} chunks of the long one: {log}"


def test_a_job_past_its_deadline_stops_at_its_next_turn() -> None:
    with job(seconds=0.05):
        with forward_turn():
            pass  # within the deadline
        time.sleep(0.1)
        with pytest.raises(JobStopped, match="limit of 0.05 s per job"), forward_turn():
            pass
    with forward_turn():  # outside the job: no deadline
        pass
