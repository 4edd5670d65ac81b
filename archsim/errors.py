"""Errors users see. Each carries messages meant to be printed as they are."""

from __future__ import annotations


class ArchsimError(Exception):
    """Base of every error archsim reports to a user (exit code 2 at the CLI)."""

    exit_code = 2


class SpecError(ArchsimError):
    """One or more problems in a spec; `problems` holds every located message."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class CompileError(ArchsimError):
    """The workload cannot be mapped onto the hardware (for example it does not fit)."""


class DataError(ArchsimError):
    """A dataset or weights file is missing or malformed."""


class SweepError(ArchsimError):
    """A sweep stopped before every point finished (Ctrl-C, a worker died); finished points are kept."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
