"""File helpers shared by the writers."""

from __future__ import annotations

import os


def default_mode(fd: int) -> None:
    """Give a ``tempfile.mkstemp`` file the permissions a plain ``open`` would have.

    mkstemp creates files readable by their owner only (0600); a labeling batch or a saved map
    renamed from it would keep that, unlike every other file the user writes.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
