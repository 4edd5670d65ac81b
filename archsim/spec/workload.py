"""The workload spec: a network as a graph of layers, its data, and how to map it.

Layers are listed in a topological order; each names its `inputs` (by default the
layer before it), so residual networks are graphs, not chains. Shapes are (C, H, W)
for feature maps and (N,) for flat vectors, without the batch dimension.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal, Union

from archsim.spec.schema import spec_field

Shape = tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class _Node:
    """What every layer has: a unique name and the layers it reads."""

    name: str = spec_field(doc="unique layer name", nonempty=True)
    inputs: tuple[str, ...] = spec_field((), doc="names of input layers (default: the layer before)")


@dataclass(frozen=True, kw_only=True)
class Conv2d(_Node):
    """2D convolution; lowered to a kernel matrix of k*k*c_in (+1 bias) rows and c_out columns."""

    op: Literal["conv2d"] = "conv2d"
    out_channels: int = spec_field(doc="output channels", ge=1)
    kernel: int = spec_field(doc="kernel size k (square k x k)", ge=1)
    stride: int = spec_field(1, doc="stride", ge=1)
    padding: int = spec_field(0, doc="zero padding on each side", ge=0)
    bias: bool = spec_field(True, doc="whether the layer has a bias")


@dataclass(frozen=True, kw_only=True)
class Linear(_Node):
    """Fully connected layer on a flat input."""

    op: Literal["linear"] = "linear"
    out_features: int = spec_field(doc="output features", ge=1)
    bias: bool = spec_field(True, doc="whether the layer has a bias")


@dataclass(frozen=True, kw_only=True)
class _Pool(_Node):
    kernel: int = spec_field(doc="window size k", ge=1)
    stride: int = spec_field(0, doc="stride (0 = the kernel size)", ge=0)
    padding: int = spec_field(0, doc="padding on each side", ge=0)


@dataclass(frozen=True, kw_only=True)
class MaxPool(_Pool):
    """Max pooling over k x k windows (padded values never win)."""

    op: Literal["maxpool"] = "maxpool"


@dataclass(frozen=True, kw_only=True)
class AvgPool(_Pool):
    """Average pooling over k x k windows (padding counts as zeros)."""

    op: Literal["avgpool"] = "avgpool"


@dataclass(frozen=True, kw_only=True)
class ReLU(_Node):
    """Rectified linear activation."""

    op: Literal["relu"] = "relu"


@dataclass(frozen=True, kw_only=True)
class BatchNorm(_Node):
    """Batch normalisation (per channel scale and shift at inference)."""

    op: Literal["batchnorm"] = "batchnorm"
    eps: float = spec_field(1e-5, doc="variance epsilon", gt=0)


@dataclass(frozen=True, kw_only=True)
class Add(_Node):
    """Element-wise sum of two or more inputs of the same shape (residual connection)."""

    op: Literal["add"] = "add"


@dataclass(frozen=True, kw_only=True)
class Flatten(_Node):
    """Flatten a (C, H, W) feature map into a vector (C-major, like numpy reshape)."""

    op: Literal["flatten"] = "flatten"


Layer = Union[Conv2d, Linear, MaxPool, AvgPool, ReLU, BatchNorm, Add, Flatten]
MATRIX_OPS = ("conv2d", "linear")


class Strategy(str, enum.Enum):
    """How a replicated layer's patches are divided among its replicas (models.md section 1)."""

    RANDOM = "random"          # balanced random permutation, redrawn per image
    IMAGE = "image"            # contiguous blocks of the output image
    ALTERNATE = "alternate"    # periodic interleave, neighbours on different replicas
    PERFORATED = "perforated"  # ONE kernel matrix (one replica's tiles) computes 1/n of the patches
    NONE = "none"              # no replication: every replica count is 1


class BiasPlacement(str, enum.Enum):
    ANALOG = "analog"    # an extra array row driven with a constant input
    DIGITAL = "digital"  # added by the digital unit


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """The network input."""

    shape: tuple[int, int, int] = spec_field(doc="input shape (channels, height, width)")

    def check(self):
        if min(self.shape) < 1:
            yield ("shape",), f"must hold three sizes >= 1, not {list(self.shape)}"


