"""Speed of the timing engine against bare simpy, measured in one process.

Each repetition measures, back to back:
- a bare simpy `yield env.timeout(1)` loop: events per second, run by `env.run()`
  (simpy's limit, the engine's baseline) and stepped by a loop like the engine's runner;
- simpy's own ceiling for components that wait on each other: a producer process
  (`timeout(1)`) handing items to a consumer process through plain events it triggers,
  and through a `simpy.Store`, no model code, stepped like the engine's runner and
  compared with the stepped bare loop (the same counting);
- the engine (exact fidelity, no trace, no single-replica baseline run, one image) on
  ResNet-32 (replicas auto on rpu) and on the RAPA ConvNet with 1024 replicas of its
  first layer (rpu): simpy events per second of the simulation loop, and wall time of
  one `simulate()` call (building the chip and assembling the result included).
The machines are shared and noisy, so every figure is the median over the repetitions
and engine/simpy ratios are taken within a repetition; the load average is printed
before and after, and CPU time (`process_time`) beside wall time, as CPU time suffers
less from other jobs. For reference it also times ResNet-32 with the baseline run that
`result.acceleration` needs (what `archsim run` does).

The last line is machine-readable:
    engine_over_simpy=<median over repetitions of min(resnet32, rapa1024) engine events/s
    over bare simpy events/s> resnet32_s=<median wall s> rapa1024_s=<median wall s>
    event_handoff_over_stepped=<median of the plain-event handoff's events/s over the stepped
    bare loop's> store_handoff_over_stepped=<the same for the Store handoff>
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import simpy

from archsim.compiler import compile_program
from archsim.engine import simulate
from archsim.spec import load_hardware, load_run, load_workload

REPEATS = 5


def bare_simpy(n: int = 200_000, stepped: bool = False) -> float:
    """Events per second of the simplest simpy process: run by `env.run()` (simpy's own
    limit), or stepped and counted like the engine's runner (`_count_steps`)."""
    def proc(env):
        for _ in range(n):
            yield env.timeout(1)
    env = simpy.Environment()
    env.process(proc(env))
    if stepped:
        return _count_steps(env)
    start = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - start)


def _count_steps(env: simpy.Environment) -> float:
    """Events per second of stepping env to the end, counted like the engine's runner."""
    step, peek, events = env.step, env.peek, 0
    start = time.perf_counter()
    while peek() != float("inf"):
        step()
        events += 1
    return events / (time.perf_counter() - start)


def simpy_handoff(n: int = 100_000, store: bool = False) -> float:
    """Events per second of two processes handing n items over, with no model code: through
    plain events the producer triggers (the cheapest way processes wait on each other), or
    through a simpy.Store."""
    env = simpy.Environment()
    if store:
        box = simpy.Store(env, capacity=1)

        def producer():
            for i in range(n):
                yield env.timeout(1)
                yield box.put(i)

        def consumer():
            for _ in range(n):
                yield box.get()
    else:
        slot = [env.event()]

        def producer():
            for i in range(n):
                yield env.timeout(1)
                ready, slot[0] = slot[0], env.event()
                ready.succeed(i)

        def consumer():
            for _ in range(n):
                yield slot[0]
    env.process(producer())
    env.process(consumer())
    return _count_steps(env)


def engine(program, baseline: bool = False) -> tuple[float, float, int, float]:
    """(wall s of simulate(), events per s of its simulation loop, events, CPU s) for one image."""
    start, cpu = time.perf_counter(), time.process_time()
    result = simulate(program, load_run(None, ["images=1"]), baseline=baseline, trace=False)
    return (time.perf_counter() - start, result.events / result.wall_s, result.events,
            time.process_time() - cpu)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    rpu = load_hardware("rpu")
    programs = {"resnet32": compile_program(load_workload("resnet32"), rpu),
                "rapa1024": compile_program(load_workload("rapa_convnet_32", ["mapping.replicas={conv1: 1024}"]),
                                            rpu)}
    print(load())
    runs: dict[str, list] = {name: [] for name in ("bare", "stepped", *programs, "resnet32+baseline")}
    ratios, handoff, store = [], [], []
    for _ in range(REPEATS):
        bare, stepped = bare_simpy(), bare_simpy(stepped=True)
        runs["bare"].append(bare)
        runs["stepped"].append(stepped)
        handoff.append(simpy_handoff() / stepped)
        store.append(simpy_handoff(store=True) / stepped)
        for name, program in programs.items():
            runs[name].append(engine(program))
        ratios.append(min(runs[name][-1][1] for name in programs) / bare)
        runs["resnet32+baseline"].append(engine(programs["resnet32"], baseline=True))
    print(f"bare simpy: {statistics.median(runs['bare']):,.0f} events/s by env.run(), "
          f"{statistics.median(runs['stepped']):,.0f} stepped; handoff with no model code through "
          f"plain events: {' '.join(f'{r:.3f}' for r in handoff)} of the stepped loop, through a Store: "
          f"{' '.join(f'{r:.3f}' for r in store)}")
    wall = {}
    for name in (*programs, "resnet32+baseline"):
        walls = [r[0] for r in runs[name]]
        wall[name] = statistics.median(walls)
        eps = statistics.median(r[1] for r in runs[name])
        cpu = [r[3] for r in runs[name]]
        print(f"{name}: {wall[name]:.3f} s wall (min {min(walls):.3f}), {statistics.median(cpu):.3f} s CPU "
              f"(min {min(cpu):.3f}), {runs[name][0][2]:,} events, {eps:,.0f} events/s")
    print(f"engine/simpy per repetition: {' '.join(f'{r:.3f}' for r in ratios)}; {load()}")
    ratio = statistics.median(ratios)
    print(f"engine_over_simpy={ratio:.3f} resnet32_s={wall['resnet32']:.3f} rapa1024_s={wall['rapa1024']:.3f} "
          f"event_handoff_over_stepped={statistics.median(handoff):.3f} "
          f"store_handoff_over_stepped={statistics.median(store):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
