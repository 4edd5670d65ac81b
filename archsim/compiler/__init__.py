"""The workload compiler: a pure function from (workload, hardware, seed) to a Program.

No simulation, no I/O, no randomness except what the seed determines. Stages:
lower conv/linear layers to kernel matrices and array blocks, choose replica counts,
assign patches to replicas, place tiles on the chip, count digital work.
"""

from __future__ import annotations

from archsim.compiler.assignment import Assignment, make_assignment
from archsim.compiler.lowering import digital_work, kernel_matrix, output_positions, split_blocks
from archsim.compiler.placement import chip_layout, nearest
from archsim.compiler.program import AnalogMapping, Block, ChipLayout, LayerPlan, Program
from archsim.compiler.replication import balance_replicas
from archsim.errors import CompileError
from archsim.spec.hardware import HardwareSpec
from archsim.spec.workload import BiasPlacement, Strategy, Workload, infer_shapes

__all__ = ["compile_program", "Program", "LayerPlan", "AnalogMapping", "Block", "ChipLayout",
           "Assignment", "CompileError"]


def _replica_counts(workload: Workload, hw: HardwareSpec, patches: dict[str, int],
                    tiles_per_replica: dict[str, int]) -> dict[str, int]:
    mapping = workload.mapping
    names = list(patches)
    if mapping.replicas == "auto":
        if mapping.strategy is Strategy.NONE:
            return dict.fromkeys(names, 1)
        budget = mapping.tile_budget or hw.tiles.count
        try:
            return balance_replicas(patches, tiles_per_replica, budget)
        except CompileError as exc:
            raise CompileError(f"workload '{workload.name}' on hardware '{hw.name}': {exc}") from None
    if isinstance(mapping.replicas, dict):
        counts = {n: mapping.replicas.get(n, 1) for n in names}
    elif mapping.replicas:
        counts = dict(zip(names, mapping.replicas))
    else:
        counts = dict.fromkeys(names, 1)
    replicated = [n for n, c in counts.items() if c > 1]
    if mapping.strategy is Strategy.NONE and replicated:
        raise CompileError(f"workload '{workload.name}': mapping.strategy is none (no replication) but "
                           f"mapping.replicas asks for more than one replica of {', '.join(replicated)}")
    too_many = [f"{n} ({counts[n]} replicas, {patches[n]} patches)" for n in names if counts[n] > patches[n]]
    if too_many:
        raise CompileError(f"workload '{workload.name}': a layer cannot have more replicas than "
                           f"output patches: {', '.join(too_many)}")
    return counts


def compile_program(workload: Workload, hw: HardwareSpec, seed: int = 0) -> Program:
    """Map `workload` onto `hw`; CompileError says why when it does not fit."""
    shapes = infer_shapes(workload)
    inputs = workload.layer_inputs()
    array_cols = hw.tiles.cols // hw.tiles.mapping.cells_per_weight()
    if array_cols < 1:
        raise CompileError(f"hardware '{hw.name}': arrays of {hw.tiles.cols} columns cannot hold one weight "
                           f"of {hw.tiles.mapping.cells_per_weight()} cells ({hw.tiles.mapping.representation.value})")
    bias_analog = workload.mapping.bias is BiasPlacement.ANALOG

    lowered = {}
    for layer in workload.analog_layers():
        rows, cols, bias_row = kernel_matrix(layer, shapes[inputs[layer.name][0]], bias_analog)
        row_blocks, col_blocks, blocks = split_blocks(rows, cols, hw.tiles.rows, array_cols)
        lowered[layer.name] = (rows, cols, bias_row, row_blocks, col_blocks, blocks,
                               output_positions(layer, shapes[layer.name]))
    patches = {n: v[6][0] * v[6][1] for n, v in lowered.items()}
    replicas = _replica_counts(workload, hw, patches, {n: len(v[5]) for n, v in lowered.items()})

    # each layer's kernel copies are its assignment's replicas (perforation: one, on part of the patches)
    assignments = {n: make_assignment(workload.mapping.strategy, replicas[n], v[6], seed, i)
                   for i, (n, v) in enumerate(lowered.items())}
    needed = {n: assignments[n].replicas * len(v[5]) for n, v in lowered.items()}
    if sum(needed.values()) > hw.tiles.count:
        biggest = sorted(needed.items(), key=lambda kv: -kv[1])[:4]
        detail = ", ".join(f"{n} {t}" for n, t in biggest)
        raise CompileError(f"workload '{workload.name}' does not fit hardware '{hw.name}': it needs "
                           f"{sum(needed.values())} tiles of {hw.tiles.rows}x{hw.tiles.cols} (largest: {detail}) "
                           f"but the chip has {hw.tiles.count}; use fewer replicas, replicas: auto, or a "
                           f"larger chip")

    layout = chip_layout(hw)
    available_ops = set(hw.digital.operations)
    plans, next_tile, unit_of = [], 0, {"input": nearest(layout.digital_nodes, [layout.io_node])}
    for layer in workload.layers:
        in_shapes = tuple(shapes[i] for i in inputs[layer.name])
        analog = None
        row_blocks, bias_row = 1, False
        if layer.name in lowered:
            rows, cols, bias_row, row_blocks, col_blocks, blocks, out_hw = lowered[layer.name]
            assignment = assignments[layer.name]
            n = assignment.replicas
            tiles = tuple(tuple(range(next_tile + r * len(blocks), next_tile + (r + 1) * len(blocks)))
                          for r in range(n))
            next_tile += n * len(blocks)
            cells = sum(b.rows * b.cols for b in blocks) * hw.tiles.mapping.cells_per_weight()
            analog = AnalogMapping(
                matrix_rows=rows, matrix_cols=cols, bias_row=bias_row, row_blocks=row_blocks,
                col_blocks=col_blocks, blocks=blocks, replicas=n, tiles=tiles, out_hw=out_hw,
                assignment=assignment, sequential_mvms=assignment.max_load(),
                utilisation=cells / (len(blocks) * hw.tiles.rows * hw.tiles.cols))
            unit = nearest(layout.digital_nodes, [layout.tile_nodes[t] for r in tiles for t in r])
        else:
            unit = unit_of[inputs[layer.name][0]]
        unit_of[layer.name] = unit
        ops, needs = digital_work(layer, list(in_shapes), shapes[layer.name], analog is not None,
                                  row_blocks, bias_row)
        missing = sorted(op.value for op in needs - available_ops)
        if missing:
            raise CompileError(f"layer '{layer.name}' ({layer.op}) needs the digital operation(s) "
                               f"{', '.join(missing)}, which hardware '{hw.name}' does not list in "
                               f"digital.operations")
        plans.append(LayerPlan(name=layer.name, op=layer.op, spec=layer, inputs=inputs[layer.name],
                               in_shapes=in_shapes, out_shape=shapes[layer.name], analog=analog,
                               digital_unit=unit, digital_ops=ops))
    return Program(workload=workload, hardware=hw, seed=seed, layers=tuple(plans), layout=layout)