@dataclass(frozen=True, kw_only=True)
class DatasetRef:
    """Where the data lives; `path` is relative to the workload file."""

    name: str = spec_field(doc="dataset name, e.g. fashion-mnist, mnist, cifar10, cifar100", nonempty=True)
    path: str = spec_field("", doc="directory or file (empty: search the standard places)")


@dataclass(frozen=True, kw_only=True)
class MappingSpec:
    """How the network is laid onto tiles."""

    replicas: Union[tuple[int, ...], dict[str, int], Literal["auto"]] = spec_field(
        (), doc="replicas per analog layer: a list in layer order, a mapping name: count "
                "(unlisted layers get 1), or auto (balance under tile_budget); perforated: "
                "the perforation factor n")
    tile_budget: int = spec_field(0, doc="tiles available to `auto` (0 = all tiles of the chip)", ge=0)
    strategy: Strategy = spec_field(Strategy.RANDOM, doc="patch assignment among replicas")
    digital: tuple[str, ...] = spec_field((), doc="conv2d/linear layers computed digitally, not on tiles")
    bias: BiasPlacement = spec_field(BiasPlacement.ANALOG, doc="bias as an array row, or added digitally")


@dataclass(frozen=True, kw_only=True)
class Workload:
    """A network, its input, optional data and weights, and its mapping."""

    schema_version: Literal[1] = spec_field(doc="version of this spec format (1)")
    name: str = spec_field(doc="short name of the network", nonempty=True)
    notes: str = spec_field("", doc="free text: source of the architecture, deviations")
    input: InputSpec = spec_field(doc="network input")
    layers: tuple[Layer, ...] = spec_field(doc="layers in a topological order", nonempty=True)
    dataset: Union[DatasetRef, None] = spec_field(None, doc="dataset reference (optional)")
    weights: str = spec_field("", doc=".npz weights file relative to the workload (optional)")
    mapping: MappingSpec = spec_field(default_factory=MappingSpec, doc="mapping onto the chip")
    base_dir: str = field(default="", init=False, compare=False)  # where relative paths start

    def input_lists(self) -> list[tuple[str, ...]]:
        """Each layer's inputs, in layer order, with the default (the previous layer) filled in."""
        previous = ["input"] + [layer.name for layer in self.layers[:-1]]
        return [layer.inputs or (prev,) for layer, prev in zip(self.layers, previous)]

    def layer_inputs(self) -> dict[str, tuple[str, ...]]:
        """Each layer's inputs by layer name (names are unique once the workload is valid)."""
        return {layer.name: ins for layer, ins in zip(self.layers, self.input_lists())}

    def analog_layers(self) -> list[Conv2d | Linear]:
        """conv2d and linear layers that are mapped onto tiles, in layer order."""
        digital = set(self.mapping.digital)
        return [l for l in self.layers if l.op in MATRIX_OPS and l.name not in digital]

    def check(self):
        yield from check_graph(self)


def _window_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def layer_output_shape(layer: Layer, in_shapes: list[Shape]) -> Shape:
    """Output shape of `layer`; ValueError (path suffix, message) when inputs do not fit."""
    shape = in_shapes[0]
    if layer.op == "add":
        if len(in_shapes) < 2:
            raise ValueError(("inputs",), "must name two or more layers to add")
        if any(s != shape for s in in_shapes):
            raise ValueError(("inputs",), "must all have the same shape, got "
                             + ", ".join(str(list(s)) for s in in_shapes))
        return shape
    if len(in_shapes) != 1:
        raise ValueError(("inputs",), f"must name exactly one layer for {layer.op}, not {len(in_shapes)}")
    if layer.op in ("relu", "batchnorm"):
        return shape
    if layer.op == "flatten":
        size = 1
        for s in shape:
            size *= s
        return (size,)
    if layer.op == "linear":
        if len(shape) != 1:
            raise ValueError(("inputs",), f"needs a flat input but gets shape {list(shape)}; "
                                          "insert a flatten layer before it")
        return (layer.out_features,)
    if len(shape) != 3:
        raise ValueError(("inputs",), f"needs a (channels, height, width) input, not {list(shape)}")
    c, h, w = shape
    stride = layer.stride or layer.kernel
    if layer.op != "conv2d" and layer.padding > layer.kernel // 2:
        raise ValueError(("padding",), f"must be at most half the kernel ({layer.kernel // 2}), "
                                       f"not {layer.padding}")
    if layer.kernel > h + 2 * layer.padding or layer.kernel > w + 2 * layer.padding:
        raise ValueError(("kernel",), f"{layer.kernel} is larger than the padded input "
                                      f"{h + 2 * layer.padding}x{w + 2 * layer.padding}")
    oh, ow = (_window_out(h, layer.kernel, stride, layer.padding),
              _window_out(w, layer.kernel, stride, layer.padding))
    return (layer.out_channels if layer.op == "conv2d" else c, oh, ow)


