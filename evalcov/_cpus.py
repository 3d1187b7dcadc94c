"""The number of CPUs this process may run on, for thread pools."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs in this process's affinity mask (what a container or ``taskset`` allows), else the
    machine's count; at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity call on this platform (macOS, Windows)
        return os.cpu_count() or 1
