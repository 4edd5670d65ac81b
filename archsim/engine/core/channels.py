"""Channels and resources components talk through.

- `Inbox`: an unbounded FIFO of work items for one consumer process (bounds are
  enforced separately by `Credits`, so a producer stalls instead of an item dropping).
- `Credits`: a pool of units (bytes of buffer space) handed out first come, first
  served; a request that does not fit waits, which is how backpressure propagates.
- `PortArray`: bandwidth-limited first-come-first-served timelines (links, buses,
  buffer ports) reserved along routes with cut-through timing. A transfer is one
  reservation computed at once, not one event per hop or per cycle.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from typing import Any

import numpy as np
import simpy

from archsim.engine.core.errors import SimulationError


class Inbox:
    """FIFO of items for one consumer; `put` never blocks, `wait` parks the consumer."""

    __slots__ = ("env", "items", "waiter")

    def __init__(self, env: simpy.Environment):
        self.env = env
        self.items: deque = deque()
        self.waiter: simpy.Event | None = None

    def put(self, item: Any) -> None:
        self.items.append(item)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            waiter.succeed()

    def wait(self) -> simpy.Event:
        """An event that fires at the next `put` (call only when `items` is empty)."""
        self.waiter = self.env.event()
        return self.waiter


class Meter:
    """Units in use and the most ever in use, shared by the Credits of one resource."""

    __slots__ = ("used", "peak")

    def __init__(self):
        self.used = 0
        self.peak = 0


class Credits:
    """`capacity` units granted in request order; `used` never exceeds it through `take`.

    `force` adds units unconditionally (data a component derives from data it already
    holds); `when_room` is an event for "n units would fit now" that takes nothing.
    Several Credits may share one `Meter` (regions of one buffer).
    """

    __slots__ = ("env", "name", "capacity", "used", "peak", "waiters", "meter")

    def __init__(self, env: simpy.Environment, name: str, capacity: int, meter: Meter | None = None):
        self.env = env
        self.name = name
        self.capacity = int(capacity)
        self.used = 0
        self.peak = 0
        self.waiters: deque = deque()   # (units, event, take)
        self.meter = meter or Meter()

    def _add(self, n: int) -> None:
        self.used += n
        if self.used > self.peak:
            self.peak = self.used
        meter = self.meter
        meter.used += n
        if meter.used > meter.peak:
            meter.peak = meter.used

    def room(self, n: int) -> bool:
        """Whether `n` more units fit now (whoever waits)."""
        return self.used + n <= self.capacity

    def try_take(self, n: int) -> bool:
        """Take `n` units if they fit and nobody waits before us."""
        if self.waiters or self.used + n > self.capacity:
            return False
        self._add(n)
        return True

    def _check(self, n: int) -> None:
        if n > self.capacity:
            raise SimulationError(f"{self.name}: a request of {n} bytes can never fit its capacity of "
                                  f"{self.capacity} bytes")

    def take(self, n: int) -> simpy.Event:
        """An event that fires once `n` units are granted (immediately if they fit)."""
        self._check(n)
        event = self.env.event()
        if self.try_take(n):
            event.succeed()
        else:
            self.waiters.append((n, event, True))
        return event

    def when_room(self, n: int) -> simpy.Event:
        """An event that fires once `n` units would fit (it takes nothing)."""
        self._check(n)
        event = self.env.event()
        if self.room(n):
            event.succeed()
        else:
            self.waiters.append((n, event, False))
        return event

    def force(self, n: int) -> None:
        self._add(n)

    def give(self, n: int) -> None:
        """Return `n` units and wake the waiters that now fit."""
        self.used -= n
        self.meter.used -= n
        self.kick()

    def kick(self) -> None:
        """Wake waiters in order while they fit, counting each as if it took its units (a
        freed slot wakes one waiter, not all). A woken `when_room` waiter that does not
        take its units after all must kick again, or the room would sit unused."""
        waiters = self.waiters
        room = self.capacity - self.used
        while waiters and waiters[0][0] <= room:
            need, event, take = waiters.popleft()
            if take:
                self._add(need)
            room -= need
            event.succeed()


class PortArray:
    """Bandwidth-limited ports (links, buses, buffer ports) reserved first come, first served.

    Each port has a bandwidth (bytes per cycle), a latency (cycles from a byte entering
    to it leaving) and a unit (transfers move whole units, e.g. flits). A route is an
    optional entry port, a run of identical ports (the hops) and an optional exit port.
    `reserve` books a transfer along a route with cut-through timing: the head reaches
    port k at h_k = max(h_{k-1} + latency_{k-1}, free_k); port k passes the tail on at
    e_k = max(h_k + d_k, e_{k-1} + latency_{k-1}), where d_k = ceil(units x unit_k /
    bandwidth_k), and stays busy until then; the transfer has arrived at
    e_last + latency_last. Contention emerges from the ports' busy times.

    Along identical hops fed by an entry port the recurrence reduces exactly to
    e_k = h_k + max(d_hop, d_entry), which makes a hop four operations. The hot path
    only logs (route, bytes); per-port totals and trace intervals are derived at the end.
    """

    def __init__(self):
        self.names: list[str | None] = []
        self.bytes_per_cycle: list[float] = []
        self.latency: list[int] = []
        self.unit_bytes: list[int] = []
        self.free_at: list[int] = []
        self._kind: list[int] = []                                 # ports alike share a kind
        self._kinds: dict[tuple, int] = {}
        self.routes: list[tuple[int, tuple[int, ...], int]] = []   # (entry or -1, hops, exit or -1)
        self._plans: list[dict[int, tuple]] = []    # bytes -> (entry, hops, exit, busy x3, hop latency)
        self._busy: dict[tuple[int, int], int] = {}
        self.log: list[tuple[int, int]] = []     # (route, bytes) of every transfer
        self.trace_log: list[tuple[int, tuple[int, ...], int]] | None = None  # (route, hop heads, bytes)

    def add_port(self, name: str | None, bytes_per_cycle: float, latency: int = 0, unit_bytes: int = 1) -> int:
        self.names.append(name)
        self.bytes_per_cycle.append(float(bytes_per_cycle))
        self.latency.append(int(latency))
        self.unit_bytes.append(int(unit_bytes))
        self.free_at.append(0)
        self._kind.append(self._kinds.setdefault((float(bytes_per_cycle), int(latency), int(unit_bytes)),
                                                 len(self._kinds)))
        return len(self.free_at) - 1

    def add_route(self, entry: int | None, hops: tuple[int, ...], exit: int | None) -> int:
        """Register a route; every hop must have the same bandwidth, latency and unit."""
        if len(set(map(self._kind.__getitem__, hops))) > 1:
            raise ValueError("the hops of a route must be identical ports")
        self.routes.append((-1 if entry is None else entry, tuple(hops), -1 if exit is None else exit))
        self._plans.append({})
        return len(self.routes) - 1

    def busy_cycles(self, port: int, nbytes: int) -> int:
        """Cycles `port` is busy moving `nbytes` (whole units, at least one cycle)."""
        if port < 0 or nbytes <= 0:
            return 0
        key = (self._kind[port], nbytes)
        busy = self._busy.get(key)
        if busy is None:
            unit = self.unit_bytes[port]
            units = -(-nbytes // unit)
            busy = self._busy[key] = max(1, math.ceil(units * unit / self.bytes_per_cycle[port] - 1e-9))
        return busy

    def _plan(self, route: int, nbytes: int) -> tuple:
        entry, hops, exit = self.routes[route]
        d_entry = self.busy_cycles(entry, nbytes)
        d_hop = max(self.busy_cycles(hops[0], nbytes), d_entry) if hops else 0
        lat = self.latency[hops[0]] if hops else 0
        plan = self._plans[route][nbytes] = (entry, hops, exit, d_entry, d_hop, self.busy_cycles(exit, nbytes), lat)
        return plan

    def reserve(self, t: int, nbytes: int, route: int | None) -> int:
        """Book `nbytes` along `route` from cycle `t` on; returns the cycle the tail arrives
        (`t` itself for no route)."""
        if route is None:
            return t
        plan = self._plans[route].get(nbytes)
        if plan is None:
            plan = self._plan(route, nbytes)
        entry, hops, exit, d_entry, d_hop, d_exit, lat = plan
        self.log.append((route, nbytes))
        free = self.free_at
        head = t
        if entry >= 0:
            f = free[entry]
            if f > head:
                head = f
            tail = head + d_entry
            free[entry] = tail
        else:
            tail = t
        if hops:
            if self.trace_log is None:
                for port in hops:
                    f = free[port]
                    if f > head:
                        head = f
                    free[port] = head + d_hop
                    head += lat
            else:
                heads = []
                for port in hops:
                    f = free[port]
                    if f > head:
                        head = f
                    heads.append(head)
                    free[port] = head + d_hop
                    head += lat
                self.trace_log.append((route, tuple(heads), nbytes))
            tail = head + d_hop
        if exit >= 0:
            f = free[exit]
            if f > head:
                head = f
            end = head + d_exit
            if tail > end:
                end = tail
            free[exit] = tail = end
        return tail

    def port_totals(self) -> dict[int, tuple[int, int, int, int]]:
        """port -> (transfers, units, busy cycles, bytes), for every port that was used."""
        if not self.log:
            return {}
        n_routes = len(self.routes)
        totals = np.zeros((n_routes, 6), dtype=np.int64)  # transfers, bytes, busy entry/hop/exit, hop units
        for (route, size), count in Counter(self.log).items():
            _, hops, _, d_entry, d_hop, d_exit, _ = self._plans[route][size]
            unit = self.unit_bytes[hops[0]] if hops else 1
            row = totals[route]
            row += (count, size * count, d_entry * count, d_hop * count, d_exit * count,
                    -(-size // unit) * count)
        used = np.flatnonzero(totals[:, 0])
        ports, weights = [], []
        for route in used.tolist():
            entry, hops, exit = self.routes[route]
            t, b, d_entry, d_hop, d_exit, hop_units = totals[route].tolist()
            for port, busy, units in ((entry, d_entry, b), (exit, d_exit, b)):
                if port >= 0:
                    ports.append(np.array([port]))
                    weights.append(np.array([[t, units, busy, b]]))
            if hops:
                ports.append(np.asarray(hops))
                weights.append(np.repeat(np.array([[t, hop_units, d_hop, b]]), len(hops), axis=0))
        ports_a = np.concatenate(ports)
        weights_a = np.concatenate(weights).astype(np.float64)
        n = len(self.free_at)
        cols = np.stack([np.bincount(ports_a, weights=weights_a[:, i], minlength=n) for i in range(4)], axis=1)
        used_ports = np.flatnonzero(cols[:, 0])
        values = np.rint(cols[used_ports]).astype(np.int64).tolist()
        return {int(p): tuple(v) for p, v in zip(used_ports.tolist(), values)}

    def intervals(self):
        """(port, start, busy) of every traced hop reservation."""
        for route, heads, size in self.trace_log or ():
            d_hop = self._plans[route][size][4]
            for port, head in zip(self.routes[route][1], heads):
                yield port, head, d_hop
