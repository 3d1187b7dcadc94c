"""float32 <-> float16 conversion of embedding blocks.

numpy converts float16 in software on CPUs without AVX512-FP16: about 13 ns per value
narrowing and 5 ns widening, ~10 s of a ten-million-row analysis. torch uses the CPU's
conversion instructions: 6x faster narrowing, 2x widening, and the same bits (IEEE
round-to-nearest-even; checked on every float16 and on 50 million random float32 values).
It is used when something already imported it (the default model does): importing it only
for this added 161 MB to the 10M-row peak. numpy otherwise, and for read-only arrays.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def _torch() -> Any:
    return sys.modules.get("torch")


def to_float16(x: np.ndarray) -> np.ndarray:
    """``x`` as a float16 array (a new one)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    torch = _torch()
    if torch is None or not x.flags.writeable or x.size == 0:
        return x.astype(np.float16)
    return torch.from_numpy(x).to(torch.float16).numpy()


def to_float32(x: np.ndarray) -> np.ndarray:
    """``x`` as float32; float16 is widened, float32 returned as is."""
    x = np.asarray(x)
    if x.dtype != np.float16:
        return x.astype(np.float32, copy=False)
    x = np.ascontiguousarray(x)
    torch = _torch()
    if torch is None or not x.flags.writeable or x.size == 0:
        return x.astype(np.float32)
    return torch.from_numpy(x).to(torch.float32).numpy()
