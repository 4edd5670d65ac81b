"""The engine core on its own: runner, channels, reservations, and its independence."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import simpy

from archsim.engine.core import (Component, Credits, CycleLimitError, DeadlockError, Inbox, PortArray, Recorder,
                                 SimulationError, run)

CORE = Path(__file__).resolve().parents[2] / "archsim" / "engine" / "core"


class Relay(Component):
    """Waits for an item in its inbox, then passes one to its peer."""

    kind = "relay"

    def __init__(self, env, name, recorder, *, inbox, peer_inbox=None, start_with=False):
        super().__init__(env, name, recorder)
        self.inbox, self.peer_inbox, self.start_with = inbox, peer_inbox, start_with

    def run(self):
        if self.start_with:
            self.peer_inbox.put("token")
        while True:
            if not self.inbox.items:
                self.waiting_on = ("an item in %s's inbox", self.name)
                yield self.inbox.wait()
                self.waiting_on = None
                continue
            self.inbox.items.popleft()
            yield self.env.timeout(3)
            self.stats.busy += 3


class Worker(Component):
    """Works forever, one step of 10 cycles at a time."""

    kind = "worker"

    def run(self):
        step = 0
        while True:
            self.waiting_on = ("step %d to finish", step)
            yield self.env.timeout(10)
            step += 1


def test_deadlock_names_every_waiting_component():
    env, rec = simpy.Environment(), Recorder(trace=False)
    a_in, b_in = Inbox(env), Inbox(env)
    a = Relay(env, "alice", rec, inbox=a_in)
    b = Relay(env, "bob", rec, inbox=b_in)
    with pytest.raises(DeadlockError) as info:
        run(env, [a, b], env.event(), max_cycles=1000, unfinished=lambda: "2 messages undelivered")
    err = info.value
    assert err.cycle == 0
    assert dict(err.waiting) == {"alice": "an item in alice's inbox", "bob": "an item in bob's inbox"}
    text = str(err)
    assert text.startswith("deadlock at cycle 0: 2 messages undelivered")
    assert "alice: an item in alice's inbox" in text and "bob: an item in bob's inbox" in text


def test_deadlock_after_some_work():
    env, rec = simpy.Environment(), Recorder(trace=False)
    a_in, b_in = Inbox(env), Inbox(env)
    a = Relay(env, "alice", rec, inbox=a_in, peer_inbox=b_in, start_with=True)
    b = Relay(env, "bob", rec, inbox=b_in)
    with pytest.raises(DeadlockError) as info:
        run(env, [a, b], env.event(), max_cycles=1000)
    assert info.value.cycle == 3                      # bob consumed the token, then both wait
    assert {name for name, _ in info.value.waiting} == {"alice", "bob"}
    assert rec.components["bob"].busy == 3


def test_cycle_limit_reports_what_runs():
    env, rec = simpy.Environment(), Recorder(trace=False)
    w = Worker(env, "w0", rec)
    with pytest.raises(CycleLimitError) as info:
        run(env, [w], env.event(), max_cycles=1000, unfinished=lambda: "the work goes on")
    err = info.value
    assert err.cycle <= 1000
    assert err.waiting == [("w0", f"step {err.cycle // 10} to finish")]
    assert "cycle limit reached" in str(err)


def test_run_stops_when_finished_and_counts_events():
    env, rec = simpy.Environment(), Recorder(trace=False)
    finished = env.event()

    class Stopper(Component):
        def run(self):
            for _ in range(5):
                yield self.env.timeout(7)
            finished.succeed()

    stats = run(env, [Stopper(env, "s", rec), Worker(env, "w", rec)], finished, max_cycles=10_000)
    assert stats.cycles == 35
    assert stats.events > 5 and stats.wall_s >= 0


def test_credits_are_granted_first_come_first_served():
    env = simpy.Environment()
    space = Credits(env, "buf", 10)
    assert space.try_take(6)
    first, second = space.take(5), space.take(1)
    assert not first.triggered and not second.triggered   # FIFO: the small one waits its turn
    space.give(6)
    assert first.triggered and second.triggered and space.used == 6
    space.force(8)
    assert space.used == 14 and space.peak == 14
    with pytest.raises(SimulationError, match="can never fit"):
        space.take(11)


def test_port_array_cut_through_and_contention():
    ports = PortArray()
    entry = ports.add_port("entry", bytes_per_cycle=4)
    hops = tuple(ports.add_port(f"hop{i}", bytes_per_cycle=8, latency=2, unit_bytes=8) for i in range(3))
    exit_ = ports.add_port("exit", bytes_per_cycle=16)
    route = ports.add_route(entry, hops, exit_)
    # 16 bytes: entry busy 4, each hop busy max(2, 4) (fed by the slower entry), exit busy 1
    assert ports.reserve(0, 16, route) == 0 + 3 * 2 + 4          # head at 6, tail 4 later
    assert ports.reserve(0, 16, route) == 4 + 3 * 2 + 4          # queued behind the first at the entry
    hop_only = ports.add_route(None, hops, None)
    assert ports.reserve(100, 8, hop_only) == 100 + 3 * 2 + 1
    totals = ports.port_totals()
    assert totals[entry] == (2, 32, 8, 32)
    assert totals[hops[0]] == (3, 5, 9, 40)
    with pytest.raises(ValueError, match="identical"):
        ports.add_route(None, (hops[0], entry), None)


def test_core_knows_nothing_about_analog_computing():
    for path in CORE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("archsim"):
                assert node.module.startswith(("archsim.engine.core", "archsim.errors")), (path.name, node.module)
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("archsim") for a in node.names)
        names = {n.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Attribute)}
        for word in ("analog", "tile", "adc", "mvm", "crossbar", "layer"):
            assert not any(word in name.lower() for name in names), (path.name, word)
