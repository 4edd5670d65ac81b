"""Wiring a chip for a Program: buffer partitions and the tile groups of every layer.

Buffer partition. A digital unit's buffer is split as a compiler would split it:
1/8 (at least two of the largest vectors it receives) is an inbox for vectors
arriving from tiles; the rest is one line buffer per layer whose output the unit
keeps. Each line buffer gets that output for one image plus a proportional share of
what is left, or, if the outputs do not fit, the most its reader reads at once plus
a share of the rest in proportion to what it lacks. Separate line buffers per layer
mean a consumer's outputs never wait for space its own inputs occupy, so a too-small
buffer slows the producer instead of deadlocking (unless one line buffer cannot hold
what its reader needs before it can release anything: a real deadlock, reported).
An analog layer's gates are the line buffers its results pass through on its unit
(its own and those of digital layers downstream on the same unit): a tile hands an
output over only when all of them have room.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.engine.core import Credits, SimulationError
from archsim.engine.models.tile import TileGroup


@dataclass
class BufferPlan:
    """Where produced data is kept and what gates each analog layer's hand-overs."""

    region_of: list          # per layer: the Credits its kept positions use (None: not kept)
    inboxes: list[Credits]   # per digital unit: room for vectors arriving from tiles
    gates: list[list]        # per analog layer: line buffers that must have room
    held_of: list[int]       # per analog layer: bytes one output keeps in its line buffer


