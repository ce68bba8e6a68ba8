"""Memory that ended sessions leave behind goes back to the system.

Gradio drops an expired session's state and Python frees it, but glibc's allocator keeps the freed pages in the
process (its arenas) for reuse, so the server's RSS stays at its high-water mark after a crowd has left. Every
`interval` seconds a daemon thread collects garbage and asks glibc to return free pages (`malloc_trim(0)`); on a
system without glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
INTERVAL = 20.0  # seconds; gradio sweeps expired session state about once a minute


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, looked up once; None elsewhere (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim_heap = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim_heap.argtypes, trim_heap.restype = [ctypes.c_size_t], ctypes.c_int
    return trim_heap


def trim() -> bool:
    """Collect garbage and return free heap pages to the system; whether glibc's malloc_trim was there to call."""
    gc.collect()
    trim_heap = _malloc_trim()
    if trim_heap is None:
        return False
    trim_heap(0)
    return True


def start_trimming(interval: float = INTERVAL, stop: threading.Event | None = None) -> threading.Thread:
    """A daemon thread that calls `trim` every `interval` seconds until `stop` is set (default: the process's life)."""
    stop = stop or threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                trim()
            except Exception:  # never let housekeeping take the server down
                log.exception("memory trim failed")

    thread = threading.Thread(target=loop, name="memory-trim", daemon=True)
    thread.start()
    return thread
