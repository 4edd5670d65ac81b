"""Analog tiles in training: the three operations of an array and the replica process.

Each analog layer's arrays do three kinds of operation in a training step (models.md
sections 1 and 6), each one timeout on the replica's tile group:

    forward MVM     y = W x            rows driven, columns converted (as inference)
    transposed MVM  d_in = W^T d_out   columns driven, rows converted
    update          W += eta x d^T     BL pulses of `update_pulse_time`, whole array at once

Every operation has a staging part (its input vectors read from the tile buffer into the
DACs or the pulse translators), a body and a `lead`: how long before the end of the body
the next operation's staging may start when the tiles double-buffer.

    forward     S = rows / read bw              body = slices (I + ceil(cols / ADCs) t_conv)    lead = C
    transposed  S = weight cols / read bw       body = slices (I + ceil(rows / ADCs) t_conv)    lead = C
    update      S = (rows + cols) / read bw     body = ceil(BL t_pulse)                          lead = body

period = body + max(0, S - lead) with double buffering (S + body without): the forward
period is exactly `MvmTiming.period()`, the update period is BL pulses whenever staging
takes no longer than the pulses. The transposed read's periphery is the forward one
turned round (our assumption): the same integration time, the tile's ADCs shared the
same way among the rows as among the columns, one DAC per driven column, and only the
data rows converted (the bias row's gradient is not needed). One analog pass per
operation times the input slices: bound management is not modelled in training.

A replica's forward job is its patches of the image in order
(`assignment.patches_of(image)[r]`); its backward job is the transposed MVMs of the same
patches (unless its input needs no gradient: the first layer) followed by their updates,
one rank-1 update per patch (x, d) applied to the whole array, so an update costs the
same whatever the array size. The weights the transposed MVMs read are those of the
forward pass: the updates come after them. Jobs are taken oldest image first and are not
pre-empted. Forward and update fetch the patch's input positions (inference line-buffer
reuse, linebuffer.py), transposed MVMs and updates the error slice d_out[p] from the
layer's unit, prefetched during the previous operation when the tiles double-buffer.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import simpy
from simpy.events import Timeout

from archsim.engine.core import Clock, Component, SimulationError
from archsim.engine.models.tile import MvmTiming, group_timing, mvm_timing
from archsim.engine.models.wiring import line_buffer_positions
from archsim.spec.hardware import HardwareSpec

FORWARD, BACKWARD, UPDATE = 0, 1, 2
PHASES = ("forward", "backward", "update")


@dataclass(frozen=True)
class OpTiming:
    """Cycles of one tile operation: staging, body, and how far staging may overlap the
    previous operation's body (see the module docstring)."""

    staging: int
    body: int
    lead: int

    @property
    def latency(self) -> int:
        return self.staging + self.body

    @property
    def period(self) -> int:
        return self.body + max(0, self.staging - self.lead)

    def run_cycles(self, ops: int) -> int:
        """`ops` back-to-back operations with ready inputs: ops x period + the fill."""
        return ops * self.period + self.latency - self.period if ops > 0 else 0

    @classmethod
    def of_mvm(cls, timing: MvmTiming, passes: int) -> OpTiming:
        """An MVM of `passes` passes (the input slices): staging, then passes x (I + C), its
        staging overlapping the previous body's last conversion with double buffering."""
        return cls(timing.staging, timing.latency(passes) - timing.staging,
                   timing.conversion if timing.double_buffered else 0)


def layer_timings(hw: HardwareSpec, analog, bl: int, clock: Clock | None = None) -> tuple[OpTiming, ...]:
    """(forward, transposed, update) timing of one replica of an analog layer (its slowest tile)."""
    clock = clock or Clock(hw.clock)
    cells = hw.tiles.mapping.cells_per_weight()
    slices = hw.tiles.noise.input_slices
    blocks = analog.blocks
    fwd = group_timing([mvm_timing(hw, b.rows, b.cols * cells, clock) for b in blocks])
    bwd = group_timing([mvm_timing(hw, b.cols, analog.data_rows(b), clock) for b in blocks])
    pulses = clock.cycles(bl * hw.tiles.update_pulse_time)
    staging = max(clock.transfer_cycles(b.rows + b.cols, hw.buffers.tile.read_bandwidth) for b in blocks)
    upd = OpTiming(staging, pulses, pulses if hw.tiles.double_buffered else 0)
    return OpTiming.of_mvm(fwd, slices), OpTiming.of_mvm(bwd, slices), upd


