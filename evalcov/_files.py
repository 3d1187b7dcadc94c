"""File helpers shared by the writers."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def default_mode(fd: int) -> None:
    """Give a ``tempfile.mkstemp`` file the permissions a plain ``open`` would have.

    mkstemp creates files readable by their owner only (0600); a labeling batch or a saved map
    renamed from it would keep that, unlike every other file the user writes.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, overwrite: bool = True) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` only once everything was written.

    The data goes to a temporary file in the same folder, is flushed to disk, then renamed over
    ``path``. A process killed (or an exception raised) at any point leaves the old ``path``
    or none, never a truncated one; an exception also removes the temporary file. With
    ``overwrite=False`` an existing ``path`` (even one that appeared meanwhile) is never
    replaced: FileExistsError.
    """
    path = Path(os.fspath(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    default_mode(fd)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path, overwrite)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _publish(tmp: str, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    # A hard link fails if the target appeared meanwhile, so a concurrent writer is never
    # clobbered; filesystems without hard links fall back to the checked rename.
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(
            f"path: {str(path)!r} already exists; pass overwrite=True to replace it"
        ) from None
    except OSError:
        if path.exists():
            raise FileExistsError(
                f"path: {str(path)!r} already exists; pass overwrite=True to replace it"
            ) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_write`."""
    with atomic_write(path) as f:
        f.write(data)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; not supported on every platform (e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
