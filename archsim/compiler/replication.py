"""Choosing replica counts: balance sequential MVMs across layers under a tile budget."""

from __future__ import annotations

from archsim.errors import CompileError


def balance_replicas(patches: dict[str, int], tiles_per_replica: dict[str, int],
                     budget: int) -> dict[str, int]:
    """Replicas per layer that make the slowest layer as fast as possible within `budget` tiles.

    For a target T of sequential MVMs per image, layer l needs ceil(P_l / T) replicas; the
    tiles needed fall as T grows, so the smallest feasible T is found by bisection and
    each layer gets the fewest replicas that reach it (the input-feature-map balancing
    of NeuroSim: layers with many output positions are duplicated most).
    """
    def cost(target: int) -> int:
        return sum(-(-patches[n] // target) * tiles_per_replica[n] for n in patches)

    if not patches:
        return {}
    high = max(patches.values())
    if cost(high) > budget:
        raise CompileError(f"even one replica per layer needs {cost(high)} tiles, "
                           f"more than the tile budget of {budget}")
    low = 1
    while low < high:
        mid = (low + high) // 2
        if cost(mid) <= budget:
            high = mid
        else:
            low = mid + 1
    return {n: -(-patches[n] // low) for n in patches}
