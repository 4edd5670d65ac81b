"""The chip's physical layout and where the compiler puts each layer's tiles."""

from __future__ import annotations

import math

from archsim.compiler.program import ChipLayout, Node
from archsim.spec.hardware import HardwareSpec


def _sign(v: int) -> int:
    return (v > 0) - (v < 0)


def _hilbert(x: int, y: int, ax: int, ay: int, bx: int, by: int, out: list[Node]) -> None:
    """Fill the rectangle at (x, y) spanned by the major axis (ax, ay) and the minor axis
    (bx, by) with a Hilbert-like walk: split it in two halves along a long major axis,
    else in three parts (down the minor half, along the major axis, back up), each
    walked recursively so that consecutive cells stay neighbours."""
    w, h = abs(ax + ay), abs(bx + by)
    dax, day, dbx, dby = _sign(ax), _sign(ay), _sign(bx), _sign(by)
    if h == 1 or w == 1:  # a single row or column
        n, dx, dy = (w, dax, day) if h == 1 else (h, dbx, dby)
        out.extend((x + i * dx, y + i * dy) for i in range(n))
        return
    ax2, ay2, bx2, by2 = ax // 2, ay // 2, bx // 2, by // 2
    if 2 * w > 3 * h:
        if abs(ax2 + ay2) % 2 and w > 2:  # keep the halves even so the walk can turn
            ax2, ay2 = ax2 + dax, ay2 + day
        _hilbert(x, y, ax2, ay2, bx, by, out)
        _hilbert(x + ax2, y + ay2, ax - ax2, ay - ay2, bx, by, out)
        return
    if abs(bx2 + by2) % 2 and h > 2:
        bx2, by2 = bx2 + dbx, by2 + dby
    _hilbert(x, y, bx2, by2, ax2, ay2, out)
    _hilbert(x + bx2, y + by2, ax, ay, bx - bx2, by - by2, out)
    _hilbert(x + (ax - dax) + (bx2 - dbx), y + (ay - day) + (by2 - dby), -bx2, -by2, -(ax - ax2), -(ay - ay2), out)


def curve(cols: int, rows: int) -> list[Node]:
    """Every (x, y) of a cols x rows mesh in the order of a generalised Hilbert curve:
    consecutive positions are neighbours (up to rare diagonal steps on odd sizes) and any
    run of consecutive positions forms a compact region, so a layer's replicas sit
    together around their digital unit."""
    out: list[Node] = []
    if cols >= rows:
        _hilbert(0, 0, cols, 0, 0, rows, out)
    else:
        _hilbert(0, 0, 0, rows, cols, 0, out)
    return out


def chip_layout(hw: HardwareSpec) -> ChipLayout:
    """The I/O buffer first, then the tiles along a Hilbert curve with a digital unit after
    every ceil(tiles / digital units) tiles, so every tile has a digital unit a few hops away."""
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
    rows = -(-nodes // cols)
    walk = curve(cols, rows)
    where = {item: walk[k] for k, item in enumerate(order)}
    return ChipLayout(cols=cols, rows=rows, io_node=where[("io", 0)],
                      tile_nodes=tuple(where[("tile", t)] for t in range(tiles)),
                      digital_nodes=tuple(where[("digital", i)] for i in range(digital)))


def nearest(nodes: tuple[Node, ...], points: list[Node]) -> int:
    """Index of the node with the least total Manhattan distance to `points`."""
    return min(range(len(nodes)),
               key=lambda i: sum(abs(nodes[i][0] - x) + abs(nodes[i][1] - y) for x, y in points))
