"""Exceptions the library raises for bad input and missing models (all subclass ValueError or OSError)."""

from __future__ import annotations

from .names import shown

MAX_SOURCE_CHARS = 300
MAX_PROBLEM_CHARS = 2_000


class InputError(ValueError):
    """One input (a file, a text, an upload) is unusable; the message names it and the problem.

    Both parts are made printable (`names.shown`): a stranger's name can hold surrogates, which cannot be
    printed or encoded, or escape sequences and line breaks that would forge another message line."""

    def __init__(self, source: str, problem: str) -> None:
        source = shown(source, limit=MAX_SOURCE_CHARS)
        problem = shown(problem, limit=MAX_PROBLEM_CHARS)
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class BudgetError(InputError):
    """A request-wide budget (total pixels, audio seconds...) refused this input: alone it would have been fine."""


class ModelUnavailableError(OSError):
    """A checkpoint is neither a local directory, nor in the Hugging Face cache, nor reachable on the Hub."""

    def __init__(self, role: str, model_id: str, flag: str, env: str, cause: str) -> None:
        message = (
            f"Cannot load the {role} model '{model_id}': it is not a local directory, not in the "
            f"Hugging Face cache, and the Hub could not be reached ({cause}).\n"
            f"Provide it in one of these ways:\n"
            f"  - a local directory holding the checkpoint: {flag} /path/to/model  (or {env}=/path/to/model)\n"
            f"  - a Hugging Face cache that already holds it: HF_HOME=/path/to/hf-cache\n"
            f"  - random tiny models, to try the interface only: --preset tiny  (or ALIGN_PRESET=tiny)"
        )
        super().__init__(message)
        self.role = role
        self.model_id = model_id
