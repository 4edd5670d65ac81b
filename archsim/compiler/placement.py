"""The chip's physical layout and where the compiler puts each layer's tiles."""

from __future__ import annotations

import math

from archsim.compiler.program import ChipLayout, Node
from archsim.spec.hardware import HardwareSpec


def snake(k: int, cols: int) -> Node:
    """Position k of a boustrophedon walk over a mesh `cols` wide: k and k+1 are neighbours."""
    y, x = divmod(k, cols)
    return (x if y % 2 == 0 else cols - 1 - x, y)


def chip_layout(hw: HardwareSpec) -> ChipLayout:
    """The I/O buffer first, then the tiles in snake order with a digital unit after every
    ceil(tiles / digital units) tiles, so every tile has a digital unit a few hops away."""
    tiles, digital = hw.tiles.count, hw.digital.count
    nodes = 1 + tiles + digital
    cols = hw.interconnect.mesh_cols or math.ceil(math.sqrt(nodes))
    stride = -(-tiles // digital)
    order: list[tuple[str, int]] = [("io", 0)]
    d = 0
    for t in range(tiles):
        order.append(("tile", t))
        if (t + 1) % stride == 0 and d < digital:
            order.append(("digital", d))
            d += 1
    order.extend(("digital", i) for i in range(d, digital))
    where = {item: snake(k, cols) for k, item in enumerate(order)}
    return ChipLayout(cols=cols, rows=-(-nodes // cols), io_node=where[("io", 0)],
                      tile_nodes=tuple(where[("tile", t)] for t in range(tiles)),
                      digital_nodes=tuple(where[("digital", i)] for i in range(digital)))


def nearest(nodes: tuple[Node, ...], points: list[Node]) -> int:
    """Index of the node with the least total Manhattan distance to `points`."""
    return min(range(len(nodes)),
               key=lambda i: sum(abs(nodes[i][0] - x) + abs(nodes[i][1] - y) for x, y in points))
