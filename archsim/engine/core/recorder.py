"""Observation, kept apart from behaviour: per-component statistics and a trace.

Components record what they did (action counts, busy and stalled cycles); nothing
here knows what an action costs. Energy and similar figures are computed after the
simulation from these counts, so a cost table can change without re-simulating.
"""

from __future__ import annotations

from typing import Any


class Stats:
    """What one component did: busy and stalled cycles and named action counts.

    busy: cycles spent doing an operation; stalled: cycles blocked by backpressure or
    contention while holding work; idle is the rest of the run (computed at the end).
    """

    __slots__ = ("name", "kind", "info", "busy", "stalled", "counts")

    def __init__(self, name: str, kind: str, info: dict[str, Any]):
        self.name = name
        self.kind = kind
        self.info = info
        self.busy = 0
        self.stalled = 0
        self.counts: dict[str, int] = {}

    def count(self, action: str, n: int = 1) -> None:
        self.counts[action] = self.counts.get(action, 0) + n


class Recorder:
    """Collects the Stats of every component and, optionally, trace intervals.

    Trace intervals are (track, label, start_cycle, duration_cycles, args) tuples; at
    most `trace_limit` are kept (`trace_truncated` says when more were dropped), so a
    long run cannot exhaust memory through its trace.
    """

    def __init__(self, trace: bool = True, trace_limit: int = 200_000):
        self.components: dict[str, Stats] = {}
        self.enabled = bool(trace)
        self.tracing = self.enabled and trace_limit > 0
        self.trace_room = trace_limit if self.tracing else 0
        self.trace_truncated = False
        self.intervals: list[tuple[str, str, int, int, Any]] = []

    def register(self, name: str, kind: str, **info: Any) -> Stats:
        if name in self.components:
            raise ValueError(f"component name '{name}' is used twice")
        stats = Stats(name, kind, info)
        self.components[name] = stats
        return stats

    def allow(self, more: int) -> None:
        """Keep up to `more` further intervals (tracing must have been enabled)."""
        if self.enabled:
            self.trace_room = max(0, more)
            self.tracing = self.trace_room > 0

    def interval(self, track: str, label: str, start: int, duration: int, args: Any = None) -> None:
        """Record one trace interval (callers test `tracing` first on hot paths)."""
        if self.trace_room > 0:
            self.intervals.append((track, label, start, duration, args))
            self.trace_room -= 1
            if self.trace_room == 0:
                self.tracing = False
                self.trace_truncated = True
