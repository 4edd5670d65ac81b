"""The Program: the compiler's output and the only contract between the compiler, the
timing engine and the functional model. Plain frozen data, no behaviour beyond queries.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.compiler.assignment import Assignment
from archsim.spec.hardware import HardwareSpec
from archsim.spec.workload import Layer, Shape, Workload

Node = tuple[int, int]  # (x, y) position on the interconnect


@dataclass(frozen=True)
class Block:
    """One array's share of a kernel matrix: rows [row_start, row_stop), cols [col_start, col_stop)."""

    row_start: int
    row_stop: int
    col_start: int
    col_stop: int

    @property
    def rows(self) -> int:
        return self.row_stop - self.row_start

    @property
    def cols(self) -> int:
        return self.col_stop - self.col_start


@dataclass(frozen=True)
class AnalogMapping:
    """How one conv2d/linear layer sits on tiles.

    The kernel matrix (matrix_rows x matrix_cols; rows = k*k*c_in (+1 bias row), cols =
    c_out) is cut into row blocks x col blocks, one array each; row blocks produce
    partial sums that a digital unit adds. The whole set of blocks is replicated
    `replicas` times; `tiles[r][b]` is the physical tile of block b of replica r.
    """

    matrix_rows: int
    matrix_cols: int
    bias_row: bool
    row_blocks: int
    col_blocks: int
    blocks: tuple[Block, ...]            # row-major over (row block, col block)
    replicas: int
    tiles: tuple[tuple[int, ...], ...]   # [replica][block] -> physical tile index
    out_hw: tuple[int, int]              # output positions (1, 1) for linear layers
    assignment: Assignment
    sequential_mvms: int                 # MVMs per image on the busiest replica
    utilisation: float                   # used cells / cells of the tiles holding one replica

    @property
    def patches(self) -> int:
        return self.out_hw[0] * self.out_hw[1]

    @property
    def tiles_per_replica(self) -> int:
        return len(self.blocks)

    def data_rows(self, block: Block | None = None) -> int:
        """The input (data) rows of `block`, or of the whole matrix (None): its rows less the
        bias row, which takes no input element."""
        if block is None:
            return self.matrix_rows - (1 if self.bias_row else 0)
        return block.rows - (1 if self.bias_row and block.row_stop == self.matrix_rows else 0)


@dataclass(frozen=True)
class LayerPlan:
    """One node of the network graph as the chip runs it."""

    name: str
    op: str
    spec: Layer
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    analog: AnalogMapping | None   # None: computed by a digital unit
    digital_unit: int              # the digital unit doing this layer's digital work
    digital_ops: int               # digital element operations per image


@dataclass(frozen=True)
class ChipLayout:
    """Where every physical component sits on the interconnect (snake order on the mesh)."""

    cols: int
    rows: int
    io_node: Node
    tile_nodes: tuple[Node, ...]
    digital_nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Program:
    """A workload compiled for a chip with a seed."""

    workload: Workload
    hardware: HardwareSpec
    seed: int
    layers: tuple[LayerPlan, ...]
    layout: ChipLayout

    def layer(self, name: str) -> LayerPlan:
        for plan in self.layers:
            if plan.name == name:
                return plan
        raise KeyError(name)

    @property
    def analog_layers(self) -> tuple[LayerPlan, ...]:
        return tuple(p for p in self.layers if p.analog is not None)

    @property
    def tiles_used(self) -> int:
        return sum(p.analog.replicas * p.analog.tiles_per_replica for p in self.analog_layers)

    @property
    def tiles_available(self) -> int:
        return self.hardware.tiles.count

    @property
    def weight_blowup(self) -> float:
        """Tiles used over the tiles of the same network with one replica per layer."""
        single = sum(p.analog.tiles_per_replica for p in self.analog_layers)
        return self.tiles_used / single if single else 1.0

    def acceleration(self) -> dict[str, float]:
        """Both definitions of models.md section 1, against one replica per layer."""
        patches = [p.analog.patches for p in self.analog_layers]
        sequential = [p.analog.sequential_mvms for p in self.analog_layers]
        if not patches:
            return {"pipelined": 1.0, "sequential": 1.0}
        return {"pipelined": max(patches) / max(sequential), "sequential": sum(patches) / sum(sequential)}
