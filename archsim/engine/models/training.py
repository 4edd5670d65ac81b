"""Training-step timing: the schedule and gradient flow of training steps on one chip.

Per image a training step is the forward pass (as inference), the loss gradient, and the
backward pass in reverse layer order (models.md sections 1 and 6); what the tiles do is
in train_tile.py.

Schedule. Dependencies are per layer and image: a layer's forward starts when all its
inputs are complete, its backward when the gradient of its output is complete (every
consumer's contribution accumulated). Replicas take their ready jobs oldest image
first, so images pipeline through the layers (stale weights, as in any layer-pipelined
training) while at most `window` images are in flight. Transposed-MVM outputs go to the
digital unit of the layer's input, which adds them into the input gradient (col2im, one
add per element). With `overlap_updates` the layer below starts its backward as soon as
that gradient is complete, while this layer's updates run; without it, only after them
(layers one after another). An image is done when every update and every digital
backward item of its step is.

Digital work. A digital layer's forward is one item of its `digital_ops` on its unit; its
backward costs the same again for the input gradient and, for layers with digital
weights (MAC, batchnorm), as much again for their gradient. An analog layer's output
vectors cost their forward digital operations per vector, as in inference; a digital bias
costs its output size backward. The loss gradient costs LOSS_OPS_PER_OUTPUT per output
element on the output layer's unit. A digital layer's input gradient that has to be
summed with others (its input feeds several layers) costs one add per element.

Data. One byte per element. Every layer's output (forward activation and gradient)
lives in its digital unit's buffer, the input image in the I/O buffer; a digital layer
fetches an input kept on another unit whole, and sends its input gradient back whole.
Transfers are booked at simulation time on the inference engine's ports and links, so
contention is modelled. Buffer capacity is not: the activations kept for the backward
pass and the gradients take no buffer space here (no backpressure).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import simpy
from simpy.events import Timeout

from archsim.compiler.program import Program
from archsim.engine.core import Component
from archsim.engine.models.chip import Chip
from archsim.engine.models.linebuffer import plan_fetches
from archsim.engine.models.train_tile import BACKWARD, FORWARD, PHASES, TrainGroup, build_train_groups
from archsim.engine.models.wiring import position_multiplicity

LOSS_OPS_PER_OUTPUT = 3
"""Loss gradient (softmax cross-entropy): exponential, normalisation, minus the one-hot target."""

_PARAMETRIC_DIGITAL = ("conv2d", "linear", "batchnorm")


def gradient_flags(program: Program) -> tuple[dict[str, bool], dict[str, bool]]:
    """Per layer name: whether its output needs a gradient (it or a layer upstream has
    weights), and whether its input does (an analog layer then runs transposed MVMs)."""
    needs: dict[str, bool] = {"input": False}
    input_grad: dict[str, bool] = {}
    for plan in program.layers:
        input_grad[plan.name] = any(needs[i] for i in plan.inputs)
        trainable = plan.analog is not None or plan.op in _PARAMETRIC_DIGITAL
        needs[plan.name] = trainable or input_grad[plan.name]
    return needs, input_grad


def backward_ops(plan, input_grad: bool) -> int:
    """Digital operations of a layer's backward pass per image (see the module docstring)."""
    if plan.analog is not None:
        return math.prod(plan.out_shape) if plan.spec.bias and not plan.analog.bias_row else 0
    return plan.digital_ops * (int(input_grad) + int(plan.op in _PARAMETRIC_DIGITAL))


class _Image:
    """One image in training."""

    __slots__ = ("index", "admitted", "done_at", "inputs_left", "vectors_left", "grad_left", "contrib_left",
                 "work_left", "orders", "fetch")

    def __init__(self, index: int, admitted: int):
        self.index = index
        self.admitted = admitted
        self.done_at = -1


