"""Freed memory goes back to the system: the trim call, and the thread that makes it."""

from __future__ import annotations

import platform
import threading
import time

import pytest

from ui import memory


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(platform.system() != "Linux" or not platform.libc_ver()[0] == "glibc", reason="glibc only")
def test_trim_returns_freed_small_objects_to_the_system() -> None:
    before = rss_kib()
    held = [bytes(200) + bytes([i % 256]) for i in range(400_000)]  # ~100 MB of small objects: the heap, not mmap
    grown = rss_kib()
    del held
    assert grown - before > 50_000
    assert memory.trim() is True
    assert rss_kib() - before < (grown - before) / 2  # most of it is back with the system


def test_the_trimming_thread_runs_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    monkeypatch.setattr(memory, "trim", lambda: calls.append(time.monotonic()) or True)
    stop = threading.Event()
    thread = memory.start_trimming(interval=0.05, stop=stop)
    time.sleep(0.3)
    assert thread.daemon and thread.is_alive() and len(calls) >= 2
    stop.set()
    thread.join(timeout=1)
    assert not thread.is_alive()
