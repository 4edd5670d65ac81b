"""The controller: admits images, issues MVMs in the Program's schedule, moves data.

Schedule. Replica r of an analog layer computes the patches `assignment.patches_of(image)[r]`
in that order, image after image. A layer starts image i+1 once all its replicas have
issued their image-i MVMs (so a layer's outputs enter a buffer image by image), and
images are admitted as long as the I/O buffer has room for their input, so several
images are in flight and throughput is set by the slowest stage.

Line-buffer dataflow. Every layer output is a set of position vectors (dataflow.py).
A patch of an analog layer, or a position of a digital layer, starts once every input
position it reads has been produced (and pooled); so the spatial order in which a
mapping produces outputs changes latency and buffer needs. A produced position stays
in its digital unit's buffer (the I/O buffer for the input image) until its last reader
has read it. Tiles fetch the input positions of their next patch from that buffer over
the network, keeping positions in their own buffer while later patches of the same
replica still need them (linebuffer.py), tiles hand their outputs to their layer's
digital unit, and digital layers whose input sits on another unit fetch it. Data
sizes assume one byte per element (8-bit activations and partial sums).

Buffers and backpressure (wiring.py). A digital unit's buffer is split into an inbox
and one line buffer per layer it keeps. A tile hands an output over only when the
inbox has room and every line buffer the result will pass through on that unit has
room for it; otherwise it stalls (the backpressure point). Line-buffer data leaves
when its last reader has read it.

The controller is also a component: its process admits images, stalling while the
I/O buffer is full.
"""

from __future__ import annotations

from simpy.events import Timeout

from archsim.engine.core import Component
from archsim.engine.models.linebuffer import plan_fetches
from archsim.engine.models.tile import TileGroup
from archsim.engine.models.wiring import build_tile_groups, digital_inputs, partition_buffers, position_multiplicity


class ImageState:
    """Everything about one image in flight."""

    __slots__ = ("index", "admitted", "done_at", "cnt", "ready", "reads", "orders", "owner", "passes", "fetch",
                 "sink_left")

    def __init__(self, index: int, admitted: int):
        self.index = index
        self.admitted = admitted
        self.done_at = -1
        self.cnt: list[list[int]] = []    # per layer and position: input positions not yet produced
        self.ready: list[list[int]] = []  # per layer and position: cycle its last input was produced
        self.reads: list[list[int]] = []
        self.orders: list = []
        self.owner: list = []
        self.passes: list = []
        self.fetch: list = []
        self.sink_left = 0