def line_buffer_sizes(buf, nodes: list, available: int) -> list[int]:
    """Split `available` bytes among the line buffers of `nodes` (see the module docstring)."""
    if not nodes:
        return []
    need = [node.positions * node.channels for node in nodes]
    floor = [max(int(e.wlen.max()) for e in node.consumers) * node.channels for node in nodes]
    if sum(need) <= available:
        extra = available - sum(need)
        return [n + extra * n // sum(need) for n in need]
    if sum(floor) > available:
        worst = max(range(len(nodes)), key=lambda i: floor[i])
        raise SimulationError(f"{buf.name}: {available} bytes cannot hold the line buffers of "
                              f"{', '.join(n.name for n in nodes)}: they need at least {sum(floor)} bytes "
                              f"(layer '{nodes[worst].name}' alone {floor[worst]})")
    spare = available - sum(floor)
    gap = [n - f for n, f in zip(need, floor)]
    return [f + spare * g // sum(gap) for f, g in zip(floor, gap)]


def partition_buffers(graph: list, chip) -> BufferPlan:
    """Inbox and line-buffer regions of every digital unit's buffer."""
    n = len(graph)
    region_of: list = [None] * n
    region_of[0] = chip.io_buffer.space          # the input image waits in the I/O buffer
    kept: dict[int, list] = {}
    for node in graph[1:]:
        if node.consumers and node.fused_into is None:
            kept.setdefault(node.unit, []).append(node)
    largest = [0] * len(chip.unit_buffers)      # the largest vector a tile hands to each unit
    for node in graph:
        if node.analog is not None:
            a = node.analog
            largest[node.unit] = max(largest[node.unit], a.matrix_cols * a.row_blocks)
    inboxes = []
    for unit, buf in enumerate(chip.unit_buffers):
        inbox = max(buf.capacity // 8, 2 * largest[unit])
        inboxes.append(buf.region("inbox", inbox))
        nodes = kept.get(unit, [])
        for node, size in zip(nodes, line_buffer_sizes(buf, nodes, buf.capacity - inbox)):
            region_of[node.index] = buf.region(node.name, size)
    gates: list[list] = [[] for _ in range(n)]
    held_of = [0] * n
    for node in graph:
        if node.analog is None:
            continue
        tail = node.chain[-1]
        held_of[node.index] = tail.channels if region_of[tail.index] is not None else 0
        seen, todo = set(), [tail]
        while todo:
            x = todo.pop()
            if x.index in seen:
                continue
            seen.add(x.index)
            if region_of[x.index] is not None:
                gates[node.index].append(region_of[x.index])
            for edge in x.consumers:
                if edge.dst.analog is None and edge.dst.unit == node.unit:
                    todo.append(edge.dst.chain[-1])
    return BufferPlan(region_of, inboxes, gates, held_of)


def line_buffer_positions(chip, tiles, shares, data: int) -> int:
    """The most input positions a replica's tile buffers hold (its line-buffer limit): their
    smallest capacity over what one position brings to the most loaded of them (`shares`:
    bytes per position for each tile, of `data` input elements per patch)."""
    per_position = max(max(1, -(-share // data)) for share in shares)
    return min(chip.tile_buffers[t].capacity for t in tiles) // per_position


def position_multiplicity(graph) -> list:
    """Per layer: None, or for a perforated layer, 1 + the positions copied from each position."""
    return [[1 + len(node.fill.get(p, ())) for p in range(node.positions)] if node.fill else None
            for node in graph]


def build_tile_groups(ctl, node, run_length: int) -> tuple[list[TileGroup], int]:
    """The tile groups (one per replica) of analog layer `node`, and the most input positions
    a replica's tile buffers hold (its line-buffer limit)."""
    chip, hw, net = ctl.chip, ctl.chip.hw, ctl.chip.network
    analog = node.analog
    src = node.inputs[0].src
    src_buf, src_xy = ctl.buf_of[src.index], ctl.xy_of[src.index]
    unit_buf, unit_xy = ctl.buf_of[node.index], ctl.xy_of[node.index]
    cells = hw.tiles.mapping.cells_per_weight()
    data = analog.data_rows()   # input elements per patch
    groups = []
    for r, tiles in enumerate(analog.tiles):
        blocks, fetch, out = [], [], []
        for b, t in enumerate(tiles):
            block = analog.blocks[b]
            rows = analog.data_rows(block)
            blocks.append((block.rows, block.cols * cells))
            tile_buf = chip.tile_buffers[t]
            if tile_buf.capacity < rows:
                raise SimulationError(f"{tile_buf.name}: its {tile_buf.capacity} bytes cannot hold one "
                                      f"{rows}-byte input vector of layer '{node.name}'")
            # a fetched position brings src.channels x rows / data bytes to this tile
            fetch.append((net.route(src_buf.read, src_xy, chip.tile_nodes[t], tile_buf.write),
                          rows * src.channels, tile_buf))
            out.append((net.route(None, chip.tile_nodes[t], unit_xy, unit_buf.write), block.cols))
        timing = chip.group_timing(blocks)
        group = TileGroup(ctl.env, f"tile{tiles[0]}", ctl.recorder, ctl=ctl, node=node, replica=r, tiles=tiles,
                          blocks=blocks, timing=timing, passes_per_mvm=hw.tiles.noise.input_slices,
                          prefetch=timing.double_buffered, run_length=run_length, fetch_paths=fetch, out_paths=out,
                          data_rows=data)
        # what the exact hot path needs, looked up once
        group.out_plans = tuple(ctl.plan(route, nbytes) for route, nbytes in out)
        group.src_index, group.src_channels = src.index, src.channels
        group.hand_over_one = (ctl.inboxes_space[node.unit], group.out_bytes, ctl.held_of[node.index],
                               ctl.mult_of[node.index], tuple(ctl.gates[node.index]),
                               ctl.region_of[node.chain[-1].index])
        groups.append(group)
    return groups, line_buffer_positions(chip, analog.tiles[0], [share for _, share, _ in groups[0].fetch_paths], data)


def digital_inputs(ctl, node) -> tuple:
    """Per input of digital layer `node`: (source layer, window, bytes per source position,
    whether the source sits in another buffer, the route from there, transfer plans by size,
    the unit's buffer, the source's line buffer)."""
    if not node.inputs:
        return ()
    here = ctl.chip.unit_buffers[node.unit]
    out = []
    for edge in node.inputs:
        src = edge.src
        src_buf = ctl.buf_of[src.index]
        remote = src_buf is not here
        route = (ctl.net.route(src_buf.read, ctl.xy_of[src.index], ctl.chip.unit_nodes[node.unit], here.write)
                 if remote else None)
        out.append((src.index, edge.window, src.channels, remote, route, {}, here, ctl.region_of[src.index]))
    return tuple(out)
