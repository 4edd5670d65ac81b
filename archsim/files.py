"""Result files written whole or not at all (the bottom layer: any layer may use it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def replace_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it onto `path`.

    A reader never sees a half-written file, and an interrupted write leaves the old
    file (or none) and no temporary behind. The temporary is hidden and named after
    this process, so two processes writing the same file do not clash.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