class TrainGroup(Component):
    """One replica of an analog layer: its tiles in lockstep, serving forward and backward jobs."""

    kind = "tile"

    def __init__(self, env, name, recorder, *, ctl, node, replica: int, tiles: tuple[int, ...], blocks: list,
                 timings: tuple[OpTiming, ...], transposed: bool, bl: int, x_paths: list, d_plans: tuple,
                 out_plans: tuple, back_plans: tuple, data_rows: int):
        super().__init__(env, name, recorder, layer=node.name, replica=replica, tiles=list(tiles))
        self.ctl = ctl
        self.node = node
        self.replica = replica
        self.tiles = tiles
        self.blocks = blocks                # per tile: (rows, weight cols, data rows, cells per weight)
        self.fwd, self.bwd, self.upd = timings
        self.transposed = transposed
        self.bl = bl
        self.prefetch = ctl.chip.hw.tiles.double_buffered
        self.x_paths = x_paths              # per tile: (route from the input's buffer, bytes per position)
        self.x_plans: dict[int, tuple] = {}
        self.d_plans = d_plans              # per tile: d_out slice from the layer's unit
        self.out_plans = out_plans          # per tile: forward output to the layer's unit
        self.back_plans = back_plans        # per tile: transposed output to the input's unit
        self.data_rows = data_rows
        self.jobs: list[tuple[int, int]] = []
        self.wake: simpy.Event | None = None
        self.c_end = 0                      # end of the previous operation's body
        self.lead = 0                       # ... and how early the next staging may start
        self.mvms = self.bwd_mvms = self.updates = 0
        self.track_names = [f"tile{t}" for t in tiles]
        self.labels = tuple(f"{node.name} {phase}" for phase in PHASES)

    def add_job(self, image: int, kind: int) -> None:
        heapq.heappush(self.jobs, (image, kind))
        if self.wake is not None:
            event, self.wake = self.wake, None
            event.succeed()

    def run(self):
        ctl, li = self.ctl, self.node.index
        while True:
            if not self.jobs:
                self.wake = self.env.event()
                self.waiting_on = ("work for %s replica %d", self.node.name, self.replica)
                yield self.wake
                self.waiting_on = None
                continue
            image, kind = heapq.heappop(self.jobs)
            st = ctl.states[image]
            order = st.orders[li][self.replica]
            if kind == FORWARD:
                yield from self._ops(st, order, FORWARD, self.fwd, self._fetch_x, self._deliver_forward)
                self.mvms += len(order)
            else:
                if self.transposed:
                    yield from self._ops(st, order, BACKWARD, self.bwd, self._fetch_d, self._deliver_backward)
                    self.bwd_mvms += len(order)
                yield from self._ops(st, order, UPDATE, self.upd, self._fetch_xd, None)
                self.updates += len(order)
            ctl.job_done(self, st, kind)

    def _ops(self, st, order: list[int], phase: int, timing: OpTiming, fetch, deliver):
        """The operations of one job, one timeout each; the next one's inputs are fetched while
        this one runs when the tiles double-buffer."""
        n = len(order)
        if not n:
            return
        env, stats, rec = self.env, self.stats, self.recorder
        S, body, lead = timing.staging, timing.body, timing.lead
        now = env.now
        arrival = fetch(st, order[0], now)
        first = -1
        for k, p in enumerate(order):
            c_end = self.c_end
            s_start = c_end - self.lead
            if arrival > s_start:
                s_start = arrival
            b_start = s_start + S
            if c_end > b_start:
                b_start = c_end
            end = b_start + body
            stats.busy += end - (s_start if s_start > c_end else c_end)
            if first < 0:
                first = s_start
            if rec.tracing:
                for track in self.track_names:
                    rec.interval(track, self.labels[phase], s_start, end - s_start, {"image": st.index, "patch": p})
            if self.prefetch and k + 1 < n:
                arrival = fetch(st, order[k + 1], now)
            yield Timeout(env, end - now)
            now = end
            self.c_end, self.lead = end, lead
            if deliver is not None:
                deliver(st, p, end)
            if not self.prefetch and k + 1 < n:
                arrival = fetch(st, order[k + 1], now)
        self.ctl.span(phase, self.node.index, st.index, first, now)

    # ------------------------------------------------------------ data movement
    def _fetch_x(self, st, p: int, t: int) -> int:
        """The input positions patch p still lacks (line-buffer reuse), into every tile."""
        wanted = st.fetch[self.node.index][p]
        if not wanted:
            return t
        n = len(wanted)
        plans = self.x_plans.get(n)
        if plans is None:
            plan = self.ctl.plan
            plans = self.x_plans[n] = tuple(plan(route, -(-n * share // self.data_rows))
                                            for route, share in self.x_paths)
        return self._book(t, plans)

    def _fetch_d(self, st, p: int, t: int) -> int:
        return self._book(t, self.d_plans)

    def _fetch_xd(self, st, p: int, t: int) -> int:
        return max(self._fetch_x(st, p, t), self._book(t, self.d_plans))

    def _book(self, t: int, plans: tuple) -> int:
        book = self.ctl.book
        arrival = t
        for plan in plans:
            a = book(t, plan)
            if a > arrival:
                arrival = a
        return arrival

    def _deliver_forward(self, st, p: int, t: int) -> None:
        self.ctl.forward_vector(self.node, st, p, self._book(t, self.out_plans))

    def _deliver_backward(self, st, p: int, t: int) -> None:
        self.ctl.partial_gradient(self.node, st, self._book(t, self.back_plans))

    def finish(self, tile_stats: list) -> None:
        """Per-tile action counts: forward and transposed MVM passes, conversions, update pulses."""
        slices = self.ctl.chip.hw.tiles.noise.input_slices
        for stats, (rows, cols, data, cells) in zip(tile_stats, self.blocks):
            if stats is not self.stats:
                stats.busy, stats.stalled = self.stats.busy, self.stats.stalled
            stats.count("mvms", self.mvms)
            stats.count("transposed_mvms", self.bwd_mvms)
            stats.count("mvm_passes", slices * (self.mvms + self.bwd_mvms))
            stats.count("dac_conversions", slices * (self.mvms * rows + self.bwd_mvms * cols * cells))
            stats.count("adc_conversions", slices * (self.mvms * cols * cells + self.bwd_mvms * data))
            stats.count("updates", self.updates)
            stats.count("update_pulses", self.updates * self.bl)


def build_train_groups(ctl, node, bl: int) -> tuple[list[TrainGroup], int]:
    """The tile groups (one per replica) of analog layer `node` with their transfer plans, and
    the most input positions a replica's tile buffers hold (its line-buffer limit)."""
    chip, hw = ctl.chip, ctl.chip.hw
    analog = node.analog
    src = node.inputs[0].src
    cells = hw.tiles.mapping.cells_per_weight()
    data = analog.data_rows()
    timings = layer_timings(hw, analog, bl, chip.clock)
    src_buf, src_xy = ctl.buf_of[src.index], ctl.xy_of[src.index]
    own_buf, own_xy = ctl.buf_of[node.index], ctl.xy_of[node.index]
    groups = []
    for r, tiles in enumerate(analog.tiles):
        blocks, x_paths, d_plans, out_plans, back_plans = [], [], [], [], []
        for b, t in enumerate(tiles):
            block = analog.blocks[b]
            rows = analog.data_rows(block)
            blocks.append((block.rows, block.cols, rows, cells))
            tile_buf, tile_xy = chip.tile_buffers[t], chip.tile_nodes[t]
            if tile_buf.capacity < max(rows + block.cols, block.rows):
                raise SimulationError(f"{tile_buf.name}: its {tile_buf.capacity} bytes cannot hold the input and "
                                      f"error vectors ({rows} + {block.cols} bytes) of layer '{node.name}'")
            x_paths.append((ctl.route(src_buf.read, src_xy, tile_xy, tile_buf.write), rows * src.channels))
            d_plans.append(ctl.plan(ctl.route(own_buf.read, own_xy, tile_xy, tile_buf.write), block.cols))
            out_plans.append(ctl.plan(ctl.route(None, tile_xy, own_xy, own_buf.write), block.cols))
            if ctl.transposed[node.index]:
                back_plans.append(ctl.plan(ctl.route(None, tile_xy, src_xy, src_buf.write), rows))
        groups.append(TrainGroup(ctl.env, f"tile{tiles[0]}", ctl.recorder, ctl=ctl, node=node, replica=r,
                                 tiles=tiles, blocks=blocks, timings=timings, transposed=ctl.transposed[node.index],
                                 bl=bl, x_paths=x_paths, d_plans=tuple(d_plans), out_plans=tuple(out_plans),
                                 back_plans=tuple(back_plans), data_rows=data))
    return groups, line_buffer_positions(chip, analog.tiles[0], [share for _, share in groups[0].x_paths], data)
