"""File helpers shared by the writers."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def default_mode(fd: int) -> None:
    """Give a ``tempfile.mkstemp`` file the permissions a plain ``open`` would have.

    mkstemp creates files readable by their owner only (0600); a labeling batch or a saved map
    renamed from it would keep that, unlike every other file the user writes.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    Readers see the old file or the new one, never a partial write; an interrupted write leaves
    no temporary file behind.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    default_mode(fd)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
