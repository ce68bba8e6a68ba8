"""Models loaded on a background thread, so a server can answer before torch and the checkpoints are in memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
State = Literal["waiting", "loading", "ready", "failed"]


class BackgroundLoad(Generic[T]):
    """Runs `load()` once on a daemon thread; `wait()` blocks until it finishes and returns its value or re-raises.

    Callers that need the value wait for it (with a tick callback for progress); callers that only describe the
    app read `state` and `elapsed` without waiting.
    """

    def __init__(self, load: Callable[[], T], *, name: str = "model-load") -> None:
        self._load = load
        self._name = name
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._value: T | None = None
        self._error: BaseException | None = None
        self._started: float | None = None
        self._finished: float | None = None

    @classmethod
    def ready(cls, value: T) -> BackgroundLoad[T]:
        """An already finished load (e.g. encoders a test built itself)."""
        done = cls(lambda: value)
        done._value, done._started, done._finished = value, time.monotonic(), time.monotonic()
        done._done.set()
        return done

    def start(self) -> BackgroundLoad[T]:
        """Start loading (idempotent)."""
        with self._lock:
            if self._thread is None and not self._done.is_set():
                self._started = time.monotonic()
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._value = self._load()
        except BaseException as exc:  # kept and re-raised in every waiter, with its own message
            self._error = exc
        finally:
            self._finished = time.monotonic()
            self._done.set()

    @property
    def state(self) -> State:
        if self._done.is_set():
            return "failed" if self._error is not None else "ready"
        return "loading" if self._thread is not None else "waiting"

    @property
    def error(self) -> BaseException | None:
        return self._error

    @property
    def elapsed(self) -> float:
        """Seconds since loading started (until it finished); 0 before it starts."""
        if self._started is None:
            return 0.0
        return (self._finished or time.monotonic()) - self._started

    def wait(self, *, tick: Callable[[float], None] | None = None, every: float = 0.25) -> T:
        """The loaded value; starts the load if nobody has. `tick(elapsed)` is called every `every` s while waiting."""
        self.start()
        while not self._done.wait(every):
            if tick is not None:
                tick(self.elapsed)
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
