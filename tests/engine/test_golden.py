"""Golden regression: the engine's results on preset workloads are pinned.

`golden_engine.json` holds, for several workload / hardware / run-setting cases, the
summary (timing, throughput, acceleration, energy, bottleneck), every layer's spans
and a digest of every component's integer results (busy and stalled cycles, action
counts, peak bytes), and for traced cases a digest of the trace intervals. It was
written by the engine before its hot paths were optimised, so any change to the
engine that alters a simulated result fails here: integers must match exactly, floats
to 1e-12 relative (summation order may differ). `events` and `wall_s` describe how
the engine ran, not what it computed, and are not compared.

Regenerate (only for an intended change of the timing model, saying why in the
commit):  python tests/engine/test_golden.py --write
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import pytest

from archsim.compiler import compile_program
from archsim.engine import simulate
from archsim.spec import load_hardware, load_run, load_workload

GOLDEN = Path(__file__).with_name("golden_engine.json")
NOT_COMPARED = ("events", "wall_s")

# (id, workload, hardware, run overrides, simulate() keyword arguments)
CASES = [
    ("rapa32-rpu", "rapa_convnet_32", "rpu", ["images=2"], {}),
    ("rapa32-standard_aimc", "rapa_convnet_32", "standard_aimc", ["images=6"], {}),
    ("rapa32-hermes", "rapa_convnet_32", "hermes", ["images=2"], {}),
    ("resnet32-rpu", "resnet32", "rpu", ["images=2"], {}),
    ("resnet32-standard_aimc", "resnet32", "standard_aimc", ["images=1"], {}),
    ("resnet32-hermes", "resnet32", "hermes", ["images=1"], {}),
    ("vgg8-rpu", "vgg8", "rpu", ["images=2"], {}),
    ("vgg8-standard_aimc", "vgg8", "standard_aimc", ["images=2"], {}),
    ("lenet-rpu", "lenet", "rpu", ["images=3"], {}),
    ("lenet-standard_aimc", "lenet", "standard_aimc", ["images=3"], {}),
    ("lenet-hermes", "lenet", "hermes", ["images=3"], {}),
    ("lenet-tiny", "lenet", "tiny", ["images=3"], {"trace": True}),
    ("rapa32-rpu-traced", "rapa_convnet_32", "rpu", ["images=2"], {"trace": True, "baseline": False}),
    ("rapa32-rpu-sampled", "rapa_convnet_32", "rpu", ["images=2", "seed=3"],
     {"passes": "sampled", "baseline": False}),
    ("rapa32-rpu-aggregated", "rapa_convnet_32", "rpu", ["images=3", "fidelity=aggregated"], {}),
    ("resnet32-standard_aimc-aggregated", "resnet32", "standard_aimc", ["images=2", "fidelity=aggregated"],
     {"baseline": False}),
    ("vgg8-rpu-aggregated", "vgg8", "rpu", ["images=2", "fidelity=aggregated"], {"baseline": False}),
    ("lenet-tiny-aggregated", "lenet", "tiny", ["images=4", "fidelity=aggregated"], {"trace": True}),
]


def _digest(rows) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def record(workload: str, hardware: str, overrides: list[str], kwargs: dict) -> dict:
    """What the golden file keeps of one simulation."""
    program = compile_program(load_workload(workload), load_hardware(hardware))
    kwargs = {"trace": False, **kwargs}
    result = simulate(program, load_run(None, overrides), **kwargs)
    summary = result.summary()
    components = sorted(
        [c.name, c.kind, c.busy_cycles, c.stalled_cycles, sorted(c.counts.items()),
         c.info.get("peak_bytes", 0)] for c in result.components)
    out = {"summary": summary, "done_cycles": list(result.done_cycles),
           "admitted_cycles": list(result.admitted_cycles),
           "layers": [[layer.name, layer.t_mvm_cycles, [list(s) for s in layer.spans]] for layer in result.layers],
           "components": len(components), "component_digest": _digest(components),
           "busy_by_kind": {}}
    for c in result.components:
        out["busy_by_kind"][c.kind] = out["busy_by_kind"].get(c.kind, 0) + c.busy_cycles
    if kwargs.get("trace"):
        out["trace_digest"] = _digest(sorted(map(repr, result.intervals)))
        out["trace_intervals"] = len(result.intervals)
    return out


def _same(expected, actual, path: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(expected) == set(actual), f"{path}: keys differ"
        for key in expected:
            if key not in NOT_COMPARED:
                _same(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{path}: lengths differ"
        for i, (e, a) in enumerate(zip(expected, actual)):
            _same(e, a, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert isinstance(actual, (int, float)) and (
            actual == expected or math.isclose(actual, expected, rel_tol=1e-12)), f"{path}: {actual} != {expected}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_engine_results_match_the_golden_file(case, golden):
    name, workload, hardware, overrides, kwargs = case
    actual = json.loads(json.dumps(record(workload, hardware, overrides, kwargs)))
    _same(golden[name], actual, name)


def write() -> None:
    cases = []
    for name, w, h, o, k in CASES:
        fields = record(w, h, o, k)
        body = ",\n".join(f"  {json.dumps(key)}: {json.dumps(fields[key], sort_keys=True)}" for key in sorted(fields))
        cases.append(f" {json.dumps(name)}: {{\n{body}\n }}")
    GOLDEN.write_text("{\n" + ",\n".join(cases) + "\n}\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    write()
