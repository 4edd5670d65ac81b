"""Execute a compiled Program's network graph in numpy: forward, backward, parameters.

Conv and linear layers follow the Program's mapping exactly: each image's patches are
divided among the layer's replicas by its Assignment (random tiling redraws per image
id), each replica multiplies its own patches with its own kernel matrix, and
perforated layers compute only their assigned patches and copy the rest from the
nearest computed one. The per-replica product is pluggable (`ReplicaProduct`), so the
analog model runs the same path with programmed tiles in place of a float GEMM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from archsim.compiler.program import LayerPlan, Program
from archsim.nn import functional as F

Params = dict[str, np.ndarray]


class ReplicaProduct(Protocol):
    """Computes the outputs (N, C) of `replica` of layer `plan` for its patches (N, R).

    `kernel` is (R, C), or (R + 1, C) when its last row is the bias row, which the
    array drives with a constant input of 1. A product with `takes_patch_rows = True`
    may get a conv layer's patches as `devices.inputs.PatchRows` (not yet gathered)
    when no backward pass follows.
    """

    def __call__(self, plan: LayerPlan, replica: int, patches: np.ndarray, kernel: np.ndarray) -> np.ndarray: ...


def digital_product(plan: LayerPlan, replica: int, patches: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    r = patches.shape[1]
    return patches @ kernel[:r] + kernel[r] if kernel.shape[0] == r + 1 else patches @ kernel


def param_shapes(program: Program, replicated: bool = False) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes; `replicated` gives replicated layers one weight per replica."""
    shapes = {}
    for plan in program.layers:
        spec, name = plan.spec, plan.name
        if plan.op == "conv2d":
            w = (spec.out_channels, plan.in_shapes[0][0], spec.kernel, spec.kernel)
        elif plan.op == "linear":
            w = (spec.out_features, plan.in_shapes[0][0])
        elif plan.op == "batchnorm":
            for p in ("gamma", "beta", "mean", "var"):
                shapes[f"{name}.{p}"] = (plan.out_shape[0],)
            continue
        else:
            continue
        n = plan.analog.replicas if plan.analog else 1
        shapes[f"{name}.weight"] = (n, *w) if replicated and n > 1 else w
        if spec.bias:
            shapes[f"{name}.bias"] = (n, w[0]) if replicated and n > 1 else (w[0],)
    return shapes


def init_params(program: Program, rng: np.random.Generator, replicated: bool = False,
                dtype=np.float32, same_replicas: bool = False) -> Params:
    """He-normal weights (fan-in), zero biases, identity batch norm; replicated weights are
    independent draws per replica, or with `same_replicas` one draw copied to every replica."""
    params = {}
    shared = param_shapes(program)
    for key, shape in param_shapes(program, replicated).items():
        name, kind = key.rsplit(".", 1)
        if kind == "weight":
            fan_in = int(np.prod(shape[-3:])) if program.layer(name).op == "conv2d" else shape[-1]
            draw = shared[key] if same_replicas else shape
            w = rng.standard_normal(draw) * np.sqrt(2.0 / fan_in)
            params[key] = np.broadcast_to(w, shape).astype(dtype)
        elif kind in ("gamma", "var"):
            params[key] = np.ones(shape, dtype)
        else:
            params[key] = np.zeros(shape, dtype)
    return params


@dataclass
class Tape:
    """What the forward pass keeps for the backward pass."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    caches: dict[str, tuple] = field(default_factory=dict)
    running: dict[str, np.ndarray] = field(default_factory=dict)  # updated batch-norm statistics


def _digital_biases(plan: LayerPlan, params: Params, bias_row: bool) -> list[np.ndarray] | None:
    """Per-replica biases added by the digital unit (None when the bias is an array row)."""
    bias = params.get(f"{plan.name}.bias")
    if bias is None or bias_row:
        return None
    n = plan.analog.replicas if plan.analog else 1
    return [bias] * n if bias.ndim == 1 else list(bias)


def _with_bias_grad(dk: np.ndarray, dout: np.ndarray, bias_row: bool) -> np.ndarray:
    """Append the bias row's gradient (its input is the constant 1) to a kernel gradient."""
    return np.vstack([dk, dout.sum(axis=0)[None, :]]) if bias_row else dk


