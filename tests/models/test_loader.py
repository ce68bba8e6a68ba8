"""BackgroundLoad: a value loaded on a thread, waited for with progress ticks; a failure reaches every waiter."""

from __future__ import annotations

import threading

import pytest

from alignment.models.loader import BackgroundLoad


def test_waits_for_the_value_and_ticks_while_waiting() -> None:
    release = threading.Event()
    load = BackgroundLoad(lambda: (release.wait(5), 42)[1])
    assert load.state == "waiting" and load.elapsed == 0.0
    load.start()
    assert load.state == "loading"
    ticks: list[float] = []
    threading.Timer(0.3, release.set).start()
    assert load.wait(tick=ticks.append, every=0.05) == 42
    assert load.state == "ready" and ticks and ticks == sorted(ticks)
    assert load.wait() == 42  # a second waiter gets the same value at once


def test_a_failure_is_reraised_in_every_waiter() -> None:
    def broken() -> int:
        raise OSError("checkpoint missing")

    load = BackgroundLoad(broken).start()
    for _ in range(2):
        with pytest.raises(OSError, match="checkpoint missing"):
            load.wait()
    assert load.state == "failed" and isinstance(load.error, OSError)


def test_start_is_idempotent_and_wait_starts_it() -> None:
    calls: list[int] = []
    load = BackgroundLoad(lambda: calls.append(1) or len(calls))
    assert load.wait() == 1  # wait() starts a load nobody started
    load.start()
    load.start()
    assert calls == [1]


def test_ready_is_already_done() -> None:
    done = BackgroundLoad.ready("encoders")
    assert done.state == "ready" and done.wait() == "encoders"
