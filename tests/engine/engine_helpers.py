"""Shared helpers of the engine tests: small workloads and chips with nothing else limiting."""

from __future__ import annotations

from archsim.compiler import compile_program
from archsim.spec import load_hardware, load_run

# everything but the analog tiles made (practically) infinitely fast
UNCONSTRAINED = ["digital.ops_per_cycle=1000000", "interconnect.link_bandwidth=100TB/s",
                 "interconnect.hop_latency=0ns", "buffers.tile.write_bandwidth=100TB/s",
                 "buffers.digital.read_bandwidth=100TB/s", "buffers.digital.write_bandwidth=100TB/s",
                 "buffers.io.read_bandwidth=100TB/s", "buffers.io.write_bandwidth=100TB/s"]

ONE_CONV = """
schema_version: 1
name: one_conv
input: {shape: [4, 16, 16]}
layers:
  - {name: conv1, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
mapping:
  strategy: none
"""


def program(workload, hardware="tiny", hw_overrides=(), seed=0):
    return compile_program(workload, load_hardware(hardware, list(hw_overrides)), seed)


def settings(images=1, **kwargs):
    return load_run(None, [f"images={images}"] + [f"{k}={v}" for k, v in kwargs.items()])
