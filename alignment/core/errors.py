"""Exceptions the library raises for bad input and missing models (all subclass ValueError or OSError)."""

from __future__ import annotations


class InputError(ValueError):
    """One input (a file, a text, an upload) is unusable; the message names it and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


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
