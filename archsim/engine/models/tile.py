"""Analog tiles: the MVM timing model (closed form) and the tile process.

Timing of one MVM on one tile (models.md section 6, architecture.md):

    staging     S = rows staged / tile-buffer read bandwidth      (input into the DACs)
    integration I = integration_time                              (DAC drive + array)
    conversion  C = ceil(cols used / ADCs per tile) x conversion_time
    passes      p = bound-management passes x input slices

    latency(p) = S + p (I + C)
    period(p)  = latency(p) - min(S, C)   with double buffering, else latency(p)

With double buffering the next input is staged while the current MVM's last
conversion runs, so back-to-back MVMs are `period` apart. A bound-management repeat
re-drives the array and converts again; the input already sits in the DAC registers,
so staging is not repeated. P MVMs on one tile with their inputs always ready take
P x period + (latency - period) cycles: P x t_MVM plus the fill. Every term is rounded
up to whole cycles on its own.

A `TileGroup` is the process of one replica of a layer: the tiles holding its blocks
(row blocks x col blocks) work in lockstep on the same patch, each receiving its
slice of the input, so one process drives them with one timeout per MVM (exact
fidelity) or per run of MVMs (aggregated fidelity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simpy.events import Event, Timeout

from archsim.engine.core import Clock, Component
from archsim.spec.hardware import HardwareSpec


@dataclass(frozen=True)
class MvmTiming:
    """Cycles of the parts of one MVM pass on one tile (see the module docstring)."""

    staging: int
    integration: int
    conversion: int
    double_buffered: bool

    def latency(self, passes: int = 1) -> int:
        return self.staging + passes * (self.integration + self.conversion)

    def period(self, passes: int = 1) -> int:
        overlap = min(self.staging, self.conversion) if self.double_buffered else 0
        return self.latency(passes) - overlap

    def run_cycles(self, mvms: int, passes: int = 1) -> int:
        """`mvms` back-to-back MVMs with ready inputs: mvms x period + the fill."""
        if mvms <= 0:
            return 0
        return mvms * self.period(passes) + self.latency(passes) - self.period(passes)


def mvm_timing(hw: HardwareSpec, rows: int, cols: int, clock: Clock | None = None) -> MvmTiming:
    """The closed-form MVM timing of a tile using `rows` inputs and `cols` array columns."""
    clock = clock or Clock(hw.clock)
    tiles = hw.tiles
    conversions = math.ceil(cols / tiles.adc.count)
    return MvmTiming(staging=clock.transfer_cycles(rows, hw.buffers.tile.read_bandwidth),
                     integration=clock.cycles(tiles.integration_time),
                     conversion=clock.cycles(conversions * tiles.adc.conversion_time),
                     double_buffered=tiles.double_buffered)


def group_timing(timings: list[MvmTiming]) -> MvmTiming:
    """Tiles in lockstep: each part lasts as long as in the slowest tile."""
    return MvmTiming(staging=max(t.staging for t in timings), integration=max(t.integration for t in timings),
                     conversion=max(t.conversion for t in timings), double_buffered=timings[0].double_buffered)


class TileGroup(Component):
    """One replica of an analog layer: its tiles, in lockstep, computing its patches in order.

    Per patch: wait until every input position it reads has been produced (idle), fetch
    the positions it still lacks into the tile buffers (during the previous MVM when the
    tiles double-buffer), stage, integrate and convert (busy), then hand the outputs to
    the layer's digital unit, waiting while its inbox or line buffers are full (stalled).
    `ctl` is the controller that owns the schedule and the dataflow bookkeeping.
    """

    kind = "tile"

    def __init__(self, env, name, recorder, *, ctl, node, replica: int, tiles: tuple[int, ...],
                 blocks: list[tuple[int, int]], timing: MvmTiming, passes_per_mvm: int, prefetch: bool,
                 run_length: int, fetch_paths: list[tuple], out_paths: list[tuple], data_rows: int):
        super().__init__(env, name, recorder, layer=node.name, replica=replica, tiles=list(tiles))
        self.blocks = blocks            # (rows, cols) used on each tile
        # per tile: (route from the source buffer, input rows x channels of a position, tile buffer):
        # a fetched position brings channels x (the tile's input rows / data_rows) bytes
        self.fetch_paths = fetch_paths
        self.data_rows = data_rows      # input elements of one patch over all row blocks
        self.out_paths = out_paths      # per tile: (route to the digital unit's buffer, output bytes)
        self.out_bytes = sum(path[1] for path in out_paths)
        self.ctl = ctl
        self.node = node
        self.replica = replica
        self.tiles = tiles
        self.timing = timing
        self.passes_per_mvm = passes_per_mvm
        self.prefetch = prefetch
        self.run_length = max(1, run_length)
        # the patch this group needs next, and how the controller should tell it is ready
        self.want_image = -1
        self.want_patch = -1
        self.blocked = None          # event the process waits on for `want_patch`
        self.fetched_patch = -1      # prefetched patch and its arrival cycle
        self.fetched_image = -1
        self.fetched_at = 0
        self.mvms = 0
        self.passes = 0
        self.track_names = [f"tile{t}" for t in tiles]
        self.fetch_on_ready = prefetch and self.run_length == 1
        # set when the group is wired (wiring.build_tile_groups): what the exact hot path needs
        self.out_plans: tuple = ()
        self.fetch_plans: dict[int, tuple] = {}
        self.src_index = self.src_channels = 0
        self.hand_over_one: tuple = ()

    def patch_ready(self, image: int, patch: int, now: int) -> None:
        """Called by the controller at cycle `now` when the inputs of `patch` all exist."""
        if patch != self.want_patch or image != self.want_image:
            return
        if self.blocked is not None:
            event, self.blocked = self.blocked, None
            event.succeed()
        elif self.fetch_on_ready:
            # the tiles are busy with the previous patch: fetch this one meanwhile
            self.fetched_at = self.ctl.fetch_exact(self, self.ctl.states[image], patch, now)
            self.fetched_patch, self.fetched_image = patch, image

    def _prefetch(self, image: int, patch: int, st, now: int) -> None:
        """Fetch `patch` now if its inputs exist, else as soon as they do (patch_ready)."""
        self.want_image, self.want_patch = image, patch
        if not st.cnt[self.node.index][patch]:
            self.fetched_at = self.ctl.fetch_exact(self, st, patch, now)
            self.fetched_patch, self.fetched_image = patch, image

    def run(self):
        return self._run_exact() if self.run_length == 1 else self._run_aggregated()

    def _wait_gate(self, image: int):
        gate = self.ctl.gate(self.node.index, image)
        if gate is not None:
            self.waiting_on = ("image %d of layer %s to be released", image, self.node.name)
            yield gate
            self.waiting_on = None

    def _wait_inputs(self, image: int, patch: int):
        self.want_image, self.want_patch = image, patch
        self.blocked = self.env.event()
        self.waiting_on = ("inputs of %s patch %d of image %d", self.node.name, patch, image)
        yield self.blocked
        self.waiting_on = None

    def _stall(self, wait, run: list[int]):
        """Wait until the digital unit's buffer takes the outputs of `run` (backpressure)."""
        t0 = self.env.now
        while wait is not None:
            self.waiting_on = ("buffer space on du%d for the output of %s patch %d", self.node.unit,
                               self.node.name, run[0])
            yield wait
            wait = self.ctl.hand_over(self, run)
        self.waiting_on = None
        self.stats.stalled += self.env.now - t0

    def _run_exact(self):
        """One event per MVM: the hand-overs happen at simulation time."""
        env, ctl, node = self.env, self.ctl, self.node
        stats = self.stats
        timing = self.timing
        S, C = timing.staging, timing.conversion
        IC = timing.integration + C
        lead = C if timing.double_buffered else 0   # staging may start this long before the last end
        base_passes = self.passes_per_mvm
        rec = self.recorder
        fetch, hand_over, deliver = ctl.fetch_exact, ctl.hand_over_one, ctl.deliver_one
        prefetch = self.prefetch
        li = node.index
        replica = self.replica
        images = ctl.images
        released = ctl.released
        first_start, last_end = ctl.span_start[li], ctl.span_end[li]
        c_end = 0          # end of the previous MVM (its last conversion)
        now = env.now      # kept up to date after every yield
        for image in range(images):
            if released[li] <= image:
                yield from self._wait_gate(image)
                now = env.now
            state = ctl.states[image]
            order = state.orders[li][replica]
            passes = state.passes[li]
            cnt = state.cnt[li]
            n = len(order)
            if not n:
                ctl.layer_done(li, image)
            for k, p in enumerate(order, 1):
                # 1. the inputs of patch p: prefetched, or fetched once they exist
                if self.fetched_patch == p and self.fetched_image == image:
                    arrival = self.fetched_at
                    self.fetched_patch = -1
                else:
                    if cnt[p]:
                        self.want_image, self.want_patch = image, p
                        blocked = self.blocked = Event(env)
                        self.waiting_on = ("inputs of %s patch %d of image %d", node.name, p, image)
                        yield blocked
                        self.waiting_on = None
                        now = env.now
                    if self.fetched_patch == p and self.fetched_image == image:
                        arrival = self.fetched_at
                        self.fetched_patch = -1
                    else:
                        arrival = fetch(self, state, p, now)
                # 2. stage, integrate, convert
                pp = base_passes * passes[p] if passes is not None else base_passes
                s_start = c_end - lead
                if arrival > s_start:
                    s_start = arrival
                i_start = s_start + S
                if c_end > i_start:
                    i_start = c_end
                end = i_start + pp * IC
                stats.busy += end - (s_start if s_start > c_end else c_end)
                self.passes += pp
                self.mvms += 1
                first = first_start[image]
                if first < 0 or s_start < first:
                    first_start[image] = s_start
                if end > last_end[image]:
                    last_end[image] = end
                if rec.tracing:
                    for track in self.track_names:
                        rec.interval(track, node.name, s_start, end - s_start, {"image": image, "patch": p})
                # 3. prefetch the next patch while this one computes (the next image's first
                # patch if this was the last one and the layer may go on to the next image)
                if k == n:
                    self.want_patch = -1
                    ctl.layer_done(li, image)
                if prefetch:
                    if k < n:
                        q = order[k]
                        self.want_image, self.want_patch = image, q
                        if not cnt[q]:
                            self.fetched_at = fetch(self, state, q, now)
                            self.fetched_patch, self.fetched_image = q, image
                    elif image + 1 < images and released[li] > image + 1:
                        nxt = ctl.states[image + 1]
                        first_patches = nxt.orders[li][replica]
                        if first_patches:
                            self._prefetch(image + 1, first_patches[0], nxt, now)
                yield Timeout(env, end - now)
                # 4. hand the output to the digital unit (backpressure: wait for buffer space)
                wait = hand_over(self, p)
                if wait is not None:
                    yield from self._stall(wait, [p])
                    end = env.now
                c_end = now = end
                deliver(self, state, p, end)

    def _run_aggregated(self):
        """One event per run of up to `run_length` MVMs whose inputs all exist.

        Every MVM of the run is scheduled from the time stamps of its inputs (when they
        were produced), not from the simulation time at which the group learns of them,
        and each output is handed over with its own completion time; the error against
        exact fidelity comes from reservations being made out of time order.
        """
        env, ctl, node = self.env, self.ctl, self.node
        stats = self.stats
        timing = self.timing
        S, C = timing.staging, timing.conversion
        IC = timing.integration + C
        lead = C if timing.double_buffered else 0
        base_passes = self.passes_per_mvm
        rec = self.recorder
        fetch, deliver, span = ctl.fetch, ctl.deliver, ctl.mvm_span
        run_length = self.run_length
        li = node.index
        c_end = 0          # end of the previous MVM
        s_prev = 0         # staging start of the previous MVM: the next fetch may start then
        for image in range(ctl.images):
            yield from self._wait_gate(image)
            state = ctl.states[image]
            order = state.orders[li][self.replica]
            passes = state.passes[li]
            cnt = state.cnt[li]
            n = len(order)
            k = 0
            while k < n:
                if cnt[order[k]]:
                    yield from self._wait_inputs(image, order[k])
                run = [order[k]]
                k += 1
                while len(run) < run_length and k < n and not cnt[order[k]]:
                    run.append(order[k])
                    k += 1
                wait = ctl.hand_over(self, run)
                if wait is not None:
                    yield from self._stall(wait, run)
                    if env.now > c_end:
                        c_end = env.now
                first = -1
                for p in run:
                    arrival = fetch(self, image, p, s_prev)
                    pp = base_passes * passes[p] if passes is not None else base_passes
                    s_start = c_end - lead
                    if arrival > s_start:
                        s_start = arrival
                    i_start = s_start + S
                    if c_end > i_start:
                        i_start = c_end
                    end = i_start + pp * IC
                    stats.busy += end - (s_start if s_start > c_end else c_end)
                    self.passes += pp
                    if first < 0:
                        first = s_start
                    s_prev, c_end = s_start, end
                    deliver(self, image, [p], end)
                self.mvms += len(run)
                span(li, image, first, c_end)
                if rec.tracing:
                    for track in self.track_names:
                        rec.interval(track, node.name, first, c_end - first, {"image": image, "patches": run})
                if k == n:
                    ctl.layer_done(li, image)
                if c_end > env.now:
                    yield env.timeout(c_end - env.now)
            if not n:
                ctl.layer_done(li, image)

    def finish(self, tile_stats: list) -> None:
        """Per-tile action counts (MVM passes, DAC and ADC conversions) and busy cycles."""
        for stats, (rows, cols) in zip(tile_stats, self.blocks):
            if stats is not self.stats:
                stats.busy, stats.stalled = self.stats.busy, self.stats.stalled
            stats.count("mvms", self.mvms)
            stats.count("mvm_passes", self.passes)
            stats.count("dac_conversions", self.passes * rows)
            stats.count("adc_conversions", self.passes * cols)
