"""Stage lines for long runs: each stage of an analysis is timed, said to the ``evalcov.stages``
logger (the CLI prints it on stderr) and, when progress is shown, ticks a bar (a widget in
notebooks, through ``tqdm.auto``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Stages"]

LOGGER = logging.getLogger("evalcov.stages")


class Stages:
    """Times named stages; ``timings`` maps each finished stage to its wall seconds.

    Parameters
    ----------
    names : sequence of str
        The stages in the order they run (the bar's length).
    show : bool or None
        Show a progress bar over the stages; None waits for :meth:`show_if`.
    """

    def __init__(self, names: tuple[str, ...], show: bool | None):
        self.names = names
        self.timings: dict[str, float] = {}
        self._bar = None
        self._show = show
        if show:
            self._open()

    def _open(self) -> None:
        if LOGGER.handlers and LOGGER.isEnabledFor(logging.INFO):
            return  # someone prints the stage lines (the CLI): lines or a bar, not both
        from tqdm.auto import tqdm

        self._bar = tqdm(total=len(self.names), desc="evalcov", unit="stage")
        self._bar.update(len(self.timings))

    def show_if(self, large: bool) -> None:
        """With ``show=None``, open the bar now when the run is large (stages done so far
        count as done)."""
        if self._show is None and large and self._bar is None:
            self._open()

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        """Run one stage: say that it starts (with ``detail``) and how long it took."""
        LOGGER.info("%s%s", name, f": {detail}" if detail else "")
        if self._bar is not None:
            self._bar.set_postfix_str(name)
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self.close()
            raise
        self.timings[name] = time.perf_counter() - start
        LOGGER.info("%s done in %.1f s", name, self.timings[name])
        if self._bar is not None:
            self._bar.update(1)
            if self._bar.n >= len(self.names):
                self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
