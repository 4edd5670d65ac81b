"""Digital units: partial-sum accumulation, bias, activation, pooling, residual add, batchnorm.

A unit works through an inbox of position vectors in arrival order at a throughput
of `ops_per_cycle` element operations per cycle: one vector with n operations takes
ceil(n / ops_per_cycle) cycles (one timeout). With aggregated fidelity it takes up to
`batch` waiting vectors at once and spends ceil(sum n / ops_per_cycle) cycles on them.
With aggregated fidelity every vector carries its arrival cycle (a time stamp that may
lie before or after the simulation time); the unit works through its inbox in order
at simulation time and adds the delay each vector sees there to its stamp (lax
synchronisation). What the work is (how many operations a
vector needs, what finishing it unlocks) is the controller's business: an inbox item
is (operations, handler, layer node, image state, payload, bytes, arrival cycle,
cycle it was queued) and the unit calls handler(item, start, end) when it is done.
"""

from __future__ import annotations

import math

from simpy.events import Timeout

from archsim.engine.core import Component, Inbox


class DigitalUnit(Component):
    """One digital unit: a process serving its inbox."""

    kind = "digital"

    def __init__(self, env, name, recorder, *, ops_per_cycle: int, inbox: Inbox, batch: int = 1, **info):
        super().__init__(env, name, recorder, ops_per_cycle=ops_per_cycle, **info)
        self.ops_per_cycle = ops_per_cycle
        self.inbox = inbox
        self.batch = max(1, batch)
        self.ops = 0
        self.items = 0
        self._cycles: dict[int, int] = {}

    def cycles(self, ops: int) -> int:
        found = self._cycles.get(ops)
        if found is None:
            found = self._cycles[ops] = math.ceil(ops / self.ops_per_cycle)
        return found

    def run(self):
        return self._run_exact() if self.batch == 1 else self._run_aggregated()

    def _run_exact(self):
        """One event per vector, which has arrived by now."""
        env, inbox, stats = self.env, self.inbox, self.stats
        items = inbox.items
        popleft = items.popleft
        rec = self.recorder
        known = self._cycles
        now = env.now       # kept up to date after every yield
        while True:
            if not items:
                yield inbox.wait()
                now = env.now
                continue
            item = popleft()
            ops = item[0]
            dur = known.get(ops)
            if dur is None:
                dur = self.cycles(ops)
            self.ops += ops
            self.items += 1
            start = now
            if dur:
                stats.busy += dur
                if rec.tracing:
                    rec.interval(self.name, item[2].name, start, dur)
                yield Timeout(env, dur)
                now = start + dur
            item[1](item, start, now)

    def _run_aggregated(self):
        env, inbox, stats = self.env, self.inbox, self.stats
        items = inbox.items
        batch = self.batch
        rec = self.recorder
        cycles = self.cycles
        free = 0        # aggregated fidelity: end of the unit's own time line
        while True:
            if not items:
                yield inbox.wait()
                continue
            # aggregated: up to `batch` vectors per event. The unit works through them in order
            # at simulation time; the delay each one sees from being queued to being done is
            # applied to its arrival stamp, which may lie before or after the simulation time.
            work = [items.popleft() for _ in range(min(batch, len(items)))]
            now = env.now
            t = free if free > now else now
            done = []
            for item in work:
                ops = item[0]
                dur = cycles(ops)
                self.ops += ops
                t += dur
                waited = item[6] - item[7]     # arrival stamp minus the time it was queued
                done.append((item, t - dur + waited, t + waited))
            stats.busy += t - (free if free > now else now)
            self.items += len(work)
            if rec.tracing:
                start = free if free > now else now
                rec.interval(self.name, work[0][2].name, start, t - start, {"vectors": len(work)})
            free = t
            if t > now:
                yield env.timeout(t - now)
            for item, start, end in done:
                item[1](item, start, end)

    def finish(self) -> None:
        self.stats.count("digital_ops", self.ops)
        self.stats.count("vectors", self.items)