class TrainingController(Component):
    """Admission, per-image dependencies of the training step, and digital work items."""

    kind = "controller"

    def __init__(self, env, name, recorder, *, chip, images: int, window: int, overlap_updates: bool):
        super().__init__(env, name, recorder)
        self.chip = chip
        self.graph = graph = chip.graph
        self.images = images
        self.window = window
        self.overlap = overlap_updates
        self.states: list[_Image | None] = [None] * images
        self.in_flight = 0
        self.done = 0
        self.last_done = 0
        self.room: simpy.Event | None = None
        net = chip.network
        self.book, self.plan, self.route = net.ports.book, net.ports.plan, net.route
        n = len(graph)
        # per phase, layer and image: [first start, last end] (digital layers: forward and backward)
        self.spans = [[[[-1, -1] for _ in range(images)] for _ in range(n)] for _ in PHASES]
        self.buf_of = [chip.io_buffer if node.index == 0 else chip.unit_buffers[node.unit] for node in graph]
        self.xy_of = [chip.io_node if node.index == 0 else chip.unit_nodes[node.unit] for node in graph]
        self.inboxes = [u.inbox for u in chip.units]
        needs, input_grad = gradient_flags(chip.program)
        self.needs = [False] + [needs[node.name] for node in graph[1:]]
        self.input_grad = [False] + [input_grad[node.name] for node in graph[1:]]
        self.transposed = [node.analog is not None and self.input_grad[node.index] for node in graph]
        self.fwd_ops = [0] + [node.plan.digital_ops for node in graph[1:]]
        self.bwd_ops = [0] + [backward_ops(node.plan, self.input_grad[node.index]) for node in graph[1:]]
        self.out_bytes = [node.positions * node.channels for node in graph]
        self.sink = [node.index > 0 and not node.consumers for node in graph]
        # gradient contributions each layer waits for: its consumers, and the loss for an output
        self.grad_expected = [(len(node.consumers) + self.sink[node.index]) if self.needs[node.index] else 0
                              for node in graph]
        self.mult_of = position_multiplicity(graph)
        # adds into the input gradient per transposed MVM: the data rows of every column block
        self.partial_adds = [node.analog.col_blocks * node.analog.data_rows() if node.analog else 0
                             for node in graph]
        self.labels = [(SimpleNamespace(name=f"{node.name} forward"), SimpleNamespace(name=f"{node.name} backward"))
                       for node in graph]
        self.groups: list[list[TrainGroup]] = [[] for _ in range(n)]
        self.max_positions = [0] * n
        for node in graph:
            if node.analog is not None:
                self.groups[node.index], self.max_positions[node.index] = build_train_groups(self, node, chip.bl)
        self._plans: dict[int, tuple] = {}
        # work that ends an image's step: every replica's backward job, every digital backward
        # item (a digital bias gradient for analog layers) and every loss gradient
        self.work_per_image = sum(self.sink) + sum(
            (len(self.groups[node.index]) + (self.bwd_ops[node.index] > 0)) if node.analog
            else 1 for node in graph[1:] if self.needs[node.index])

    def components(self) -> list[Component]:
        return [g for groups in self.groups for g in groups]

    # ---------------------------------------------------------------- admission
    def run(self):
        for image in range(self.images):
            if self.in_flight >= self.window:
                t0 = self.env.now
                self.room = self.env.event()
                self.waiting_on = ("one of %d images in flight to finish before image %d", self.window, image)
                yield self.room
                self.waiting_on = None
                self.stats.stalled += self.env.now - t0
            self._admit(image)

    def _admit(self, image: int) -> None:
        graph = self.graph
        st = _Image(image, self.env.now)
        self.states[image] = st
        self.in_flight += 1
        st.inputs_left = [len(node.inputs) for node in graph]
        st.vectors_left = [len(node.computed) if node.analog else 0 for node in graph]
        st.grad_left = list(self.grad_expected)
        st.contrib_left = [(len(node.computed) + (0 if self.overlap else len(self.groups[node.index])))
                           if self.transposed[node.index] else 0 for node in graph]
        st.work_left = self.work_per_image
        st.orders, st.fetch = [None] * len(graph), [None] * len(graph)
        for node in graph:
            if node.analog is None:
                continue
            plan = self._plans.get(node.index)
            if plan is None:
                assignment = node.analog.assignment
                orders = [p.tolist() for p in assignment.patches_of(image)]
                plan = (orders, plan_fetches(node.win_ptr, node.win_idx, node.inputs[0].src.positions,
                                             node.positions, orders, self.max_positions[node.index]).fetch)
                if assignment.fixed is not None:
                    self._plans[node.index] = plan
            st.orders[node.index], st.fetch[node.index] = plan
        self.chip.io_buffer.write_bytes += self.out_bytes[0]
        self._forward_done(graph[0], st)

    def _work_done(self, st: _Image) -> None:
        st.work_left -= 1
        if st.work_left:
            return
        now = self.env.now
        st.done_at = now
        self.last_done = max(self.last_done, now)
        self.done += 1
        self.in_flight -= 1
        if self.room is not None:
            event, self.room = self.room, None
            event.succeed()
        if self.done == self.images:
            self.chip.finished.succeed()

    # ---------------------------------------------------------------- digital work items
    def _submit(self, node, st: _Image, ops: int, handler, arrival: int, label: int, unit: int | None = None):
        """Queue `ops` operations on a unit (the node's by default) from cycle `arrival` on;
        work without operations completes on arrival without occupying the unit."""
        unit = node.unit if unit is None else unit
        item = (ops, handler, self.labels[node.index][label], st, node, 0, arrival, arrival)
        now = self.env.now
        if ops == 0:
            if arrival > now:
                Timeout(self.env, arrival - now).callbacks.append(lambda _: handler(item, arrival, arrival))
            else:
                handler(item, now, now)
        elif arrival > now:
            Timeout(self.env, arrival - now, item).callbacks.append(self.inboxes[unit].put_value)
        else:
            self.inboxes[unit].put(item)

    def span(self, phase: int, li: int, image: int, start: int, end: int) -> None:
        span = self.spans[phase][li][image]
        if span[0] < 0 or start < span[0]:
            span[0] = start
        span[1] = max(span[1], end)

    # ---------------------------------------------------------------- forward
    def _forward_done(self, node, st: _Image) -> None:
        if self.sink[node.index]:
            self._submit(node, st, LOSS_OPS_PER_OUTPUT * self.out_bytes[node.index], self._loss_done,
                         self.env.now, 1)
        for edge in node.consumers:
            dst = edge.dst
            left = st.inputs_left[dst.index] - 1
            st.inputs_left[dst.index] = left
            if not left:
                self._forward_start(dst, st)

    def _forward_start(self, node, st: _Image) -> None:
        if node.analog is not None:
            for group in self.groups[node.index]:
                group.add_job(st.index, FORWARD)
            return
        now = self.env.now
        arrival = now
        here = self.chip.unit_buffers[node.unit]
        for edge in node.inputs:
            src = edge.src
            nbytes = self.out_bytes[src.index]
            if self.buf_of[src.index] is here:
                here.read_bytes += nbytes
            else:
                route = self.route(self.buf_of[src.index].read, self.xy_of[src.index], self.xy_of[node.index],
                                   here.write)
                arrival = max(arrival, self.book(now, self.plan(route, nbytes)))
        self._submit(node, st, self.fwd_ops[node.index], self._digital_forward_done, arrival, 0)

    def _digital_forward_done(self, item, start: int, end: int) -> None:
        st, node = item[3], item[4]
        self.span(FORWARD, node.index, st.index, start, end)
        self.buf_of[node.index].write_bytes += self.out_bytes[node.index]
        self._forward_done(node, st)

    def forward_vector(self, node, st: _Image, p: int, arrival: int) -> None:
        """An analog layer's output vector reaches its unit (bias, row-block partial sums)."""
        mult = self.mult_of[node.index]
        ops = node.ops * (mult[p] if mult is not None else 1)
        self._submit(node, st, ops, self._vector_done, arrival, 0)

    def _vector_done(self, item, start: int, end: int) -> None:
        st, node = item[3], item[4]
        buf = self.buf_of[node.index]
        buf.read_bytes += node.analog.matrix_cols * node.analog.row_blocks
        buf.write_bytes += node.channels
        left = st.vectors_left[node.index] - 1
        st.vectors_left[node.index] = left
        if not left:
            self._forward_done(node, st)

    # ---------------------------------------------------------------- backward
    def _loss_done(self, item, start: int, end: int) -> None:
        st, node = item[3], item[4]
        self._work_done(st)
        if self.needs[node.index]:
            self._gradient_arrived(node, st)

    def _gradient_arrived(self, node, st: _Image) -> None:
        left = st.grad_left[node.index] - 1
        st.grad_left[node.index] = left
        if left:
            return
        if node.analog is not None:
            for group in self.groups[node.index]:
                group.add_job(st.index, BACKWARD)
            if self.bwd_ops[node.index]:
                self._submit(node, st, self.bwd_ops[node.index], self._bias_done, self.env.now, 1)
        else:
            self._submit(node, st, self.bwd_ops[node.index], self._digital_backward_done, self.env.now, 1)

    def _bias_done(self, item, start: int, end: int) -> None:
        self._work_done(item[3])

    def _digital_backward_done(self, item, start: int, end: int) -> None:
        st, node = item[3], item[4]
        self.span(BACKWARD, node.index, st.index, start, end)
        self._work_done(st)
        for edge in node.inputs:
            if self.needs[edge.src.index]:
                self._send_gradient(node, edge.src, st)

    def _send_gradient(self, node, src, st: _Image) -> None:
        """A digital layer's input gradient goes to the unit of its input and is summed there."""
        now = self.env.now
        nbytes = self.out_bytes[src.index]
        src_buf = self.buf_of[src.index]
        arrival = now
        if src_buf is self.buf_of[node.index]:
            src_buf.write_bytes += nbytes
        else:
            route = self.route(self.buf_of[node.index].read, self.xy_of[node.index], self.xy_of[src.index],
                               src_buf.write)
            arrival = self.book(now, self.plan(route, nbytes))
        adds = nbytes if self.grad_expected[src.index] > 1 else 0
        self._submit(src, st, adds, self._contribution_done, arrival, 1)

    def _contribution_done(self, item, start: int, end: int) -> None:
        self._gradient_arrived(item[4], item[3])

    def partial_gradient(self, node, st: _Image, arrival: int) -> None:
        """A transposed MVM's output reaches the unit of the layer's input: added into its gradient."""
        self._submit(node, st, self.partial_adds[node.index], self._partial_done, arrival, 1,
                     unit=node.inputs[0].src.unit)

    def _partial_done(self, item, start: int, end: int) -> None:
        st, node = item[3], item[4]
        buf = self.buf_of[node.inputs[0].src.index]
        buf.read_bytes += item[0]       # the partial vector, then the gradient it is added into
        buf.write_bytes += item[0]
        self._contributed(node, st)

    def _contributed(self, node, st: _Image) -> None:
        left = st.contrib_left[node.index] - 1
        st.contrib_left[node.index] = left
        if not left:
            self._gradient_arrived(node.inputs[0].src, st)

    def job_done(self, group: TrainGroup, st: _Image, kind: int) -> None:
        if kind == BACKWARD:
            self._work_done(st)
            if self.transposed[group.node.index] and not self.overlap:
                self._contributed(group.node, st)

    def unfinished(self) -> str:
        return f"{self.images - self.done} of {self.images} image(s) unfinished"


