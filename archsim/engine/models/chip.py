"""One simulated chip: the components of a Program wired together and run."""

from __future__ import annotations

import simpy

from archsim.compiler.program import Program
from archsim.engine.core import Clock, Inbox, Recorder, RunStats, run
from archsim.engine.models.buffer import Buffer
from archsim.engine.models.controller import Controller
from archsim.engine.models.dataflow import build_graph
from archsim.engine.models.digital import DigitalUnit
from archsim.engine.models.interconnect import Network
from archsim.engine.models.tile import MvmTiming, group_timing, mvm_timing


class Chip:
    """Builds the network, buffers, digital units, tile groups and controller of `program`.

    `run_length` is the number of MVMs (and digital vectors) one event may cover: 1 is
    exact fidelity, more is aggregated fidelity. `passes(node, image)` gives the analog
    passes of every patch of an analog layer for one image (None: one pass each).
    Subclasses build another controller (and its tile groups) by overriding
    `_make_controller`; the rest of the chip is shared.
    """

    def __init__(self, program: Program, *, images: int, passes=None, run_length: int = 1,
                 trace: bool = True, trace_limit: int = 200_000):
        hw = self.hw = program.hardware
        self.program = program
        self.clock = Clock(hw.clock)
        self.env = env = simpy.Environment()
        # tiles and digital units trace as they go, into 3/5 of the budget; links at the end
        self.trace_limit = trace_limit
        self.recorder = rec = Recorder(trace, trace_limit * 3 // 5)
        layout = program.layout
        self.io_node = layout.io_node
        self.tile_nodes = layout.tile_nodes
        self.unit_nodes = layout.digital_nodes
        self.network = net = Network(hw, self.clock, layout.cols, layout.rows)
        if trace:
            net.start_trace()
        self.graph = build_graph(program)
        self.io_buffer = Buffer(env, "io.buffer", hw.buffers.io, self.clock, rec, net)
        self.units = [DigitalUnit(env, f"du{u}", rec, ops_per_cycle=hw.digital.ops_per_cycle, inbox=Inbox(env),
                                  batch=run_length) for u in range(hw.digital.count)]
        self.unit_buffers = [Buffer(env, f"du{u}.buffer", hw.buffers.digital, self.clock, rec, net)
                             for u in range(hw.digital.count)]
        used = sorted(t for plan in program.analog_layers for tiles in plan.analog.tiles for t in tiles)
        self.tile_buffers = {t: Buffer(env, f"tile{t}.buffer", hw.buffers.tile, self.clock, rec, net) for t in used}
        self._timings: dict[tuple[int, int], MvmTiming] = {}
        self.finished = env.event()
        self.controller = self._make_controller(images=images, passes=passes, run_length=run_length)
        self.tile_stats = {}
        for groups in self.controller.groups:
            for group in groups:
                stats = [group.stats] + [rec.register(f"tile{t}", "tile", layer=group.node.name,
                                                      replica=group.replica, tiles=[t])
                                         for t in group.tiles[1:]]
                self.tile_stats[group.name] = stats
        self.stats: RunStats | None = None

    def _make_controller(self, *, images: int, passes, run_length: int):
        """The controller, which builds the tile groups (one list per layer in `.groups`)."""
        return Controller(self.env, "controller", self.recorder, graph=self.graph, images=images, chip=self,
                          passes=passes, finished=self.finished, run_length=run_length)

    def timing(self, rows: int, cols: int) -> MvmTiming:
        key = (rows, cols)
        if key not in self._timings:
            self._timings[key] = mvm_timing(self.hw, rows, cols, self.clock)
        return self._timings[key]

    def group_timing(self, blocks: list[tuple[int, int]]) -> MvmTiming:
        return group_timing([self.timing(rows, cols) for rows, cols in blocks])

    def run(self, max_cycles: int) -> RunStats:
        ctl = self.controller
        components = [ctl, *self.units, *ctl.components()]
        self.stats = run(self.env, components, self.finished, max_cycles=max_cycles, unfinished=ctl.unfinished)
        for group in ctl.components():
            group.finish(self.tile_stats[group.name])
        for unit in self.units:
            unit.finish()
        self._count_staging()
        record_transfers(self.network, [self.io_buffer, *self.unit_buffers, *self.tile_buffers.values()],
                         self.recorder, self.trace_limit)
        return self.stats

    def _count_staging(self) -> None:
        """After a run: the tile-buffer reads that staged the tiles' inputs into the DACs."""
        for group in self.controller.components():
            for tile, (rows, _) in zip(group.tiles, group.blocks):
                buf = self.tile_buffers[tile]
                buf.read_bytes += group.mvms * rows
                buf.read_busy += group.mvms * group.timing.staging

    def close(self) -> None:
        """Let go of the model at once: its components, processes and graph refer to each
        other in cycles (~100k objects for ResNet-32), which only a full garbage collection
        would otherwise find and free. Call it once the results have been read."""
        ctl = self.controller
        parts = [self, ctl, self.network, self.network.ports, self.env, self.recorder, *self.graph,
                 *(edge for node in self.graph for edge in node.inputs), *ctl.components(), *self.units,
                 self.io_buffer, *self.unit_buffers, *self.tile_buffers.values()]
        for part in parts:
            vars(part).clear()


def record_transfers(net, buffers, rec, trace_limit: int) -> None:
    """After a run: buffer port statistics, link busy intervals (traced up to the limit) and
    per-link counts, from the network's booked transfers."""
    totals = net.ports.port_totals()
    for buf in buffers:
        buf.finish(totals)
    if net.ports.trace_log is not None:
        rec.allow(trace_limit - len(rec.intervals))
        for port, start, busy in net.ports.intervals():
            if not rec.tracing:
                rec.trace_truncated = True
                break
            if net.is_link(port):
                rec.interval(net.port_name(port), "transfer", start, busy)
    for port in sorted(p for p in totals if net.is_link(p)):
        transfers, flits, busy, _ = totals[port]
        stats = rec.register(net.port_name(port), "link")
        stats.busy = busy
        stats.count("transfers", transfers)
        stats.count("flits", flits)
        stats.count("link_bytes", flits * net.flit_bytes)
