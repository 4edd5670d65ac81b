"""Sweeps and comparisons: points as `--set` overrides, a per-point result store, executors.

A layer beside `report`, below `api`: it knows nothing of simulation. `api` expands
the points (`expand`), hands a module-level per-point function to `run_points`
(serial, a local process pool or dask), and builds the table from the store.
"""

from archsim.sweep.executors import EXECUTORS, guarded, run_points
from archsim.sweep.points import Axis, Point, expand, point_id, replica_axes, set_axes, split_values
from archsim.sweep.store import PointStore

__all__ = ["Axis", "Point", "PointStore", "EXECUTORS", "expand", "guarded", "point_id", "replica_axes",
           "run_points", "set_axes", "split_values"]