def kernel_matrices(plan: LayerPlan, params: Params) -> list[np.ndarray]:
    """One kernel matrix per replica (shared weights give the same matrix to every replica)."""
    w = params[f"{plan.name}.weight"]
    b = params.get(f"{plan.name}.bias")
    n = plan.analog.replicas if plan.analog else 1
    ndim = 4 if plan.op == "conv2d" else 2
    with_bias = b is not None and (plan.analog is None or plan.analog.bias_row)
    if w.ndim == ndim:
        return [F.kernel_matrix(w, b if with_bias else None)] * n
    return [F.kernel_matrix(w[r], b[r] if with_bias else None) for r in range(n)]


def params_from_kernels(plan: LayerPlan, kernels: list[np.ndarray], params: Params) -> Params:
    """Inverse of `kernel_matrices`: the layer's weight (and its bias, when the bias is an array
    row) in the shapes of `params`, from one matrix per replica laid out like the kernel
    matrix (weights, or anything per weight such as a noise std); shared-weight params take
    the first replica's."""
    name = plan.name
    w = params[f"{name}.weight"]
    ndim = 4 if plan.op == "conv2d" else 2
    shared = w.ndim == ndim
    kernels = kernels[:1] if shared else kernels
    rows = int(np.prod(w.shape[-ndim + 1:]))  # kernel rows without the bias row
    ws = [F.kernel_weight(k[:rows], w.shape[-ndim:]) for k in kernels]
    out = {f"{name}.weight": (ws[0] if shared else np.stack(ws)).astype(w.dtype)}
    bias = params.get(f"{name}.bias")
    if bias is not None and kernels[0].shape[0] > rows:
        bs = [k[rows] for k in kernels]
        out[f"{name}.bias"] = (bs[0] if bias.ndim == 1 else np.stack(bs)).astype(bias.dtype)
    return out


CHUNK_BYTES = 16 * 2**20  # keep large temporaries below glibc's 32 MiB mmap threshold: far faster here


def images_per_chunk(program: Program, budget: int = CHUNK_BYTES) -> int:
    """How many images to process at once so the largest patch matrix stays within `budget` bytes."""
    largest = 1
    for plan in program.layers:
        size = 1
        for s in plan.out_shape:
            size *= s
        if plan.op == "conv2d":
            k = plan.spec.kernel
            size = max(size, plan.out_shape[1] * plan.out_shape[2] * k * k * plan.in_shapes[0][0])
        largest = max(largest, size * 4)
    return max(1, budget // largest)


@dataclass
class PassLog:
    """Analog passes per (image, patch) of each analog layer, for images with id < `keep`
    (the ones the timing engine simulates), and a histogram over all images."""

    keep: int
    per_image: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    histogram: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, layer, image_ids, order, passes, batch, patches) -> None:
        """Record one batch: `passes` of the rows in `order` (uncomputed patches count 1)."""
        flat = np.ones(batch * patches, dtype=np.int16)
        flat[order] = passes
        self._count(layer, np.bincount(flat, minlength=8))
        grid = flat.reshape(batch, patches)
        for i, image in enumerate(image_ids):
            if image < self.keep:
                self.per_image.setdefault(layer, {})[int(image)] = grid[i].copy()

    def merge(self, other: "PassLog") -> None:
        """Add the records of `other` (another share of the same evaluation's images)."""
        for layer, images in other.per_image.items():
            self.per_image.setdefault(layer, {}).update(images)
        for layer, counts in other.histogram.items():
            self._count(layer, counts)

    def _count(self, layer: str, counts: np.ndarray) -> None:
        """Add a histogram of passes (index: passes) to the layer's, the shorter padded."""
        hist = self.histogram.get(layer, np.zeros(0, np.int64))
        size = max(len(hist), len(counts))
        self.histogram[layer] = np.pad(hist, (0, size - len(hist))) + np.pad(counts, (0, size - len(counts)))

    def mean(self) -> dict[str, float]:
        return {k: float((np.arange(len(h)) * h).sum() / max(h.sum(), 1)) for k, h in self.histogram.items()}

    def for_engine(self):
        """The engine's `passes` callable: the measured per-patch counts of each image."""
        def passes(layer: str, image: int, patches: int):
            images = self.per_image.get(layer)  # ids 0..n-1 of the evaluated images
            return images.get(image % len(images), 1) if images else 1
        return passes


