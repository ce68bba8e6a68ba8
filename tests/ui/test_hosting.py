"""The gate every model job goes through: jobs per visitor, the time cap, and Stop, which ends a visitor's own jobs
at their next checkpoint (between forward passes or blocks of an evaluation) and no one else's."""

from __future__ import annotations

import threading
import time

import gradio as gr
import numpy as np
import pytest

from alignment.analysis.blockwise import scan_pair
from alignment.models.turns import JobStopped, checkpoint, forward_turn, job
from ui.hosting import HostSettings, JobGate
from ui.visitors import Visitor

ALICE, BOB = Visitor("browser:alice", "this browser"), Visitor("browser:bob", "this browser")


def gate(**overrides: object) -> JobGate:
    return JobGate(HostSettings.from_env({"ALIGN_JOBS_PER_VISITOR": "2", **overrides}))  # type: ignore[arg-type]


def test_settings_come_from_the_environment_and_bad_values_are_named() -> None:
    settings = HostSettings.from_env({"ALIGN_JOB_SECONDS": "7", "ALIGN_QUEUE_SIZE": "5"})
    assert (settings.job_seconds, settings.queue_size) == (7.0, 5)
    assert HostSettings.from_env({"SPACE_ID": "me/app"}).job_seconds == 300.0  # a Space is public: jobs are capped
    with pytest.raises(ValueError, match="ALIGN_QUEUE_SIZE"):
        HostSettings.from_env({"ALIGN_QUEUE_SIZE": "many"})


def test_a_visitor_past_their_jobs_is_refused_and_others_are_not() -> None:
    g = gate()
    with g.run(ALICE, "one"), g.run(ALICE, "two"):
        with pytest.raises(gr.Error, match="already have 2 jobs"), g.run(ALICE, "a third"):
            pass
        with g.run(BOB, "bob's"):
            assert g.active(BOB) == 1
    assert g.active(ALICE) == 0


def running(g: JobGate, visitor: Visitor, started: threading.Event, outcome: list) -> threading.Thread:
    """A model job of `visitor` that takes forward turns until it is stopped (or 20 s pass)."""

    def work() -> None:
        try:
            with g.run(visitor, "this evaluation"):
                started.set()
                end = time.monotonic() + 20
                while time.monotonic() < end:
                    with forward_turn():
                        time.sleep(0.01)
            outcome.append("finished")
        except gr.Error as exc:
            outcome.append(exc.message)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_stop_ends_the_visitors_own_jobs_at_their_next_turn() -> None:
    g = gate()
    alice_started, bob_started = threading.Event(), threading.Event()
    alice, bob = [], []
    threads = [running(g, ALICE, alice_started, alice), running(g, BOB, bob_started, bob)]
    assert alice_started.wait(10) and bob_started.wait(10)
    assert g.stop(ALICE) == 1
    threads[0].join(10)
    assert alice == ["This evaluation: stopped at your request."]
    assert threads[1].is_alive() and bob == [], "another visitor's job must go on"
    assert g.stop(BOB) == 1
    threads[1].join(10)
    assert g.stop(ALICE) == 0 and g.active(ALICE) == 0 and g.active(BOB) == 0


def test_the_time_cap_stops_a_job_and_names_the_setting() -> None:
    g = gate(ALIGN_JOB_SECONDS="1")
    started, outcome = threading.Event(), []
    running(g, ALICE, started, outcome).join(15)
    assert outcome and "limit of 1 s per job" in outcome[0] and "ALIGN_JOB_SECONDS" in outcome[0]


def test_an_evaluation_without_a_model_checks_between_blocks() -> None:
    """Precomputed embeddings run no forward pass: the blockwise scan is where a stop or the time cap lands."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    codes = np.arange(64)
    stop = threading.Event()
    stop.set()
    with job(seconds=None, stop=stop), pytest.raises(JobStopped, match="stopped at your request"):
        scan_pair(x, x, codes, codes)
    with job(seconds=None, stop=threading.Event()):
        checkpoint()  # not set: goes on
