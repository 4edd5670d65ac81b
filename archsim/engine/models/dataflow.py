"""The position-level dataflow graph of a Program: who reads which output position.

Every layer's output is a set of positions (the h x w spatial positions of a feature
map, or one position for a flat vector); a position is one vector of `channels`
elements and, on the wire and in buffers, `channels` bytes (8-bit activations: the
engine assumes one byte per element everywhere, including partial sums).

An edge (producer -> consumer) says, for every consumer position, which producer
positions it reads (its window), and the reverse. This gives line-buffer semantics:
a consumer position may start once every position it reads has been produced, and a
producer position may leave its buffer once every reader has read it. For a
perforated analog layer only the computed positions read inputs; the others are
copied from their nearest computed neighbour when it is produced.

Element-wise layers with one input (relu, batchnorm) whose producer feeds nothing
else and sits on the same digital unit are fused into the producer's vector: the
unit applies them to the vector it is processing (their operations are added to its
work) and the intermediate vector is never stored. `chain` lists a node and the
layers fused into it; `tail` is the last of them, whose output is what others read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from archsim.compiler.program import LayerPlan, Program

_SPATIAL = ("conv2d", "maxpool", "avgpool")
_ELEMENTWISE = ("relu", "batchnorm", "add")


@dataclass(eq=False)
class Edge:
    """Producer `src` feeds consumer `dst`; `window[p]` are the src positions dst position p reads."""

    src: "LayerNode"
    dst: "LayerNode"
    window: list[list[int]]
    readers: list[list[int]]
    identity: bool = False  # position p reads exactly src position p
    wlen: np.ndarray | None = None  # len(window[p]) per dst position
    rlen: np.ndarray | None = None  # len(readers[q]) per src position


@dataclass(eq=False)
class LayerNode:
    """One layer (or the network input) at the granularity of output positions."""

    index: int
    name: str
    op: str
    plan: LayerPlan | None            # None for the network input
    positions: int
    channels: int                      # bytes per position vector
    unit: int | None                   # digital unit doing its digital work (None: the input)
    ops: int = 0                       # digital element operations per position
    inputs: list[Edge] = field(default_factory=list)
    consumers: list[Edge] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)   # per position: input positions it reads
    computed: list[int] | None = None  # analog: positions computed by an MVM
    fill: dict[int, list[int]] = field(default_factory=dict)  # perforated: source -> copies
    fused_into: "LayerNode | None" = None  # the element-wise layer applied within this node's vectors
    chain: list["LayerNode"] = field(default_factory=list)  # self + fused layers, in order
    chain_ops: int = 0                 # operations per position over the chain
    win_ptr: np.ndarray | None = None  # analog: CSR of the input windows (positions read per patch)
    win_idx: np.ndarray | None = None
    static_reads: np.ndarray | None = None  # per position: readers that are digital layers

    @property
    def tail(self) -> "LayerNode":
        return self.chain[-1] if self.chain else self

    @property
    def analog(self):
        return self.plan.analog if self.plan is not None else None

    @property
    def sink(self) -> bool:
        return self.plan is not None and not self.consumers


def _size(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _positions(shape) -> int:
    return shape[1] * shape[2] if len(shape) == 3 else 1


def window_map(h_in: int, w_in: int, h_out: int, w_out: int, kernel: int, stride: int,
               padding: int) -> list[list[int]]:
    """Input positions (raster order) read by each output position of a k x k window op."""
    def valid(n_out, n_in):
        return [[r for r in range(o * stride - padding, o * stride - padding + kernel) if 0 <= r < n_in]
                for o in range(n_out)]
    rows, cols = valid(h_out, h_in), valid(w_out, w_in)
    return [[r * w_in + c for r in rows[i] for c in cols[j]] for i in range(h_out) for j in range(w_out)]


def invert(window: list[list[int]], n_src: int) -> list[list[int]]:
    """For every source position, the positions whose windows hold it."""
    readers: list[list[int]] = [[] for _ in range(n_src)]
    for p, w in enumerate(window):
        for q in w:
            readers[q].append(p)
    return readers


class _Windows:
    """Window maps, their inverses and sizes, shared between edges of the same geometry."""

    def __init__(self):
        self.cache: dict[tuple, tuple] = {}

    def _lengths(self, window, readers):
        return (np.fromiter(map(len, window), np.int64, len(window)),
                np.fromiter(map(len, readers), np.int64, len(readers)))

    def spatial(self, key: tuple, n_src: int, only: list[int] | None) -> tuple:
        full_key = ("window",) + key + (None if only is None else tuple(only),)
        found = self.cache.get(full_key)
        if found is None:
            window = window_map(*key)
            if only is not None:
                keep = set(only)
                window = [w if p in keep else [] for p, w in enumerate(window)]
            readers = invert(window, n_src)
            found = self.cache[full_key] = (window, readers, *self._lengths(window, readers))
        return found

    def identity(self, n: int) -> tuple:
        found = self.cache.get(("identity", n))
        if found is None:
            ident = [[p] for p in range(n)]
            ones = np.ones(n, np.int64)
            found = self.cache[("identity", n)] = (ident, ident, ones, ones)
        return found

    def gather(self, n_src: int) -> tuple:
        found = self.cache.get(("gather", n_src))
        if found is None:
            window, readers = [list(range(n_src))], [[0] for _ in range(n_src)]
            found = self.cache[("gather", n_src)] = (window, readers, *self._lengths(window, readers))
        return found


def _edge(src: LayerNode, dst: LayerNode, plan: LayerPlan, windows: _Windows) -> Edge:
    layer = plan.spec
    only = dst.computed if dst.fill else None
    if plan.op in _SPATIAL and len(plan.in_shapes[0]) == 3:
        _, h_in, w_in = plan.in_shapes[0]
        _, h_out, w_out = plan.out_shape
        stride = layer.stride or layer.kernel
        window, readers, wlen, rlen = windows.spatial(
            (h_in, w_in, h_out, w_out, layer.kernel, stride, layer.padding), src.positions, only)
        return Edge(src, dst, window, readers, wlen=wlen, rlen=rlen)
    if plan.op == "flatten" or dst.positions == 1:
        window, readers, wlen, rlen = windows.gather(src.positions)
        return Edge(src, dst, window, readers, identity=src.positions == 1, wlen=wlen, rlen=rlen)
    if src.positions != dst.positions:
        raise ValueError(f"layer '{plan.name}' ({plan.op}): cannot map {src.positions} input positions "
                         f"onto {dst.positions} output positions")
    window, readers, wlen, rlen = windows.identity(dst.positions)
    return Edge(src, dst, window, readers, identity=True, wlen=wlen, rlen=rlen)


def build_graph(program: Program) -> list[LayerNode]:
    """The layers of `program` (index 0 is the network input) with their position edges."""
    shape = tuple(program.workload.input.shape)
    io = LayerNode(0, "input", "input", None, _positions(shape), shape[0], None)
    nodes = {"input": io}
    order = [io]
    windows = _Windows()
    for plan in program.layers:
        positions = _positions(plan.out_shape)
        channels = _size(plan.out_shape) // positions
        node = LayerNode(len(order), plan.name, plan.op, plan, positions, channels, plan.digital_unit)
        analog = plan.analog
        if analog is not None:
            owner = analog.assignment.replica_of(0)
            node.computed = [p for p in range(positions) if owner[p] >= 0]
            fill_from = analog.assignment.fill_from
            if fill_from is not None:
                for p, src in enumerate(fill_from.tolist()):
                    if p != src:
                        node.fill.setdefault(src, []).append(p)
        node.ops = plan.digital_ops // positions if positions else 0
        for name in plan.inputs:
            edge = _edge(nodes[name], node, plan, windows)
            node.inputs.append(edge)
            nodes[name].consumers.append(edge)
        node.waits = sum(e.wlen for e in node.inputs).tolist()
        nodes[plan.name] = node
        order.append(node)
    for node in order[1:]:
        edge = node.inputs[0] if len(node.inputs) == 1 else None
        src = edge.src if edge else None
        if (node.analog is None and node.op in ("relu", "batchnorm") and edge is not None and edge.identity
                and src.index > 0 and src.unit == node.unit and len(src.consumers) == 1):
            src.fused_into = node
    for node in order:
        node.static_reads = sum((e.rlen for e in node.consumers if e.dst.analog is None),
                                np.zeros(node.positions, np.int64))
        chain, link = [node], node.fused_into
        while link is not None:
            chain.append(link)
            link = link.fused_into
        node.chain = chain
        node.chain_ops = sum(n.ops for n in chain)
        if node.analog is not None:
            edge = node.inputs[0]
            node.win_ptr = np.concatenate([[0], np.cumsum(edge.wlen)]).astype(np.int64)
            node.win_idx = np.fromiter((q for w in edge.window for q in w), np.int64, int(edge.wlen.sum()))
    return order
