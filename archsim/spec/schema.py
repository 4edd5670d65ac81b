"""Typed, strict, located conversion of plain YAML data into frozen spec dataclasses.

Spec classes are frozen dataclasses whose fields are declared with `spec_field`, which
carries the field's meaning, unit and allowed range. `build` walks a class and a plain
value together, converts quantities with units, and collects EVERY problem with its
YAML path (and line, when known) before anything is raised: `hardware.tiles.adc.bits
must be an integer from 1 to 16, not 0`.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from archsim.units import Dimension, parse_quantity

Path = tuple[Union[str, int], ...]


def spec_field(default: Any = dataclasses.MISSING, *, doc: str, unit: Dimension | None = None,
               ge: float | None = None, gt: float | None = None, le: float | None = None,
               lt: float | None = None, default_factory: Any = dataclasses.MISSING,
               nonempty: bool = False) -> Any:
    """A spec field: `doc` says what it means (with its unit); the bounds are checked at load."""
    meta = {"doc": doc, "unit": unit, "ge": ge, "gt": gt, "le": le, "lt": lt, "nonempty": nonempty}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class Problems:
    """Collects located problems for one file; `raise_if_any` raises them all at once."""

    file: str
    lines: dict[Path, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    overridden: set[Path] = field(default_factory=set)  # paths given by --set

    def add(self, path: Path, message: str) -> None:
        if any(path[:len(p)] == p for p in self.overridden):
            self.messages.append(f"{self.file} (--set): {format_path(path)} {message}")
            return
        line = None
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                break
        where = f"{self.file}:{line}" if line is not None else self.file
        self.messages.append(f"{where}: {format_path(path)} {message}")

    def raise_if_any(self) -> None:
        if self.messages:
            from archsim.errors import SpecError
            raise SpecError(self.messages)


class _Invalid(Exception):
    """Internal: the value at a path could not be converted (already reported)."""


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty (null)"
    return repr(value)


def _bounds_text(meta: dict, integer: bool) -> str:
    ge, gt, le, lt = meta.get("ge"), meta.get("gt"), meta.get("le"), meta.get("lt")
    noun = "an integer" if integer else "a number"
    fmt = (lambda v: str(int(v))) if integer else (lambda v: f"{v:g}")
    if ge is not None and le is not None:
        return f"{noun} from {fmt(ge)} to {fmt(le)}"
    parts = []
    if ge is not None:
        parts.append(f">= {fmt(ge)}")
    if gt is not None:
        parts.append(f"> {fmt(gt)}")
    if le is not None:
        parts.append(f"<= {fmt(le)}")
    if lt is not None:
        parts.append(f"< {fmt(lt)}")
    return f"{noun} {' and '.join(parts)}" if parts else noun


def _in_bounds(v: float, meta: dict) -> bool:
    return not ((meta.get("ge") is not None and v < meta["ge"])
                or (meta.get("gt") is not None and v <= meta["gt"])
                or (meta.get("le") is not None and v > meta["le"])
                or (meta.get("lt") is not None and v >= meta["lt"]))


def _origin(tp: Any) -> Any:
    return typing.get_origin(tp)


def _is_union(tp: Any) -> bool:
    return _origin(tp) in (Union, types.UnionType)


def _shape_ok(tp: Any, raw: Any) -> bool:
    """Whether `raw` has the YAML shape that type `tp` is written as (for unions)."""
    if tp is type(None):
        return raw is None
    if dataclasses.is_dataclass(tp) or _origin(tp) is dict:
        return isinstance(raw, dict)
    if _origin(tp) is tuple:
        return isinstance(raw, list)
    if _origin(tp) is Literal:
        return raw in typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum) or tp is str:
        return isinstance(raw, str)
    if tp in (int, float):
        return isinstance(raw, (int, float)) and not isinstance(raw, bool)
    if tp is bool:
        return isinstance(raw, bool)
    return False


TAGS = ("kind", "op")  # field names that select a member of a union of spec classes


def _tag_of(cls: type) -> tuple[str, str] | None:
    for f in dataclasses.fields(cls):
        if f.name in TAGS and f.default is not dataclasses.MISSING:
            return f.name, f.default
    return None


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp) or _origin(tp) is dict:
        return "a mapping"
    if _origin(tp) is tuple:
        return "a list"
    if _origin(tp) is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def convert(tp: Any, raw: Any, path: Path, problems: Problems, meta: dict | None = None) -> Any:
    """Convert `raw` to type `tp`; report and raise _Invalid on any problem below `path`."""
    meta = meta or {}
    if _is_union(tp):
        members = typing.get_args(tp)
        classes = [m for m in members if dataclasses.is_dataclass(m) and _tag_of(m)]
        if classes and isinstance(raw, dict):  # tagged union: pick the class by its tag
            tag = _tag_of(classes[0])[0]
            tagged = {_tag_of(c)[1]: c for c in classes}
            value = raw.get(tag)
            if value not in tagged:
                hint = _did_you_mean(value, list(tagged))
                problems.add(path + (tag,), f"must be one of {', '.join(tagged)}, not {_describe(value)}{hint}")
                raise _Invalid
            return build(tagged[value], raw, path, problems)
        for member in members:
            if _shape_ok(member, raw):
                return convert(member, raw, path, problems, meta)
        allowed = " or ".join(dict.fromkeys(_type_name(m) for m in members))
        problems.add(path, f"must be {allowed}, not {_describe(raw)}")
        raise _Invalid
    if dataclasses.is_dataclass(tp):
        return build(tp, raw, path, problems)
    origin = _origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if raw not in allowed:
            problems.add(path, f"must be {' or '.join(repr(a) for a in allowed)}, not {_describe(raw)}")
            raise _Invalid
        return raw
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(raw, list):
            problems.add(path, f"must be a list, not {_describe(raw)}")
            raise _Invalid
        if len(args) == 2 and args[1] is Ellipsis:
            item_types = [args[0]] * len(raw)
            if meta.get("nonempty") and not raw:
                problems.add(path, "must not be empty")
                raise _Invalid
        else:
            if len(raw) != len(args):
                problems.add(path, f"must be a list of {len(args)} items, not {len(raw)}")
                raise _Invalid
            item_types = list(args)
        out, bad = [], False
        for i, (item_tp, item) in enumerate(zip(item_types, raw)):
            try:
                out.append(convert(item_tp, item, path + (i,), problems, _item_meta(meta)))
            except _Invalid:
                bad = True
        if bad:
            raise _Invalid
        return tuple(out)
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(raw, dict):
            problems.add(path, f"must be a mapping, not {_describe(raw)}")
            raise _Invalid
        out, bad = {}, False
        for key, item in raw.items():
            try:
                out[str(key)] = convert(val_tp, item, path + (str(key),), problems, _item_meta(meta))
            except _Invalid:
                bad = True
        if bad:
            raise _Invalid
        return out
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        names = [m.value for m in tp]
        if raw not in names:
            hint = _did_you_mean(raw, names)
            problems.add(path, f"must be one of {', '.join(names)}, not {_describe(raw)}{hint}")
            raise _Invalid
        return tp(raw)
    if tp is bool:
        if not isinstance(raw, bool):
            problems.add(path, f"must be true or false, not {_describe(raw)}")
            raise _Invalid
        return raw
    if tp is str:
        if not isinstance(raw, str) or (meta.get("nonempty") and not raw.strip()):
            problems.add(path, f"must be a non-empty string, not {_describe(raw)}")
            raise _Invalid
        return raw
    if tp in (int, float):
        unit: Dimension | None = meta.get("unit")
        integer = tp is int
        if unit is not None:
            try:
                value = parse_quantity(raw, unit)
            except ValueError as exc:
                problems.add(path, str(exc))
                raise _Invalid from None
        else:
            ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
            if integer and ok and isinstance(raw, float):
                ok = raw.is_integer()
            if not ok:
                problems.add(path, f"must be {_bounds_text(meta, integer)}, not {_describe(raw)}")
                raise _Invalid
            value = int(raw) if integer else float(raw)
        if not _in_bounds(value, meta):
            shown = raw if unit is not None else value
            text = _bounds_text(meta, integer) if unit is None else \
                f"a {unit.name} {_bounds_text(meta, False).removeprefix('a number ')}"
            problems.add(path, f"must be {text}, not {shown!r}" if unit else f"must be {text}, not {shown}")
            raise _Invalid
        return value
    raise TypeError(f"spec type {tp!r} at {format_path(path)} is not supported")  # a bug, not input


def _item_meta(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != "nonempty"}


def _did_you_mean(raw: Any, options: list[str]) -> str:
    if not isinstance(raw, str):
        return ""
    close = difflib.get_close_matches(raw, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def build(cls: type, raw: Any, path: Path, problems: Problems) -> Any:
    """Build dataclass `cls` from mapping `raw`, reporting unknown, missing and bad keys."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    if not isinstance(raw, dict):
        problems.add(path, f"must be a mapping with keys {', '.join(names)}, not {_describe(raw)}")
        raise _Invalid
    bad = False
    for key in raw:
        if key not in names:
            hint = _did_you_mean(str(key), names)
            problems.add(path + (str(key),), f"is not a valid key{hint}; valid keys are: {', '.join(names)}")
            bad = True
    values = {}
    for f in fields:
        if f.name in raw:
            try:
                values[f.name] = convert(hints[f.name], raw[f.name], path + (f.name,), problems, dict(f.metadata))
            except _Invalid:
                bad = True
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.add(path + (f.name,), f"is required: {f.metadata.get('doc', '')}".rstrip(": "))
            bad = True
    if bad:
        raise _Invalid
    obj = cls(**values)
    check = getattr(obj, "check", None)
    if check is not None:
        for rel, message in check():
            problems.add(path + tuple(rel), message)
            bad = True
    if bad:
        raise _Invalid
    return obj


def build_document(cls: type, raw: Any, root: str, problems: Problems) -> Any:
    """Build a whole document; returns None when problems were reported."""
    try:
        return build(cls, raw, (root,), problems)
    except _Invalid:
        return None


def to_plain(obj: Any) -> Any:
    """Plain JSON-ready data from spec objects (enums by name, quantities in SI)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def field_docs(cls: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, type, meaning) for every field of a spec class, for documentation."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        unit = f.metadata.get("unit")
        rows.append((key, unit.name if unit else _type_name(tp), f.metadata.get("doc", "")))
        if dataclasses.is_dataclass(tp):
            rows.extend(field_docs(tp, key + "."))
    return rows
