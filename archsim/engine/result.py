"""What a timing simulation returns: plain data, and JSON-ready views of it.

Energy is not recorded during the simulation: components record action counts, and
energy = counts x the spec's per-action energies is computed here (`energy(table)`
takes any `Energy` table, so a new table needs no new simulation). Area is the sum of
the spec's component areas over the whole chip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from archsim.spec.hardware import Area, Energy, HardwareSpec

# action count -> field of the Energy table (energy per action)
# training steps also record update_pulses (one pulse on a whole array; archsim.engine.training)
ENERGY_OF_ACTION = (("mvm_passes", "mvm"), ("dac_conversions", "dac_conversion"),
                    ("adc_conversions", "adc_conversion"), ("bytes_read", "buffer_read"),
                    ("bytes_written", "buffer_write"), ("link_bytes", "link"), ("digital_ops", "digital_op"),
                    ("update_pulses", "update_pulse"))
COUNT_COLUMNS = ("mvms", "mvm_passes", "dac_conversions", "adc_conversions", "digital_ops", "vectors",
                 "bytes_read", "bytes_written", "transfers", "flits", "link_bytes")
BOTTLENECK_KINDS = ("tile", "digital", "link", "buffer")
_TRACE_PIDS = (("tile", 1, "analog tiles"), ("digital", 2, "digital units"), ("link", 3, "interconnect"))


@dataclass(frozen=True)
class ComponentRecord:
    """One component's activity over the whole run (cycles) and its action counts."""

    name: str
    kind: str
    busy_cycles: int
    stalled_cycles: int
    idle_cycles: int
    utilisation: float
    counts: dict[str, int]
    info: dict[str, Any] = field(default_factory=dict)

    def energy_j(self, table: Energy) -> float:
        return sum(self.counts.get(action, 0) * getattr(table, name) for action, name in ENERGY_OF_ACTION)


@dataclass(frozen=True)
class LayerRecord:
    """One layer: its mapping and when it ran for the first image (cycles)."""

    name: str
    op: str
    kind: str                 # analog | digital
    digital_unit: int
    replicas: int
    tiles: int
    patches: int              # output positions
    mvms_per_image: int       # MVMs per image over all replicas (computed patches)
    sequential_mvms: int      # MVMs per image on the busiest replica
    t_mvm_cycles: int         # closed-form MVM period on this layer's tiles (0: digital)
    digital_ops: int          # per image
    start_cycle: int          # first image: first MVM or vector started (-1: never)
    end_cycle: int            # first image: last MVM or vector finished
    spans: tuple[tuple[int, int], ...] = ()   # (start, end) of every image


@dataclass(frozen=True)
class Acceleration:
    """Against the same network with one replica per layer, simulated by the same engine.

    pipelined: steady-state throughput ratio; sequential: single-image latency ratio
    (the engine overlaps layers through line buffers, so this is not the closed form's
    layers-one-after-another figure); closed_form: models.md section 1 on the Program.
    """

    pipelined: float
    sequential: float
    closed_form: dict[str, float]
    baseline_latency_cycles: int
    baseline_throughput_images_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"pipelined": self.pipelined, "sequential": self.sequential, "closed_form": dict(self.closed_form),
                "baseline_latency_cycles": self.baseline_latency_cycles,
                "baseline_throughput_images_per_s": self.baseline_throughput_images_per_s}


def chip_area(hw: HardwareSpec) -> float:
    """Sum of the spec's component areas (m^2) over the whole chip."""
    a: Area = hw.area
    kib = (hw.tiles.count * hw.buffers.tile.capacity + hw.digital.count * hw.buffers.digital.capacity
           + hw.buffers.io.capacity) / 1024
    routers = 1 + hw.tiles.count + hw.digital.count   # one router (or bus interface) per node
    return (hw.tiles.count * (a.tile + hw.tiles.adc.count * a.adc) + hw.digital.count * a.digital_unit
            + kib * a.buffer_per_kib + routers * a.router)