def infer_shapes(workload: Workload) -> dict[str, Shape]:
    """Output shape of every layer (and of 'input'); assumes `check_graph` passed."""
    shapes: dict[str, Shape] = {"input": tuple(workload.input.shape)}
    inputs = workload.layer_inputs()
    for layer in workload.layers:
        shapes[layer.name] = layer_output_shape(layer, [shapes[i] for i in inputs[layer.name]])
    return shapes


def check_graph(workload: Workload):
    """Names, edges, shapes and mapping references, as (path, message) problems."""
    seen: dict[str, int] = {}
    shapes: dict[str, Shape] = {"input": tuple(workload.input.shape)}
    for i, (layer, layer_inputs) in enumerate(zip(workload.layers, workload.input_lists())):
        where = ("layers", i)
        if layer.name == "input":
            yield where + ("name",), "must not be 'input' (that name is the network input)"
            continue
        if layer.name in seen:
            yield where + ("name",), f"'{layer.name}' is already the name of layers[{seen[layer.name]}]"
            continue
        missing = [n for n in layer_inputs if n not in shapes and n not in seen]
        for n in missing:
            if any(l.name == n for l in workload.layers):
                yield where + ("inputs",), f"names '{n}', which comes later; list layers in a topological order"
            else:
                yield where + ("inputs",), (f"names '{n}', which is not a layer; earlier layers are: "
                                            f"{', '.join(['input', *seen])}")
        if missing or any(n not in shapes for n in layer_inputs):  # already reported upstream
            seen[layer.name] = i
            continue
        seen[layer.name] = i
        try:
            shapes[layer.name] = layer_output_shape(layer, [shapes[n] for n in layer_inputs])
        except ValueError as exc:
            suffix, message = exc.args
            yield where + suffix, message
    yield from _check_mapping(workload, seen)


def _check_mapping(workload: Workload, index: dict[str, int]):
    matrix = [l.name for l in workload.layers if l.op in MATRIX_OPS]
    for j, name in enumerate(workload.mapping.digital):
        if name not in matrix:
            yield ("mapping", "digital", j), (f"names '{name}', which is not a conv2d or linear layer; "
                                              f"those are: {', '.join(matrix)}")
    analog = [l.name for l in workload.analog_layers()]
    replicas = workload.mapping.replicas
    if isinstance(replicas, tuple) and replicas:
        if len(replicas) != len(analog):
            yield ("mapping", "replicas"), (f"lists {len(replicas)} counts but there are {len(analog)} "
                                            f"analog layers ({', '.join(analog)})")
        for j, n in enumerate(replicas):
            if n < 1:
                yield ("mapping", "replicas", j), f"must be an integer >= 1, not {n}"
    elif isinstance(replicas, dict):
        for name, n in replicas.items():
            if name not in analog:
                yield ("mapping", "replicas", name), (f"is not an analog layer; analog layers are: "
                                                      f"{', '.join(analog)}")
            elif n < 1:
                yield ("mapping", "replicas", name), f"must be an integer >= 1, not {n}"
    if workload.mapping.tile_budget and replicas != "auto":
        yield ("mapping", "tile_budget"), "is only used with replicas: auto"
