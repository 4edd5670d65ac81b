"""Trained weights in one .npz file: '<layer>.<param>' arrays plus JSON metadata.

Keys follow `archsim.nn.network.param_shapes`: ``conv1.weight`` (c_out, c_in, k, k),
``conv1.bias`` (c_out,), ``fc1.weight`` (out, in), ``bn0.gamma``/``beta``/``mean``/``var``
(c,). A layer trained with RAPA (one weight per replica) stores its weight with a
leading replica axis, (n, c_out, c_in, k, k), and its bias as (n, c_out).

The metadata is a JSON object in the ``__meta__`` entry (a 0-d unicode array, so the
file loads with ``allow_pickle=False``), e.g. ``{"workload": "lenet", "epochs": 10,
"accuracy": 0.91, "seed": 0, "archsim_version": "0.1.0"}``; `save_weights` fills in
``archsim_version`` when it is absent.

`expected` in `load_weights` maps each key to its shape, or to a set (any collection)
of allowed shapes, e.g. ``{"conv1.weight": {(32, 1, 5, 5), (4, 32, 1, 5, 5)}}`` to
accept shared or per-replica weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Collection, Mapping, Union

import numpy as np

import archsim
from archsim.data.formats import open_npz
from archsim.errors import DataError
from archsim.files import replace_atomically

META_KEY = "__meta__"
Shape = tuple[int, ...]
Expected = Mapping[str, Union[Shape, Collection[Shape]]]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _key_problem(key: str) -> str | None:
    layer, dot, param = key.rpartition(".")
    if not (dot and layer and param):
        return f"key '{key}' is not '<layer>.<param>' (e.g. 'conv1.weight')"
    return None


def save_weights(path: str | os.PathLike, params: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write `params` and the JSON-serialisable `meta` to the .npz file `path` (replaced atomically)."""
    problems = [p for p in map(_key_problem, params) if p]
    problems += [f"key '{k}' is reserved for the metadata" for k in params if k == META_KEY]
    arrays = {}
    for key, value in params.items():
        a = np.asarray(value)
        if not np.issubdtype(a.dtype, np.floating):
            problems.append(f"'{key}' has dtype {a.dtype}; weights must be floating-point")
        arrays[key] = a
    if problems:
        raise ValueError("cannot save weights: " + "; ".join(problems))
    meta = dict(meta)
    meta.setdefault("archsim_version", archsim.__version__)
    arrays[META_KEY] = np.asarray(json.dumps(meta, default=_json_default, sort_keys=True))
    target = Path(path)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez appends no suffix
            np.savez(f, **arrays)

    try:
        replace_atomically(target, write)
    except OSError as exc:
        raise DataError(f"cannot write weights to {target}: {exc.strerror or exc}") from None


def _allowed(spec: Union[Shape, Collection[Shape]]) -> list[Shape]:
    """One shape (a tuple of ints) or a collection of shapes -> list of shapes."""
    if isinstance(spec, tuple) and all(isinstance(d, (int, np.integer)) for d in spec):
        return [tuple(int(d) for d in spec)]
    return sorted((tuple(int(d) for d in s) for s in spec), key=lambda s: (len(s), s))


def _shape_text(shape: Shape) -> str:
    return str(tuple(int(d) for d in shape))


def load_weights(path: str | os.PathLike, expected: Expected | None = None
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(params, meta) from a weights .npz file.

    With `expected`, every missing key, unexpected key and mis-shaped array is reported in
    one DataError. Arrays must be finite floating-point numbers; keys '<layer>.<param>'.
    """
    where = Path(path)
    if not where.is_file():
        raise DataError(f"weights file {where}: "
                        + ("is not a file" if where.exists() else "does not exist")
                        + "; check the workload's `weights` entry (relative to the workload file) "
                          "or train the network to create it")
    with open_npz(where, f"weights file {where}",
                  "cannot be read without pickle ({exc}); save it with archsim.data.save_weights") as npz:
        stored = {k: npz[k] for k in npz.files}

    problems: list[str] = []
    meta: dict[str, Any] = {}
    if META_KEY in stored:
        raw = stored.pop(META_KEY)
        try:
            meta = json.loads(str(raw[()])) if raw.ndim == 0 and raw.dtype.kind == "U" else None
        except json.JSONDecodeError:
            meta = None
        if not isinstance(meta, dict):
            problems.append(f"'{META_KEY}' must be a JSON object stored as a string")
            meta = {}

    for key, a in stored.items():
        bad_key = _key_problem(key)
        if bad_key:
            problems.append(bad_key)
        elif not np.issubdtype(a.dtype, np.floating):
            problems.append(f"'{key}' has dtype {a.dtype}; weights must be floating-point")
        elif not np.isfinite(a).all():
            problems.append(f"'{key}' holds NaN or infinite values")

    if expected is not None:
        for key, spec in expected.items():
            allowed = _allowed(spec)
            text = " or ".join(map(_shape_text, allowed))
            if key not in stored:
                problems.append(f"missing '{key}' (shape {text})")
            elif tuple(stored[key].shape) not in allowed:
                problems.append(f"'{key}' has shape {_shape_text(stored[key].shape)}, expected {text}")
        unexpected = [k for k in stored if k not in expected]
        if unexpected:
            problems.append("unexpected " + ", ".join(f"'{k}'" for k in unexpected)
                            + " (not a parameter of this network)")
    if problems:
        raise DataError(f"weights file {where} does not fit"
                        + (" the network" if expected is not None else "")
                        + f" ({len(problems)} problem{'s' if len(problems) > 1 else ''}):\n"
                        + "\n".join(f"  - {p}" for p in problems))
    return stored, meta