class Controller(Component):
    """Schedule, dataflow bookkeeping and data movement of one simulated chip."""

    kind = "controller"

    def __init__(self, env, name, recorder, *, graph, images: int, chip, passes, finished, run_length: int):
        super().__init__(env, name, recorder)
        # aggregated fidelity: data carry the cycle they were produced and components schedule
        # from those time stamps (lax synchronisation); exact: every hand-over is an event
        self.lax = run_length > 1
        self.graph = graph
        self.images = images
        self.chip = chip
        self.net = chip.network
        self.passes_of = passes
        self.finished = finished
        self.states: list[ImageState | None] = [None] * images
        self.admitted = 0
        self.done = 0
        self.last_done = 0
        n = len(graph)
        self.span_start = [[-1] * images for _ in range(n)]
        self.span_end = [[-1] * images for _ in range(n)]
        self.released = [0] * n
        self.layer_finished = [[0] * images for _ in range(n)]
        self.gate_waiters: list[dict[int, list]] = [{} for _ in range(n)]
        self.sink_positions = sum(node.positions for node in graph if node.sink)
        io = graph[0]
        self.image_bytes = io.positions * io.channels
        # where each layer's output lives: its digital unit's buffer, or the I/O buffer
        self.buf_of = [chip.io_buffer if node.unit is None else chip.unit_buffers[node.unit] for node in graph]
        self.xy_of = [chip.io_node if node.unit is None else chip.unit_nodes[node.unit] for node in graph]
        self.inboxes = [u.inbox for u in chip.units]
        self.arrive = [inbox.put_value for inbox in self.inboxes]     # callbacks of arrival events
        self._plans: dict[int, object] = {}   # fetch plans of layers with a fixed assignment
        plan = partition_buffers(graph, chip)
        self.region_of, self.inboxes_space, self.gates, self.held_of = (
            plan.region_of, plan.inboxes, plan.gates, plan.held_of)
        # per layer and position of a perforated layer: 1 + the positions copied from it
        self.mult_of = position_multiplicity(graph)
        self.book = self.net.ports.book
        self.plan = self.net.ports.plan
        self.groups: list[list[TileGroup]] = [[] for _ in range(n)]
        self.max_positions = [0] * n
        for node in graph:
            if node.analog is not None:
                self.groups[node.index], self.max_positions[node.index] = build_tile_groups(
                    self, node, run_length)
        # exact: a transfer is booked at the cycle it starts. Aggregated: data may carry time
        # stamps before or after the simulation time; booking those out of order would let a
        # transfer booked far ahead block earlier ones, so every transfer is booked now, in
        # order, and the delay it sees (queueing included) is applied to its own stamp.
        self.send = self._send_stamped if self.lax else self.book     # send(t, plan) -> arrival
        self.sink_plans = [self.plan(self.net.route(self.buf_of[i].read, self.xy_of[i], chip.io_node,
                                                    chip.io_buffer.write), node.channels) if node.sink else None
                           for i, node in enumerate(graph)]
        # per layer, computed once for the hot paths (exact fidelity uses them on every event)
        self.consumers_of = [tuple((e.dst.index, e.readers, self.groups[e.dst.index] if e.dst.analog else None,
                                    e.dst) for e in node.consumers) for node in graph]
        self.inputs_of = [digital_inputs(self, node) if node.analog is None else () for node in graph]
        self.spans_of = [[(self.span_start[m.index], self.span_end[m.index]) for m in node.chain] for node in graph]
        self._consumers = self._consumers_lax if self.lax else self._consumers_exact
        self._on_analog, self._on_digital = self._analog_done, self._digital_done

    def components(self) -> list[Component]:
        return [g for groups in self.groups for g in groups]

    # ---------------------------------------------------------------- admission
    def run(self):
        io = self.chip.io_buffer
        for image in range(self.images):
            if not io.space.try_take(self.image_bytes):
                t0 = self.env.now
                self.waiting_on = ("space for image %d (%d bytes) in %s", image, self.image_bytes, io.name)
                yield io.space.take(self.image_bytes)
                self.waiting_on = None
                self.stats.stalled += self.env.now - t0
            self._admit(image)

    def _admit(self, image: int) -> None:
        now = self.env.now
        st = ImageState(image, now)
        st.sink_left = self.sink_positions
        reads = [node.static_reads for node in self.graph]
        for node in self.graph:
            st.cnt.append(list(node.waits))
            if self.lax:
                st.ready.append([now] * node.positions)
            analog = node.analog
            if analog is None:
                st.orders.append(None)
                st.owner.append(None)
                st.passes.append(None)
                st.fetch.append(None)
                continue
            assignment = analog.assignment
            plan = self._plans.get(node.index)
            if plan is None:
                orders = [p.tolist() for p in assignment.patches_of(image)]
                plan = (orders, assignment.replica_of(image).tolist(),
                        plan_fetches(node.win_ptr, node.win_idx, node.inputs[0].src.positions, node.positions,
                                     orders, self.max_positions[node.index]))
                if assignment.fixed is not None:
                    self._plans[node.index] = plan
            orders, owner, fetch = plan
            st.orders.append(orders)
            st.owner.append(owner)
            st.passes.append(self.passes_of(node, image) if self.passes_of is not None else None)
            st.fetch.append(fetch.fetch)
            src = node.inputs[0].src.index
            reads[src] = reads[src] + fetch.reads
            for group, peak in zip(self.groups[node.index], fetch.peak_positions.tolist()):
                for _, share, tile_buf in group.fetch_paths:
                    held = -(-peak * share // group.data_rows)
                    if held > tile_buf.held_peak:
                        tile_buf.held_peak = held
        st.reads = [r.tolist() for r in reads]
        self.states[image] = st
        self.admitted += 1
        io = self.graph[0]
        self.chip.io_buffer.write_bytes += self.image_bytes
        space = self.chip.io_buffer.space
        io_reads = st.reads[0]
        for q in range(io.positions):
            if not io_reads[q]:
                space.give(io.channels)
            self._consumers(io.index, st, q, now)
        for node in self.graph:
            if node.analog is not None:
                self._release(node.index)

    # ---------------------------------------------------------------- schedule gates
    def gate(self, layer: int, image: int):
        """None if `layer` may start `image` now, else an event that fires when it may."""
        if self.released[layer] > image:
            return None
        event = self.env.event()
        self.gate_waiters[layer].setdefault(image, []).append(event)
        return event

    def _release(self, layer: int) -> None:
        replicas = len(self.groups[layer])
        while self.released[layer] < self.admitted and (
                self.released[layer] == 0 or self.layer_finished[layer][self.released[layer] - 1] >= replicas):
            image = self.released[layer]
            self.released[layer] += 1
            for event in self.gate_waiters[layer].pop(image, ()):
                event.succeed()

    def layer_done(self, layer: int, image: int) -> None:
        self.layer_finished[layer][image] += 1
        if self.layer_finished[layer][image] >= len(self.groups[layer]):
            self._release(layer)

    def mvm_span(self, layer: int, image: int, start: int, end: int) -> None:
        s = self.span_start[layer]
        if s[image] < 0 or start < s[image]:
            s[image] = start
        e = self.span_end[layer]
        if end > e[image]:
            e[image] = end

    # ---------------------------------------------------------------- data movement
    def _send_stamped(self, t: int, plan: tuple) -> int:
        now = self.env.now
        return t + self.book(now, plan) - now

    def fetch(self, group: TileGroup, image: int, patch: int, t: int) -> int:
        """Move the input positions `patch` still lacks into the group's tile buffers; returns
        the cycle they have all arrived."""
        st = self.states[image]
        node = group.node
        ready = st.ready[node.index][patch]
        if ready > t:
            t = ready
        wanted = st.fetch[node.index][patch]
        if not wanted:
            return t
        send = self.send
        n = len(wanted)
        data = group.data_rows
        arrival = t
        for route, share, _ in group.fetch_paths:
            a = send(t, self.plan(route, -(-n * share // data)))
            if a > arrival:
                arrival = a
        src = node.inputs[0].src
        reads = st.reads[src.index]
        freed = 0
        for q in wanted:
            v = reads[q] - 1
            reads[q] = v
            if not v:
                freed += src.channels
        if freed:
            self.region_of[src.index].give(freed)
        return arrival

    def fetch_exact(self, group: TileGroup, st: ImageState, patch: int, t: int) -> int:
        """`fetch` with exact fidelity, where `t` is the simulation time (so the inputs, all
        produced by now, never delay it), with the group's plans for each fetch size."""
        wanted = st.fetch[group.node.index][patch]
        if not wanted:
            return t
        n = len(wanted)
        plans = group.fetch_plans.get(n)
        if plans is None:
            data = group.data_rows
            plans = group.fetch_plans[n] = tuple(self.plan(route, -(-n * share // data))
                                                 for route, share, _ in group.fetch_paths)
        book = self.book
        arrival = t
        for plan in plans:
            a = book(t, plan)
            if a > arrival:
                arrival = a
        src = group.src_index
        reads = st.reads[src]
        freed = 0
        for q in wanted:
            v = reads[q] - 1
            reads[q] = v
            if not v:
                freed += 1
        if freed:
            self.region_of[src].give(freed * group.src_channels)
        return arrival

    def hand_over_one(self, group: TileGroup, p: int):
        """`hand_over(group, [p])`: the same checks, from the group's constants."""
        inbox, need, held, mult, gates, region = group.hand_over_one
        if inbox.used + need > inbox.capacity:
            return self.hand_over(group, [p])
        if held:
            if mult is not None:
                held *= mult[p]
            for gate in gates:
                if gate.used + held > gate.capacity:
                    return self.hand_over(group, [p])
            region.force(held)
        inbox.force(need)
        return None

    def hand_over(self, group: TileGroup, run: list[int]):
        """Take the buffer space the outputs of `run` need on the layer's digital unit.

        Returns None when taken, else an event to wait on before asking again.
        """
        node = group.node
        li = node.index
        inbox = self.inboxes_space[node.unit]
        need = group.out_bytes * len(run)
        held = self.held_of[li]
        if held:
            fill = node.fill
            held *= len(run) + (sum(len(fill.get(q, ())) for q in run) if fill else 0)
        blocked = None
        if not inbox.room(need):
            blocked = inbox.when_room(need)
        elif held:
            for region in self.gates[li]:
                if not region.room(held):
                    blocked = region.when_room(held)
                    break
        if blocked is not None:
            # this group may have been woken for room it does not use now: pass it on
            inbox.kick()
            for region in self.gates[li]:
                region.kick()
            return blocked
        if held:
            self.region_of[node.chain[-1].index].force(held)
        inbox.force(need)
        return None

    def deliver(self, group: TileGroup, image: int, run: list[int], t: int) -> None:
        """Send the outputs of `run` (patches just computed) to the layer's digital unit."""
        node = group.node
        send = self.send
        k = len(run)
        arrival = t
        for route, nbytes in group.out_paths:
            a = send(t, self.plan(route, nbytes * k))
            if a > arrival:
                arrival = a
        fill = node.fill
        ops = node.chain_ops * (k + (sum(len(fill.get(q, ())) for q in run) if fill else 0))
        item = (ops, self._on_analog, node, self.states[image], run, group.out_bytes * k, arrival, self.env.now)
        self._arrive_at(item, arrival, node.unit)

    def deliver_one(self, group: TileGroup, st: ImageState, p: int, t: int) -> None:
        """`deliver` of the one patch `p` at the simulation time `t` (exact fidelity)."""
        book = self.book
        arrival = t
        for plan in group.out_plans:
            a = book(t, plan)
            if a > arrival:
                arrival = a
        node = group.node
        mult = self.mult_of[node.index]
        ops = node.chain_ops * mult[p] if mult is not None else node.chain_ops
        item = (ops, self._on_analog, node, st, [p], group.out_bytes, arrival, t)
        if arrival > t:
            Timeout(self.env, arrival - t, item).callbacks.append(self.arrive[node.unit])
        else:
            self.inboxes[node.unit].put(item)

    def _arrive_at(self, item, arrival: int, unit: int) -> None:
        """Put `item` into a unit's inbox when it arrives (at once, time-stamped, when lax)."""
        now = self.env.now
        if arrival > now and not self.lax:
            Timeout(self.env, arrival - now, item).callbacks.append(self.arrive[unit])
        else:
            self.inboxes[unit].put(item)

    # ---------------------------------------------------------------- completions
    def _span(self, node, image: int, start: int, end: int) -> None:
        for first, last in self.spans_of[node.index]:
            s = first[image]
            if s < 0 or start < s:
                first[image] = start
            if end > last[image]:
                last[image] = end

    def _analog_done(self, item, start: int, end: int) -> None:
        _, _, node, st, run, nbytes, _, _ = item
        self.buf_of[node.index].read_bytes += nbytes
        tail = node.chain[-1]
        if tail is not node:
            self._span(node.chain[1], st.index, start, end)
        charged = self.held_of[node.index] > 0       # hand_over reserved their line-buffer space
        fill = node.fill
        for q in run:
            self._produced(tail, st, q, end, charged)
            if fill:
                for f in fill.get(q, ()):
                    self._produced(tail, st, f, end, charged)
        self.inboxes_space[node.unit].give(nbytes)

    def _digital_done(self, item, start: int, end: int) -> None:
        _, _, node, st, p, _, _, _ = item
        self._span(node, st.index, start, end)
        self._produced(node.chain[-1], st, p, end)

    def _produced(self, node, st: ImageState, p: int, t: int, charged: bool = False) -> None:
        """Position p of `node` exists at cycle t: keep it for its readers and tell them."""
        li = node.index
        if not node.consumers:
            self._output(node, st, p, t)
            return
        if st.reads[li][p]:
            if not charged:
                self.region_of[li].force(node.channels)
            self.buf_of[li].write_bytes += node.channels
            self._consumers(li, st, p, t)
        elif charged:
            self.region_of[li].give(node.channels)

    def _consumers_exact(self, li: int, st: ImageState, p: int, t: int) -> None:
        """Tell the readers of position p of layer li that it exists (exact fidelity: `t` is
        the simulation time, the latest of every input's production)."""
        image = st.index
        cnts = st.cnt
        for di, readers, groups, dst in self.consumers_of[li]:
            cnt = cnts[di]
            for r in readers[p]:
                v = cnt[r] - 1
                cnt[r] = v
                if not v:
                    if groups is not None:
                        groups[st.owner[di][r]].patch_ready(image, r, t)
                    else:
                        self._dispatch(dst, st, r, t)

    def _consumers_lax(self, li: int, st: ImageState, p: int, t: int) -> None:
        """`_consumers_exact` with time stamps: a reader is ready at its latest input's stamp."""
        image = st.index
        cnts, readies = st.cnt, st.ready
        for di, readers, groups, dst in self.consumers_of[li]:
            cnt = cnts[di]
            ready = readies[di]
            for r in readers[p]:
                if t > ready[r]:
                    ready[r] = t
                v = cnt[r] - 1
                cnt[r] = v
                if not v:
                    if groups is not None:
                        groups[st.owner[di][r]].patch_ready(image, r, t)
                    else:
                        self._dispatch(dst, st, r, ready[r])

    def _dispatch(self, node, st: ImageState, p: int, t: int) -> None:
        """All inputs of digital position p exist: queue it on its unit (fetching remote inputs)."""
        arrival = t
        for src, window, channels, remote, route, plans, here, region in self.inputs_of[node.index]:
            window = window[p]
            if remote:
                nbytes = len(window) * channels
                plan = plans.get(nbytes)
                if plan is None:
                    plan = plans[nbytes] = self.plan(route, nbytes)
                a = self.send(t, plan)
                if a > arrival:
                    arrival = a
            else:
                here.read_bytes += len(window) * channels
            reads = st.reads[src]
            freed = 0
            for q in window:
                v = reads[q] - 1
                reads[q] = v
                if not v:
                    freed += 1
            if freed:
                region.give(freed * channels)
        ops = node.chain_ops
        item = (ops, self._on_digital, node, st, p, 0, arrival, self.env.now)
        if arrival == t and ops == 0:
            self._digital_done(item, t, t)
        else:
            self._arrive_at(item, arrival, node.unit)

    def _output(self, node, st: ImageState, p: int, t: int) -> None:
        """A position of a network output: send it to the I/O buffer."""
        arrival = self.send(t, self.sink_plans[node.index])
        if arrival > st.done_at:
            st.done_at = arrival
        st.sink_left -= 1
        if st.sink_left == 0:
            self.done += 1
            if st.done_at > self.last_done:
                self.last_done = st.done_at
            if self.done == self.images:
                delay = self.last_done - self.env.now
                self.env.timeout(delay if delay > 0 else 0).callbacks.append(self._finish)

    def _finish(self, event) -> None:
        self.finished.succeed()

    def unfinished(self) -> str:
        return (f"{self.images - self.done} of {self.images} image(s) unfinished "
                f"({self.admitted} admitted)")
