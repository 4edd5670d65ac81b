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
from collections import deque
from itertools import chain
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

    def put_value(self, event: simpy.Event) -> None:
        """`put` the value of `event`: a callback for an event that delivers an item."""
        self.items.append(event.value)
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
        used = self.used = self.used + n          # _add, inlined: this is on the hot path
        if used > self.peak:
            self.peak = used
        meter = self.meter
        used = meter.used = meter.used + n
        if used > meter.peak:
            meter.peak = used

    def give(self, n: int) -> None:
        """Return `n` units and wake the waiters that now fit."""
        self.used -= n
        self.meter.used -= n
        if self.waiters:
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
    e_k = h_k + max(d_hop, d_entry), which makes a hop four operations. Everything that
    depends only on (route, bytes) is computed once into a plan (`plan`); `book` then
    books a plan, and only counts it: per-port totals and trace intervals are derived
    at the end. Callers on a hot path keep their plans and call `book` directly.
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
        self._plans: dict[tuple[int | None, int], tuple] = {}      # (route, bytes) -> plan
        # plan id -> (route, bytes) and how often it was booked; id 0: no route
        self._plan_keys: list[tuple[int | None, int]] = [(None, 0)]
        self.booked: list[int] = [0]
        self._busy: dict[tuple[int, int], int] = {}
        self.trace_log: list[tuple[int, tuple[int, ...]]] | None = None  # (plan id, hop heads)
        self.book = self._book

    def add_port(self, name: str | None, bytes_per_cycle: float, latency: int = 0, unit_bytes: int = 1) -> int:
        self.names.append(name)
        self.bytes_per_cycle.append(float(bytes_per_cycle))
        self.latency.append(int(latency))
        self.unit_bytes.append(int(unit_bytes))
        self.free_at.append(0)
        self._kind.append(self._kinds.setdefault((float(bytes_per_cycle), int(latency), int(unit_bytes)),
                                                 len(self._kinds)))
        return len(self.free_at) - 1

    def add_ports(self, n: int, name: str | None, bytes_per_cycle: float, latency: int = 0,
                  unit_bytes: int = 1) -> range:
        """`n` identical ports (all named `name`); returns their ids."""
        first = len(self.free_at)
        kind = self._kinds.setdefault((float(bytes_per_cycle), int(latency), int(unit_bytes)), len(self._kinds))
        self.names += [name] * n
        self.bytes_per_cycle += [float(bytes_per_cycle)] * n
        self.latency += [int(latency)] * n
        self.unit_bytes += [int(unit_bytes)] * n
        self.free_at += [0] * n
        self._kind += [kind] * n
        return range(first, first + n)

    def add_route(self, entry: int | None, hops: tuple[int, ...], exit: int | None) -> int:
        """Register a route; every hop must have the same bandwidth, latency and unit."""
        if len(set(map(self._kind.__getitem__, hops))) > 1:
            raise ValueError("the hops of a route must be identical ports")
        self.routes.append((-1 if entry is None else entry, tuple(hops), -1 if exit is None else exit))
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

    def plan(self, route: int | None, nbytes: int) -> tuple:
        """The plan of moving `nbytes` along `route`, for `book`:
        (entry, hops, exit, busy at entry, busy per hop, busy at exit, hop latency, plan id)."""
        key = (route, nbytes)
        plan = self._plans.get(key)
        if plan is None:
            if route is None:
                plan = (-1, (), -1, 0, 0, 0, 0, 0)
            else:
                entry, hops, exit = self.routes[route]
                d_entry = self.busy_cycles(entry, nbytes)
                d_hop = max(self.busy_cycles(hops[0], nbytes), d_entry) if hops else 0
                lat = self.latency[hops[0]] if hops else 0
                plan = (entry, hops, exit, d_entry, d_hop, self.busy_cycles(exit, nbytes), lat,
                        len(self._plan_keys))
                self._plan_keys.append(key)
                self.booked.append(0)
            self._plans[key] = plan
        return plan

    def reserve(self, t: int, nbytes: int, route: int | None) -> int:
        """Book `nbytes` along `route` from cycle `t` on; returns the cycle the tail arrives
        (`t` itself for no route)."""
        return self.book(t, self.plan(route, nbytes))

    def _book(self, t: int, plan: tuple) -> int:
        """Book a transfer planned by `plan` from cycle `t` on; returns the cycle its tail arrives."""
        entry, hops, exit, d_entry, d_hop, d_exit, lat, pid = plan
        self.booked[pid] += 1
        free = self.free_at
        head = t
        if entry >= 0:
            f = free[entry]
            if f > head:
                head = f
            tail = free[entry] = head + d_entry
        else:
            tail = t
        if hops:
            for port in hops:
                f = free[port]
                if f > head:
                    head = f
                free[port] = head + d_hop
                head += lat
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

    def _book_traced(self, t: int, plan: tuple) -> int:
        """`_book`, also logging where the head reached every hop."""
        entry, hops, exit, d_entry, d_hop, d_exit, lat, pid = plan
        self.booked[pid] += 1
        free = self.free_at
        head = t
        if entry >= 0:
            f = free[entry]
            if f > head:
                head = f
            tail = free[entry] = head + d_entry
        else:
            tail = t
        if hops:
            heads = []
            for port in hops:
                f = free[port]
                if f > head:
                    head = f
                heads.append(head)
                free[port] = head + d_hop
                head += lat
            self.trace_log.append((pid, tuple(heads)))
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

    def start_trace(self) -> None:
        """Log the hop heads of every transfer booked from now on (for `intervals`)."""
        self.trace_log = []
        self.book = self._book_traced

    def port_totals(self) -> dict[int, tuple[int, int, int, int]]:
        """port -> (transfers, units, busy cycles, bytes), for every port that was used."""
        booked = np.asarray(self.booked, dtype=np.int64)
        booked[0] = 0                                      # transfers without a route
        pids = np.flatnonzero(booked)
        if not len(pids):
            return {}
        plans = [self._plans[self._plan_keys[pid]] for pid in pids.tolist()]
        count = booked[pids]
        size = np.fromiter((self._plan_keys[pid][1] for pid in pids.tolist()), np.int64, len(pids))
        entry, exit, d_entry, d_hop, d_exit = (np.fromiter((plan[i] for plan in plans), np.int64, len(plans))
                                               for i in (0, 2, 3, 4, 5))
        hops = [plan[1] for plan in plans]
        n_hops = np.fromiter(map(len, hops), np.int64, len(hops))
        hop_ports = np.fromiter(chain.from_iterable(hops), np.int64, int(n_hops.sum()))
        moved = size * count
        hop_size = np.repeat(size, n_hops)
        hop_unit = np.asarray(self.unit_bytes, dtype=np.int64)[hop_ports]
        has_entry, has_exit = entry >= 0, exit >= 0
        # per port: transfers, units (bytes at buffer ports, whole units on hops), busy cycles, bytes
        ports = np.concatenate([entry[has_entry], exit[has_exit], hop_ports])
        columns = [np.concatenate([count[has_entry], count[has_exit], np.repeat(count, n_hops)]),
                   np.concatenate([moved[has_entry], moved[has_exit],
                                   -(-hop_size // hop_unit) * np.repeat(count, n_hops)]),
                   np.concatenate([(d_entry * count)[has_entry], (d_exit * count)[has_exit],
                                   np.repeat(d_hop * count, n_hops)]),
                   np.concatenate([moved[has_entry], moved[has_exit], np.repeat(moved, n_hops)])]
        n = len(self.free_at)
        cols = np.stack([np.bincount(ports, weights=c, minlength=n) for c in columns], axis=1)
        used_ports = np.flatnonzero(cols[:, 0])
        values = np.rint(cols[used_ports]).astype(np.int64).tolist()
        return {int(p): tuple(v) for p, v in zip(used_ports.tolist(), values)}

    def intervals(self):
        """(port, start, busy) of every traced hop reservation."""
        for pid, heads in self.trace_log or ():
            plan = self._plans[self._plan_keys[pid]]
            d_hop = plan[4]
            for port, head in zip(plan[1], heads):
                yield port, head, d_hop