class TrainingChip(Chip):
    """The chip of `program` wired for training steps: the inference chip's network, buffers
    and digital units, with a TrainingController and one TrainGroup per replica of every
    analog layer."""

    def __init__(self, program: Program, *, images: int, bl: int, window: int, overlap_updates: bool,
                 trace: bool = False, trace_limit: int = 200_000):
        self.bl = bl
        self.window = window
        self.overlap_updates = overlap_updates
        super().__init__(program, images=images, trace=trace, trace_limit=trace_limit)

    def _make_controller(self, *, images: int, **_) -> TrainingController:
        return TrainingController(self.env, "controller", self.recorder, chip=self, images=images,
                                  window=self.window, overlap_updates=self.overlap_updates)

    def _count_staging(self) -> None:
        """After a run: the tile-buffer reads that staged the three operations' inputs into the
        DACs and pulse translators."""
        for group in self.controller.components():
            ops = (group.fwd, group.bwd, group.upd)
            counts = (group.mvms, group.bwd_mvms, group.updates)
            for tile, (rows, cols, data, _) in zip(group.tiles, group.blocks):
                buf = self.tile_buffers[tile]
                buf.read_bytes += group.mvms * rows + group.bwd_mvms * cols + group.updates * (data + cols)
                buf.read_busy += sum(n * op.staging for n, op in zip(counts, ops))
