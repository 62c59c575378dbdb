"""Files that must never be half-written or unreadable by their owner: atomic writes and JSON text."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np


def _umask() -> int:
    # os.umask can only be read by setting it; set it back at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Writes `path` through a temporary file in the same folder, fsync and a rename, so a crash
    (or a full disk, or a file-size limit) never leaves half a file: `path` is the old file or the
    whole new one, and a failed write removes its temporary file and raises the OSError. The rename
    replaces a link at `path` itself, never the file it points to. The file gets the permissions a
    plain open() would give (0666 less the umask), not mkstemp's 0600: results written under sudo
    stay readable by their user."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Makes a rename in `folder` durable where the file system allows it (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def jsonable(x: Any) -> Any:
    """`x` with NaN and infinities as null (JSON has none; null reads as "not measured") and numpy
    scalars as Python numbers."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return jsonable(x.item())
    return x


def dumps(doc: Any) -> str:
    return json.dumps(jsonable(doc), indent=2)
