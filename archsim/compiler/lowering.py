"""Lowering network layers to kernel matrices, array blocks and digital work."""

from __future__ import annotations

from archsim.compiler.program import Block
from archsim.spec.hardware import DigitalOp
from archsim.spec.workload import Layer, Shape


def kernel_matrix(layer: Layer, in_shape: Shape, bias_analog: bool) -> tuple[int, int, bool]:
    """(rows, cols, bias_row) of a conv2d/linear layer's kernel matrix (im2col layout)."""
    bias_row = bool(layer.bias) and bias_analog
    if layer.op == "conv2d":
        return layer.kernel * layer.kernel * in_shape[0] + bias_row, layer.out_channels, bias_row
    return in_shape[0] + bias_row, layer.out_features, bias_row


def output_positions(layer: Layer, out_shape: Shape) -> tuple[int, int]:
    """(h, w) output positions: one patch (MVM) per position; a linear layer has one."""
    return (out_shape[1], out_shape[2]) if layer.op == "conv2d" else (1, 1)


def split_blocks(rows: int, cols: int, array_rows: int, array_cols: int) -> tuple[int, int, tuple[Block, ...]]:
    """Cut a matrix into blocks that fill arrays (the last row/col block takes the rest)."""
    row_cuts = list(range(0, rows, array_rows)) + [rows]
    col_cuts = list(range(0, cols, array_cols)) + [cols]
    blocks = tuple(Block(r0, r1, c0, c1) for r0, r1 in zip(row_cuts, row_cuts[1:])
                   for c0, c1 in zip(col_cuts, col_cuts[1:]))
    return len(row_cuts) - 1, len(col_cuts) - 1, blocks


def _size(shape: Shape) -> int:
    size = 1
    for s in shape:
        size *= s
    return size


def digital_work(layer: Layer, in_shapes: list[Shape], out_shape: Shape, analog: bool,
                 row_blocks: int, bias_row: bool) -> tuple[int, set[DigitalOp]]:
    """Digital element operations per image, and which operations a digital unit needs."""
    out = _size(out_shape)
    if layer.op in ("conv2d", "linear"):
        ops, needs = 0, set()
        if analog and row_blocks > 1:
            ops += (row_blocks - 1) * out
            needs.add(DigitalOp.ACCUMULATE)
        if not analog:
            fan_in = (layer.kernel ** 2 * in_shapes[0][0]) if layer.op == "conv2d" else in_shapes[0][0]
            ops += fan_in * out
            needs.add(DigitalOp.MAC)
        if layer.bias and not bias_row:
            ops += out
            needs.add(DigitalOp.BIAS)
        return ops, needs
    if layer.op == "relu":
        return out, {DigitalOp.RELU}
    if layer.op == "batchnorm":
        return 2 * out, {DigitalOp.BATCHNORM}
    if layer.op in ("maxpool", "avgpool"):
        op = DigitalOp.MAXPOOL if layer.op == "maxpool" else DigitalOp.AVGPOOL
        return out * layer.kernel * layer.kernel, {op}
    if layer.op == "add":
        return out * (len(in_shapes) - 1), {DigitalOp.ADD}
    return 0, set()  # flatten moves no data
