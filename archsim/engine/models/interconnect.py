"""The on-chip network: a shared bus or a 2D mesh with XY routing.

Links are ports of one `PortArray` with the spec's per-link bandwidth, per-hop
latency and flit size (transfers move whole flits); buffer read and write ports live
in the same array, so one transfer reserves, at once and with cut-through timing,
the read port of the buffer it leaves, every link of its route, and the write port
of the buffer it enters. Contention on any of them delays the transfers that share
it, in request order. A bus is a single link shared by every transfer (its hop
latency is the arbitration latency).
"""

from __future__ import annotations

from archsim.engine.core import Clock, PortArray
from archsim.spec.hardware import HardwareSpec, Topology

Node = tuple[int, int]
_DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))   # east, west, south (+y), north (-y)


class Network:
    """Ports, routes between buffers, and transfers along them."""

    def __init__(self, hw: HardwareSpec, clock: Clock, cols: int, rows: int):
        net = hw.interconnect
        self.topology = net.topology
        self.flit_bytes = net.flit_bytes
        self.hop_cycles = clock.cycles(net.hop_latency)
        self.cols, self.rows = cols, rows
        self.ports = PortArray()
        link_bw = net.link_bandwidth / clock.hz
        if self.topology is Topology.BUS:
            self.ports.add_port("bus", link_bw, self.hop_cycles, net.flit_bytes)
            self.link_ports = 1
        else:  # every directed link of the mesh, named on demand
            self.ports.add_ports(4 * cols * rows, None, link_bw, self.hop_cycles, net.flit_bytes)
            self.link_ports = 4 * cols * rows
        self._routes: dict[tuple, int | None] = {}

    def add_buffer_port(self, name: str, bytes_per_second: float, clock: Clock) -> int:
        return self.ports.add_port(name, bytes_per_second / clock.hz)

    def is_link(self, port: int) -> bool:
        return port < self.link_ports

    def port_name(self, port: int) -> str:
        name = self.ports.names[port]
        if name is not None:
            return name
        cell, direction = divmod(port, 4)
        y, x = divmod(cell, self.cols)
        dx, dy = _DIRECTIONS[direction]
        return f"link({x},{y})->({x + dx},{y + dy})"

    def hops(self, src: Node, dst: Node) -> list[int]:
        """Link ports of the XY route from `src` to `dst` (X first, then Y); the bus for a bus."""
        if src == dst:
            return []
        if self.topology is Topology.BUS:
            return [0]
        cols = self.cols
        (x, y), (x1, y1) = src, dst
        # link port of the hop leaving cell (x, y) in direction d: (y * cols + x) * 4 + d
        d = 0 if x1 > x else 1
        path = list(range((y * cols + x) * 4 + d, (y * cols + x1) * 4 + d, 4 if x1 > x else -4))
        d = 2 if y1 > y else 3
        path += range((y * cols + x1) * 4 + d, (y1 * cols + x1) * 4 + d, 4 * cols if y1 > y else -4 * cols)
        return path

    def route(self, src_port: int | None, src: Node, dst: Node, dst_port: int | None) -> int | None:
        """Route id from a buffer's read port at `src` to a buffer's write port at `dst`."""
        key = (src_port, src, dst, dst_port)
        route = self._routes.get(key, -1)
        if route == -1:
            hops = tuple(self.hops(src, dst))
            route = self._routes[key] = (self.ports.add_route(src_port, hops, dst_port)
                                         if hops or src_port is not None or dst_port is not None else None)
        return route

    def start_trace(self) -> None:
        self.ports.start_trace()