class Network:
    """The network of a Program, executable forward and backward in numpy."""

    def __init__(self, program: Program, product: ReplicaProduct = digital_product,
                 pass_log: "PassLog | None" = None, transposed: "TransposedProduct | None" = None):
        self.program = program
        self.product = product
        self.transposed = transposed  # the backward MVMs of analog layers (default: exact, digital)
        self.pass_log = pass_log  # records the analog passes of every (image, patch)
        self.consumers: dict[str, list[str]] = {}
        for plan in program.layers:
            for src in plan.inputs:
                self.consumers.setdefault(src, []).append(plan.name)

    # -- forward -------------------------------------------------------------------------------
    def forward(self, params: Params, x: np.ndarray, image_ids: np.ndarray | None = None,
                train: bool = False, keep: bool = False) -> tuple[np.ndarray, Tape]:
        """Logits for a batch x (B, C, H, W); `image_ids` key random tiling (default 0..B-1)."""
        if image_ids is None:
            image_ids = np.arange(len(x))
        tape = Tape()
        record = train or keep  # a backward pass will follow: keep what it needs
        values = {"input": x}
        remaining = {name: len(c) for name, c in self.consumers.items()}
        for plan in self.program.layers:
            ins = [values[i] for i in plan.inputs]
            values[plan.name] = self._forward_layer(plan, params, ins, image_ids, train, tape if record else None)
            if not record:  # free activations nobody needs any more
                for src in plan.inputs:
                    remaining[src] -= 1
                    if remaining[src] == 0 and src != "input":
                        values.pop(src, None)
        if record:
            tape.values = values
        return values[self.program.layers[-1].name], tape

    def _forward_layer(self, plan, params, ins, image_ids, train, tape):
        """One layer's output; with a `tape` (None: nothing will be differentiated) also what
        its backward pass needs, in tape.caches."""
        spec, x = plan.spec, ins[0]
        caches = tape.caches if tape is not None else {}
        if plan.op in ("conv2d", "linear"):
            y, caches[plan.name] = self._matrix_forward(plan, params, x, image_ids, backward=tape is not None)
            return y
        if plan.op == "relu":
            return np.maximum(x, 0)
        if plan.op == "maxpool":
            y, arg = F.maxpool_forward(x, spec.kernel, spec.stride or spec.kernel, spec.padding, tape is not None)
            caches[plan.name] = (arg, x.shape)
            return y
        if plan.op == "avgpool":
            caches[plan.name] = (x.shape,)
            return F.avgpool_forward(x, spec.kernel, spec.stride or spec.kernel, spec.padding)
        if plan.op == "batchnorm":
            n = plan.name
            y, cache, mean, var = F.batchnorm_forward(x, params[f"{n}.gamma"], params[f"{n}.beta"],
                                                      params[f"{n}.mean"], params[f"{n}.var"], spec.eps, train)
            caches[n] = cache
            if train:
                tape.running[f"{n}.mean"], tape.running[f"{n}.var"] = mean, var
            return y
        if plan.op == "add":
            return sum(ins[1:], ins[0])
        if plan.op == "flatten":
            return x.reshape(len(x), -1)
        raise ValueError(f"unknown op {plan.op}")

    def _patch_source(self, plan, x):
        """(take, runs, b, p, r): take(rows, out=None) gives the patch rows (flat index
        image * p + position) of the layer's input x in that order (None: all, in order),
        written into `out` when given; runs(rows) the same rows not yet gathered
        (`devices.inputs.PatchRows`; conv layers, else None); b images, p patches each, r
        values per patch."""
        if plan.op == "conv2d":
            from archsim.devices.inputs import patch_rows, patch_runs  # here: importing nn must not load numba
            s = plan.spec
            oh, ow = plan.out_shape[1:]
            xp = F.to_nhwc(x, s.padding)  # gathered straight into replica order (no im2col copy)
            return (lambda rows, out=None: patch_rows(xp, rows, s.kernel, s.stride, oh, ow, out),
                    lambda rows: patch_runs(xp, rows, s.kernel, s.stride, oh, ow),
                    len(x), oh * ow, s.kernel * s.kernel * x.shape[1])
        x = np.ascontiguousarray(x)  # (take copies a non-contiguous source on every call)
        return ((lambda rows, out=None: x if rows is None else np.take(x, rows, axis=0, out=out, mode="clip")),
                None, len(x), 1, x.shape[1])

    def _matrix_forward(self, plan, params, x, image_ids, *, backward: bool):
        """The layer's output and what its backward pass needs; when no backward pass
        follows, a product that takes `PatchRows` gets them instead of gathered patches."""
        take, runs, b, p, r = self._patch_source(plan, x)
        kernels = kernel_matrices(plan, params)
        bias_row = kernels[0].shape[0] == r + 1
        c = kernels[0].shape[1]
        biases = _digital_biases(plan, params, bias_row)
        shared = all(k is kernels[0] for k in kernels) and biases is None
        flat = None  # the patch matrix in raster order, kept only where the backward pass reads it
        if plan.analog is None or (shared and self.product is digital_product):
            flat = take(None)
            groups, out = None, digital_product(plan, 0, flat, kernels[0])  # one GEMM, no grouping
        else:
            order, ends = plan.analog.assignment.grouped(image_ids)
            bounds = [(int(lo), int(hi)) for lo, hi in zip([0, *ends[:-1]], ends)]  # each replica's rows
            lazy = runs is not None and not backward and getattr(self.product, "takes_patch_rows", False)
            pending = runs(order) if lazy else None  # every replica's rows, not gathered
            grouped = None if lazy else np.empty((len(order), r), dtype=x.dtype)  # patches sorted by replica
            # rows left out (perforated) are never read: their positions are filled from computed ones
            out = np.empty((b * p, c), dtype=x.dtype)
            passes = np.ones(len(order), np.int16) if self.pass_log is not None else None
            for rep, (lo, hi) in enumerate(bounds):
                if hi > lo:  # gathered right before the replica's MVM, which reads them from cache
                    rows = pending.part(lo, hi) if lazy else take(order[lo:hi], out=grouped[lo:hi])
                    y = self.product(plan, rep, rows, kernels[rep])
                    if passes is not None and getattr(self.product, "last_passes", None) is not None:
                        passes[lo:hi] = self.product.last_passes
                    out[order[lo:hi]] = y if biases is None else y + biases[rep]
            groups = (order, bounds, grouped)
            if passes is not None:
                self.pass_log.add(plan.name, image_ids, order, passes, b, p)
        out = out.reshape(b, p, c)
        fill = plan.analog.assignment.fill_from if plan.analog else None
        if fill is not None:
            out = out[:, fill]
        y = out.transpose(0, 2, 1).reshape(b, c, *plan.out_shape[1:]) if plan.op == "conv2d" else out[:, 0]
        return y, (flat, groups, kernels, x.shape, bias_row, (b, p, r))

    # -- backward ------------------------------------------------------------------------------
    def backward(self, params: Params, tape: Tape, dlogits: np.ndarray, input_grad: bool = False,
                 outer: "OuterUpdate | None" = None) -> Params:
        """Gradients of every parameter given d(loss)/d(logits); with `input_grad` also the
        gradient with respect to the network input, under the key "input".

        With `outer`, analog layers get no weight gradient: each replica's layer inputs x
        (its patches, with the constant-1 column when the bias is an array row) and output
        errors d go to `outer(plan, replica, x, d)` instead (in-situ training updates the
        devices from them); digital biases still get gradients."""
        grads: Params = {}
        upstream = {self.program.layers[-1].name: dlogits}
        dinput = None
        for plan in reversed(self.program.layers):
            dy = upstream.pop(plan.name, None)
            if dy is None:
                continue
            dins = self._backward_layer(plan, params, tape, dy, grads, input_grad, outer)
            for src, d in zip(plan.inputs, dins):
                if d is None:
                    continue
                if src == "input":
                    if input_grad:
                        dinput = d if dinput is None else dinput + d
                    continue
                upstream[src] = upstream[src] + d if src in upstream else d
        if input_grad:
            grads["input"] = dinput if dinput is not None else np.zeros_like(tape.values["input"])
        return grads

    def _backward_layer(self, plan, params, tape, dy, grads, input_grad=False, outer=None):
        spec, name = plan.spec, plan.name
        x = tape.values[plan.inputs[0]]
        if plan.op in ("conv2d", "linear"):
            return [self._matrix_backward(plan, params, tape.caches[name], dy, grads, input_grad, outer)]
        if plan.op == "relu":
            return [dy * (x > 0)]
        if plan.op == "maxpool":
            arg, shape = tape.caches[name]
            return [F.maxpool_backward(dy, arg, shape, spec.kernel, spec.stride or spec.kernel, spec.padding)]
        if plan.op == "avgpool":
            return [F.avgpool_backward(dy, x.shape, spec.kernel, spec.stride or spec.kernel, spec.padding)]
        if plan.op == "batchnorm":
            dx, dgamma, dbeta = F.batchnorm_backward(dy, tape.caches[name])
            grads[f"{name}.gamma"], grads[f"{name}.beta"] = dgamma, dbeta
            return [dx]
        if plan.op == "add":
            return [dy] * len(plan.inputs)
        if plan.op == "flatten":
            return [dy.reshape(x.shape)]
        raise ValueError(f"unknown op {plan.op}")

    def _matrix_backward(self, plan, params, cache, dy, grads, input_grad=False, outer=None):
        flat, groups, kernels, x_shape, bias_row, (b, p, r) = cache
        c = kernels[0].shape[1]
        dout = dy.reshape(b, c, p).transpose(0, 2, 1) if plan.op == "conv2d" else dy[:, None, :]
        fill = plan.analog.assignment.fill_from if plan.analog else None
        if fill is not None:  # each copied output sends its gradient to its source patch
            summed = np.zeros_like(dout)
            np.add.at(summed, (slice(None), fill), dout)
            dout = summed
        dflat = dout.reshape(b * p, c)
        need_dx = input_grad or plan.inputs[0] != "input"
        dkernels, dbiases = [], []
        # an ungrouped forward (one kernel for every patch) is one group in raster order
        order, bounds, grouped = groups if groups is not None else (None, [(0, b * p)], flat)
        dsorted = dflat if order is None else dflat[order]
        dgrouped = np.empty_like(grouped) if need_dx else None
        in_situ = outer is not None and plan.analog is not None  # the devices learn from (x, d)
        for rep, (lo, hi) in enumerate(bounds):
            seg = dsorted[lo:hi]
            if need_dx:  # before the update, as on the chip: backward pass, then update
                if self.transposed is not None and plan.analog is not None and hi > lo:
                    dgrouped[lo:hi] = self.transposed(plan, rep, seg)
                else:
                    np.matmul(seg, kernels[rep][:r].T, out=dgrouped[lo:hi])
            if in_situ:
                xs = grouped[lo:hi]
                outer(plan, rep, np.hstack([xs, np.ones((len(xs), 1), xs.dtype)]) if bias_row else xs, seg)
            else:
                dkernels.append(_with_bias_grad(grouped[lo:hi].T @ seg, seg, bias_row))
            dbiases.append(seg.sum(axis=0))
        if need_dx and order is None:
            dpatches = dgrouped
        elif need_dx:
            dpatches = np.zeros((b * p, r), dtype=dgrouped.dtype)
            dpatches[order] = dgrouped
        w = params[f"{plan.name}.weight"]
        bias = params.get(f"{plan.name}.bias")
        ndim = 4 if plan.op == "conv2d" else 2
        shared = w.ndim == ndim
        if shared:  # one weight for every replica: its gradient sums over them
            dkernels, dbiases = [sum(dkernels)] if dkernels else [], [sum(dbiases)]
        if dkernels:  # (none when the devices learned in situ)
            dws = [F.kernel_weight(dk[:-1] if bias_row else dk, w.shape[-ndim:]) for dk in dkernels]
            grads[f"{plan.name}.weight"] = dws[0] if shared else np.stack(dws)
        if bias is not None and (dkernels or not bias_row):
            dbs = [dk[-1] for dk in dkernels] if bias_row else dbiases
            grads[f"{plan.name}.bias"] = dbs[0] if shared else np.stack(dbs)
        if not need_dx:
            return None
        dpatches = dpatches.reshape(b, p, -1)
        if plan.op == "conv2d":
            s = plan.spec
            return F.col2im(dpatches, x_shape, s.kernel, s.stride, s.padding)
        return dpatches[:, 0]
