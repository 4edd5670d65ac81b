"""The one shape every active component has.

A component is built with (env, name, parameters, recorder), owns a `run()` generator
that simpy drives as a process, and talks to others only through the channels and
resources it was handed. While blocked it sets `waiting_on` so that the runner can say
what it was waiting for if the simulation deadlocks or hits its cycle limit.
"""

from __future__ import annotations

from typing import Any, Generator

import simpy

from archsim.engine.core.recorder import Recorder, Stats


class Component:
    """Base of active components: one simpy process each."""

    kind = "component"

    def __init__(self, env: simpy.Environment, name: str, recorder: Recorder, **info: Any):
        self.env = env
        self.name = name
        self.recorder = recorder
        self.stats: Stats = recorder.register(name, self.kind, **info)
        # None, or (format, *args): formatted only when a report needs it
        self.waiting_on: tuple | None = None
        self.process: simpy.Process | None = None

    def run(self) -> Generator[simpy.Event, Any, Any]:
        raise NotImplementedError

    def start(self) -> simpy.Process:
        self.process = self.env.process(self.run())
        return self.process

    def describe_wait(self) -> str | None:
        if self.waiting_on is None:
            return None
        fmt, *args = self.waiting_on
        return fmt % tuple(args) if args else fmt