@dataclass(frozen=True)
class TimingResult:
    """The timing simulation of one Program."""

    workload: str
    hardware: str
    fidelity: str
    images: int
    seed: int
    clock_hz: float
    cycles: int                                # makespan: last image done
    admitted_cycles: tuple[int, ...]           # per image
    done_cycles: tuple[int, ...]               # per image: output in the I/O buffer
    layers: tuple[LayerRecord, ...]
    components: tuple[ComponentRecord, ...]
    energy_table: Energy
    static_power_w: float
    ops_per_image: float                       # 2 x MACs of every computed MVM + digital ops
    area_m2: float
    events: int                                # simpy events processed
    wall_s: float
    intervals: tuple = ()                      # (track, label, start, duration, args)
    trace_kinds: dict[str, str] = field(default_factory=dict)
    trace_truncated: bool = False
    acceleration: Acceleration | None = None

    # ------------------------------------------------------------ timing
    @property
    def latency_per_image_cycles(self) -> tuple[int, ...]:
        return tuple(d - a for a, d in zip(self.admitted_cycles, self.done_cycles))

    @property
    def latency_cycles(self) -> int:
        """Latency of the first image (admitted into an empty chip)."""
        return self.latency_per_image_cycles[0]

    @property
    def latency_s(self) -> float:
        return self.latency_cycles / self.clock_hz

    @property
    def interval_cycles(self) -> float:
        """Steady-state cycles between image completions, over the second half of the run.

        With n images done at d_0 <= ... <= d_{n-1}: (d_{n-1} - d_m) / (n - 1 - m) with
        m = (n - 1) // 2, so the pipeline's fill is left out; one image: its latency.
        """
        done = sorted(self.done_cycles)
        if len(done) < 2:
            return float(self.latency_cycles)
        m = (len(done) - 1) // 2
        return (done[-1] - done[m]) / (len(done) - 1 - m)

    @property
    def throughput_images_per_s(self) -> float:
        interval = self.interval_cycles
        return self.clock_hz / interval if interval > 0 else math.inf

    @property
    def bottleneck(self) -> ComponentRecord:
        """The busiest tile, digital unit, link or buffer port over the run."""
        candidates = [c for c in self.components if c.kind in BOTTLENECK_KINDS]
        return max(candidates, key=lambda c: (c.busy_cycles, c.kind == "tile"))

    # ------------------------------------------------------------ energy
    def energy(self, table: Energy | None = None) -> dict[str, float]:
        """Joules over the whole run per component kind, plus 'static' and 'total'."""
        table = table or self.energy_table
        out: dict[str, float] = {}
        for c in self.components:
            out[c.kind] = out.get(c.kind, 0.0) + c.energy_j(table)
        out["static"] = table.static_power * self.cycles / self.clock_hz
        out["total"] = sum(out.values())
        return out

    def energy_per_image_j(self, table: Energy | None = None) -> float:
        return self.energy(table)["total"] / self.images

    @property
    def tops(self) -> float:
        return self.ops_per_image * self.throughput_images_per_s / 1e12

    def tops_per_w(self, table: Energy | None = None) -> float:
        energy = self.energy_per_image_j(table)
        return self.ops_per_image / energy / 1e12 if energy > 0 else math.inf

    # ------------------------------------------------------------ views
    def summary(self) -> dict[str, Any]:
        """The summary.json document."""
        bottleneck = self.bottleneck
        energy = self.energy()
        per_image = {k: v / self.images for k, v in energy.items()}
        return {
            "workload": self.workload, "hardware": self.hardware, "fidelity": self.fidelity,
            "images": self.images, "seed": self.seed, "clock_hz": self.clock_hz,
            "latency_cycles": self.latency_cycles, "latency_s": self.latency_s,
            "latency_per_image_cycles": list(self.latency_per_image_cycles),
            "interval_cycles": self.interval_cycles,
            "throughput_images_per_s": self.throughput_images_per_s,
            "acceleration": self.acceleration.to_dict() if self.acceleration else None,
            "energy_per_image_j": per_image["total"], "energy_breakdown_per_image_j": per_image,
            "tops": self.tops, "tops_per_w": self.tops_per_w(), "area_m2": self.area_m2,
            "ops_per_image": self.ops_per_image,
            "bottleneck": bottleneck.name, "bottleneck_kind": bottleneck.kind,
            "bottleneck_layer": bottleneck.info.get("layer", ""),
            "bottleneck_utilisation": bottleneck.utilisation,
            "cycles": self.cycles, "events": self.events, "wall_s": self.wall_s,
            "trace_truncated": self.trace_truncated,
        }

    def layer_rows(self) -> list[dict[str, Any]]:
        """layers.csv: one dict per layer (cycles of the first image)."""
        rows = []
        for layer in self.layers:
            row = {k: v for k, v in layer.__dict__.items() if k != "spans"}
            row["duration_cycles"] = (layer.end_cycle - layer.start_cycle) if layer.start_cycle >= 0 else 0
            rows.append(row)
        return rows

    def component_rows(self) -> list[dict[str, Any]]:
        """components.csv: one dict per component, the same keys in every row."""
        table = self.energy_table
        rows = []
        for c in self.components:
            row = {"name": c.name, "kind": c.kind, "layer": c.info.get("layer", ""),
                   "busy_cycles": c.busy_cycles, "stalled_cycles": c.stalled_cycles,
                   "idle_cycles": c.idle_cycles, "utilisation": c.utilisation}
            row.update({k: c.counts.get(k, 0) for k in COUNT_COLUMNS})
            row["capacity_bytes"] = c.info.get("capacity_bytes", 0)
            row["peak_bytes"] = c.info.get("peak_bytes", 0)
            row["energy_j"] = c.energy_j(table)
            rows.append(row)
        return rows

    def trace(self) -> dict[str, Any]:
        """Chrome trace-event JSON (opens in Perfetto): one track per tile, digital unit and link."""
        us = 1e6 / self.clock_hz
        pids = {kind: (pid, label) for kind, pid, label in _TRACE_PIDS}
        events: list[dict[str, Any]] = []
        tids: dict[str, tuple[int, int]] = {}
        for kind, (pid, label) in pids.items():
            events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": label}})
        for track, label, start, duration, args in self.intervals:
            if track not in tids:
                pid = pids.get(self.trace_kinds.get(track, "link"), (3, ""))[0]
                tids[track] = (pid, len(tids) + 1)
                events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tids[track][1],
                               "args": {"name": track}})
            pid, tid = tids[track]
            event = {"ph": "X", "name": label, "pid": pid, "tid": tid, "ts": start * us, "dur": duration * us}
            if args:
                event["args"] = args
            events.append(event)
        return {"traceEvents": events, "displayTimeUnit": "ns",
                "otherData": {"workload": self.workload, "hardware": self.hardware, "clock_hz": self.clock_hz,
                              "truncated": self.trace_truncated}}


def component_records(recorder, cycles: int) -> list[ComponentRecord]:
    """Every recorded component's busy / stalled / idle split over a run of `cycles`."""
    out = []
    for s in recorder.components.values():
        busy = min(s.busy, cycles)
        stalled = min(s.stalled, cycles - busy)
        out.append(ComponentRecord(name=s.name, kind=s.kind, busy_cycles=busy, stalled_cycles=stalled,
                                   idle_cycles=cycles - busy - stalled, utilisation=busy / cycles,
                                   counts=dict(s.counts), info=dict(s.info)))
    return out
