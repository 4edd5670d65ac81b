"""Helpers for engine tests: small workloads and chips with nothing else limiting."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from archsim.spec import load_workload

@pytest.fixture
def workload(tmp_path: Path):
    """workload(yaml_text, overrides=()) -> Workload read from a temporary file."""
    def make(text: str, overrides=()):
        path = tmp_path / "workload.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return load_workload(path, list(overrides))
    return make
