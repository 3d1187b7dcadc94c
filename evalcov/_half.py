"""float32 <-> float16 conversion: embedding blocks and language probabilities.

numpy converts float16 in software on CPUs without AVX512-FP16: about 13 ns per value
narrowing and 5 ns widening, and a slow path for every value that is subnormal in float16
(< 6.1e-5), as most language probabilities of a short text are. torch uses the CPU's
conversion instructions: 6x faster narrowing, 2x widening, and the same bits (IEEE
round-to-nearest-even; checked on every float16 and on 50 million random float32 values).
It is used when something already imported it (the default model does): importing it only
for this added 161 MB to the 10M-row peak. Otherwise widening goes through a table of all
65,536 float16 values and narrowing is numpy's, or bit arithmetic for probabilities.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

_TABLE = np.arange(2**16, dtype=np.uint16).view(np.float16).astype(np.float32)
_MAGIC = np.uint32(((127 - 15) + (23 - 10) + 1) << 23)
_REBIAS = np.uint32((((15 - 127) << 23) + 0xFFF) % 2**32)


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
        return _TABLE[x.view(np.uint16)]
    return torch.from_numpy(x).to(torch.float32).numpy()


def probabilities_to_float16(x: np.ndarray) -> np.ndarray:
    """Non-negative finite float32 values <= 1 as float16, rounded to nearest even as numpy
    does, without its slow path for float16 subnormals (F. Giesen's
    float_to_half_fast3_rtne, vectorized; checked against numpy on every float32 in [0, 1])."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    u = x.view(np.uint32)
    out = u + _REBIAS
    out += (u >> 13) & np.uint32(1)
    out >>= 13
    small = u < np.uint32(113 << 23)  # subnormal or zero in float16
    if small.any():
        out[small] = (x[small] + _MAGIC.view(np.float32)).view(np.uint32) - _MAGIC
    return out.astype(np.uint16).view(np.float16)
