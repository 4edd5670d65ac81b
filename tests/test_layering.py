"""Import direction (architecture.md): heavy libraries stay in their layer."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "archsim"
# library -> the only subpackages/modules allowed to import it
OWNERS = {"numba": ("kernels",), "yaml": ("spec/yamlio.py",), "simpy": ("engine",),
          "pandas": ("report",), "matplotlib": ("report",), "pyarrow": ("report",),
          "tqdm": ("sweep/executors.py", "cli.py"), "distributed": ("sweep/executors.py",), "dask": ("sweep/executors.py",)}
# a layer must not import these (higher) layers
FORBIDDEN = {"files": ("spec", "compiler", "engine", "devices", "nn", "data", "report", "sweep", "api", "cli",
                       "kernels", "pool"),  # the bottom: standard library only
             "pool": ("spec", "compiler", "engine", "devices", "nn", "data", "report", "sweep", "api", "cli",
                      "kernels", "files"),
             "spec": ("compiler", "engine", "devices", "nn", "report", "api", "cli", "kernels"),
             "kernels": ("spec", "compiler", "engine", "devices", "nn", "report", "api", "cli"),
             "compiler": ("engine", "devices", "nn", "report", "api", "cli", "kernels"),
             "engine": ("devices", "nn", "report", "api", "cli"),
             "devices": ("engine", "nn", "report", "api", "cli", "compiler"),
             "data": ("spec", "compiler", "engine", "devices", "nn", "report", "api", "cli", "kernels"),
             "nn": ("engine", "report", "api", "cli"),
             # beside each other below api: they know nothing of simulation, nor of each other
             "sweep": ("compiler", "engine", "devices", "nn", "kernels", "report", "api", "cli"),
             "report": ("compiler", "engine", "devices", "nn", "kernels", "sweep", "api", "cli")}


def imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def modules():
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_respect_layers(path):
    rel = path.relative_to(PACKAGE).as_posix()
    for name in imports(path):
        top = name.split(".")[0]
        if top in OWNERS:
            assert any(rel == o or rel.startswith(o + "/") for o in OWNERS[top]), f"{rel} imports {top}"
        if top == "archsim" and "." in name:
            target = name.split(".")[1]
            layer = rel.split("/")[0].removesuffix(".py")
            assert target not in FORBIDDEN.get(layer, ()), f"{rel} (layer {layer}) imports archsim.{target}"


def test_importing_archsim_is_cheap():
    import subprocess
    import sys
    code = ("import sys, archsim, archsim.spec, archsim.compiler, archsim.cli, archsim.sweep, archsim.nn; "
            "print(sorted(m for m in ('numba', 'simpy', 'pandas', 'matplotlib', 'tqdm', 'distributed') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_package_directory_is_a_package():
    """setup.cfg's `packages = find:` installs only directories with an __init__.py."""
    missing = [str(d.relative_to(PACKAGE)) for d in PACKAGE.rglob("*")
               if d.is_dir() and d.name != "__pycache__" and "presets" not in d.parts
               and any(d.glob("*.py")) and not (d / "__init__.py").exists()]
    assert missing == []
