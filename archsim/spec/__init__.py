"""Specs: the hardware, the workload and the run settings, loaded strictly from YAML.

`load_hardware`, `load_workload` and `load_run` accept a file path or the name of a
built-in preset, apply `--set` overrides, and raise one SpecError listing every
located problem.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from archsim.errors import SpecError
from archsim.spec.hardware import HardwareSpec
from archsim.spec.run import RunSettings
from archsim.spec.schema import Problems, build_document, to_plain
from archsim.spec.workload import Workload, infer_shapes
from archsim.spec.yamlio import apply_set, parse_set, read_yaml

DOCUMENTS = {"hardware": HardwareSpec, "workload": Workload, "run": RunSettings}
PRESET_DIRS = {"hardware": "hardware", "workload": "workloads"}
DEFAULT_WORKLOAD = "rapa_convnet_28"  # ships trained weights and test images: a real accuracy
DEFAULT_HARDWARE = "rpu"

__all__ = ["HardwareSpec", "Workload", "RunSettings", "load_hardware", "load_workload", "load_run",
           "load_file", "from_data", "presets", "infer_shapes", "to_plain", "split_overrides", "DEFAULT_WORKLOAD",
           "DEFAULT_HARDWARE"]


def presets(kind: str) -> dict[str, Path]:
    """Built-in specs of a kind ('hardware' or 'workload'), by name."""
    folder = resources.files("archsim").joinpath("presets", PRESET_DIRS[kind])
    return {Path(str(p)).stem: Path(str(p)) for p in sorted(folder.iterdir(), key=lambda p: p.name)
            if p.name.endswith(".yaml")}


def resolve(source: str | Path, kind: str) -> Path:
    """A spec file: an existing path, or the name of a built-in preset."""
    path = Path(source)
    if path.is_file():
        return path
    if kind in PRESET_DIRS and str(source) in presets(kind):
        return presets(kind)[str(source)]
    if path.exists():
        raise SpecError([f"{source}: is not a file"])
    known = ", ".join(presets(kind)) if kind in PRESET_DIRS else ""
    raise SpecError([f"{source}: no such file" + (f"; built-in {kind} specs are: {known}" if known else "")])


def split_overrides(sets: Iterable[str]) -> dict[str, list[str]]:
    """Sort `--set` items by document: 'hardware.x=1', 'workload.y=2', 'run.seed=3' or 'seed=3'."""
    out: dict[str, list[str]] = {k: [] for k in DOCUMENTS}
    for item in sets:
        head = item.split(".", 1)[0].split("=", 1)[0]
        if head in DOCUMENTS and "." in item.split("=", 1)[0]:
            out[head].append(item.split(".", 1)[1])
        else:
            out["run"].append(item)
    return out


def _load(kind: str, path: Path | None, raw: Any, overrides: Iterable[str], problems: Problems) -> Any:
    for item in overrides:
        try:
            keys, value = parse_set(item)
            raw = apply_set(raw if raw is not None else {}, keys, value)
        except ValueError as exc:
            problems.messages.append(f"--set {item}: {exc}")
            continue
        problems.overridden.add((kind, *keys))
    problems.raise_if_any()
    spec = build_document(DOCUMENTS[kind], raw, kind, problems)
    problems.raise_if_any()
    if isinstance(spec, Workload) and path is not None:
        object.__setattr__(spec, "base_dir", str(path.resolve().parent))
    return spec


def _read(path: Path, problems: Problems) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError([f"{path}: is not a text (UTF-8) file"]) from None
    except OSError as exc:
        raise SpecError([f"{path}: cannot be read: {exc.strerror}"]) from None
    raw = read_yaml(text, problems)
    problems.raise_if_any()
    return raw


def _load_kind(kind: str, source: str | Path, overrides: Iterable[str]) -> Any:
    path = resolve(source, kind)
    problems = Problems(str(source) if Path(source).is_file() else str(path))
    raw = _read(path, problems)
    problems.lines = {(kind, *k): v for k, v in problems.lines.items()}
    return _load(kind, path, raw, overrides, problems)


def load_hardware(source: str | Path, overrides: Iterable[str] = ()) -> HardwareSpec:
    """Load a hardware spec from a file or a built-in name (e.g. 'rpu')."""
    return _load_kind("hardware", source, overrides)


def load_workload(source: str | Path, overrides: Iterable[str] = ()) -> Workload:
    """Load a workload from a file or a built-in name (e.g. 'rapa_convnet_32')."""
    return _load_kind("workload", source, overrides)


def load_run(source: str | Path | None = None, overrides: Iterable[str] = ()) -> RunSettings:
    """Load run settings from a file, or the defaults when `source` is None."""
    if source is not None:
        return _load_kind("run", source, overrides)
    return _load("run", None, {"schema_version": 1}, overrides, Problems("run settings"))


def from_data(kind: str, raw: Any, origin: str = "<data>") -> Any:
    """Build a document ('hardware', 'workload' or 'run') from plain data, validated like a file."""
    return _load(kind, None, raw, (), Problems(origin))


def detect_kind(raw: Any) -> str | None:
    """Which document a mapping is, from its distinguishing keys."""
    if not isinstance(raw, dict):
        return None
    if "layers" in raw:
        return "workload"
    if "tiles" in raw:
        return "hardware"
    if set(raw) <= {f for f in RunSettings.__dataclass_fields__}:
        return "run"
    return None


def load_file(source: str | Path) -> tuple[str, Any]:
    """Load any spec file, telling its kind from its keys; returns (kind, spec)."""
    path = resolve(source, "file")
    problems = Problems(str(source))
    raw = _read(path, problems)
    kind = detect_kind(raw)
    if kind is None:
        raise SpecError([f"{source}: is neither a hardware spec (it would have 'tiles'), a workload "
                         f"(it would have 'layers') nor run settings (keys "
                         f"{', '.join(RunSettings.__dataclass_fields__)})"])
    problems.lines = {(kind, *k): v for k, v in problems.lines.items()}
    return kind, _load(kind, path, raw, (), problems)
