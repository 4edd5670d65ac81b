"""SRAM buffers: a capacity and a read and a write port, each with its own bandwidth.

Capacity is a pool of byte credits (`Credits`): a producer that wants to put data
into a full buffer waits for space (backpressure), it never drops data. A buffer may
be split into regions (`region`), each a pool of its own, as a compiler partitions a
digital unit's buffer among the layers it keeps. The ports
are first-come-first-served timelines in the network's port array, so transfers
into or out of one buffer contend for its bandwidth. Data sizes assume one byte per
element (8-bit I/O).
"""

from __future__ import annotations

import simpy

from archsim.engine.core import Clock, Credits, Meter, Recorder, Stats
from archsim.engine.models.interconnect import Network
from archsim.spec.hardware import Buffer as BufferSpec


class Buffer:
    """One SRAM buffer (passive: other components reserve its ports and space)."""

    kind = "buffer"

    def __init__(self, env: simpy.Environment, name: str, spec: BufferSpec, clock: Clock, recorder: Recorder,
                 network: Network, **info):
        self.name = name
        self.env = env
        self.capacity = int(spec.capacity)
        self.meter = Meter()
        self.space = Credits(env, name, self.capacity, self.meter)
        self.read = network.add_buffer_port(f"{name}.read", spec.read_bandwidth, clock)
        self.write = network.add_buffer_port(f"{name}.write", spec.write_bandwidth, clock)
        self.stats: Stats = recorder.register(name, self.kind, capacity_bytes=int(spec.capacity), **info)
        self.read_bytes = 0     # bytes read by the owner's own datapath (not through the read port)
        self.write_bytes = 0
        self.read_busy = 0      # cycles the owner's datapath used the read port (tile staging)
        self.held_peak = 0      # most bytes held as a line buffer (tile buffers; see linebuffer.py)

    def region(self, label: str, capacity: int) -> Credits:
        """A region of this buffer with its own capacity (its use counts towards the buffer's)."""
        return Credits(self.env, f"{self.name}[{label}]", capacity, self.meter)

    def finish(self, totals: dict[int, tuple[int, int, int, int]]) -> None:
        """Move the hot-path counters and the port totals into the recorder."""
        s = self.stats
        _, _, read_busy, read_bytes = totals.get(self.read, (0, 0, 0, 0))
        _, _, write_busy, write_bytes = totals.get(self.write, (0, 0, 0, 0))
        read_busy += self.read_busy
        s.busy = max(read_busy, write_busy)
        s.count("bytes_read", read_bytes + self.read_bytes)
        s.count("bytes_written", write_bytes + self.write_bytes)
        s.info["peak_bytes"] = max(self.meter.peak, self.held_peak)
        s.info["read_busy_cycles"] = read_busy
        s.info["write_busy_cycles"] = write_busy
