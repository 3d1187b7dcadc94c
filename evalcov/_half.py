"""float32 <-> float16 conversion: embedding blocks and language probabilities.

numpy converts float16 in software on CPUs without AVX512-FP16: about 13 ns per value
narrowing and 5 ns widening, and a slow path for every value that is subnormal in float16
(< 6.1e-5), as most language probabilities of a short text are. torch uses the CPU's
conversion instructions: 6x faster narrowing, 2x widening, and the same bits (IEEE
round-to-nearest-even; checked on every float16 and on 50 million random float32 values).
It is used when something already imported it (the default model does): importing it only
for this added 161 MB to the 10M-row peak. Otherwise embeddings are converted by bit
arithmetic over cache-sized chunks, with the same bits (narrowing 1.3x numpy's speed,
widening 1.5x numpy's and 2x the table's; measured under load), and probabilities, mostly
float16 subnormals, by bit arithmetic narrowing and a table of all 65,536 float16 values
widening (the bit arithmetic's multiplication takes the CPU's slow path on subnormals).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

_TABLE = np.arange(2**16, dtype=np.uint16).view(np.float16).astype(np.float32)
_MAGIC = np.uint32(((127 - 15) + (23 - 10) + 1) << 23)
_REBIAS = np.uint32((((15 - 127) << 23) + 0xFFF) % 2**32)
# float16 bits shifted into a float32's place (sign kept, 3 exponent bits cleared) read as the
# value times 2**-112, subnormals included: one exact multiplication restores it.
_SHIFTED_BITS = np.uint32(0x8FFFE000).view(np.int32)
_UNSHIFT = np.float32(2.0**112)
# float32 magnitudes (as bits) from 65,536 up, infinity and NaN: left to numpy.
_OUT_OF_RANGE = np.uint32(0x47800000)
# Values per step of the bit arithmetic: its temporaries stay in the CPU's cache.
_CHUNK = 2**15


def _torch() -> Any:
    return sys.modules.get("torch")


def to_float16(x: np.ndarray) -> np.ndarray:
    """``x`` as a float16 array (a new one)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    torch = _torch()
    if torch is None or not x.flags.writeable or x.size == 0:
        return _narrow(x)
    return torch.from_numpy(x).to(torch.float16).numpy()


def to_float32(x: np.ndarray) -> np.ndarray:
    """``x`` as float32; float16 is widened, float32 returned as is."""
    x = np.asarray(x)
    if x.dtype != np.float16:
        return x.astype(np.float32, copy=False)
    x = np.ascontiguousarray(x)
    torch = _torch()
    if torch is None or not x.flags.writeable or x.size == 0:
        return _widen(x)
    return torch.from_numpy(x).to(torch.float32).numpy()


def probabilities_to_float32(x: np.ndarray) -> np.ndarray:
    """float16 probabilities widened to float32, as :func:`to_float32` does for embeddings,
    through the table when torch is not loaded (most such values are float16 subnormals)."""
    x = np.ascontiguousarray(x, dtype=np.float16)
    torch = _torch()
    if torch is None or not x.flags.writeable or x.size == 0:
        return _TABLE[x.view(np.uint16)]
    return torch.from_numpy(x).to(torch.float32).numpy()


def _widen(x: np.ndarray) -> np.ndarray:
    """Contiguous float16 ``x`` as float32, by bit arithmetic (exact for every float16)."""
    half = x.reshape(-1).view(np.int16)
    out = np.empty(half.shape, dtype=np.float32)
    bits = out.view(np.int32)
    for start in range(0, len(half), _CHUNK):
        chunk = bits[start : start + _CHUNK]
        chunk[...] = half[start : start + _CHUNK]  # sign-extended
        chunk <<= 13
        chunk &= _SHIFTED_BITS
        out[start : start + _CHUNK] *= _UNSHIFT
    # Infinity and NaN (float16 exponent 31) come out finite, >= 65,536 in magnitude.
    if out.size and (out.max() >= 65536 or out.min() <= -65536):
        return _TABLE[x.view(np.uint16)]
    return out.reshape(x.shape)


def _narrow(x: np.ndarray) -> np.ndarray:
    """Contiguous float32 ``x`` as float16, rounded to nearest even as numpy does (the
    magnitudes by :func:`_half_bits`, then the sign)."""
    bits = x.reshape(-1).view(np.uint32)
    out = np.empty(bits.shape, dtype=np.uint16)
    for start in range(0, len(bits), _CHUNK):
        u = bits[start : start + _CHUNK]
        mag = u & np.uint32(0x7FFFFFFF)
        if mag.max() >= _OUT_OF_RANGE:
            return x.astype(np.float16)
        half = _half_bits(mag, blend=False)
        sign = u >> 16
        sign &= np.uint32(0x8000)
        half |= sign
        out[start : start + _CHUNK] = half
    return out.view(np.float16).reshape(x.shape)


def probabilities_to_float16(x: np.ndarray) -> np.ndarray:
    """Non-negative finite float32 values <= 1 as float16, rounded to nearest even as numpy
    does, without its slow path for float16 subnormals (checked against numpy on every
    float32 in [0, 1])."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    bits = x.reshape(-1).view(np.uint32)
    out = np.empty(bits.shape, dtype=np.uint16)
    for start in range(0, len(bits), _CHUNK):
        out[start : start + _CHUNK] = _half_bits(bits[start : start + _CHUNK], blend=True)
    return out.view(np.float16).reshape(x.shape)


def _half_bits(mag: np.ndarray, blend: bool) -> np.ndarray:
    """float16 bits (in uint32) of float32 magnitudes given as bits (sign clear, below
    65,536), rounded to nearest even: F. Giesen's float_to_half_fast3_rtne, vectorized.

    Values subnormal in float16 take another formula. ``blend=False`` recomputes only those,
    picked by a boolean mask: cheap where they are rare (embeddings). ``blend=True`` computes
    both formulas for every value and keeps one by arithmetic: where most values are
    subnormal (language probabilities) the mask cost 27 ns per value against 4."""
    half = mag >> 13
    half &= np.uint32(1)
    half += mag
    half += _REBIAS
    half >>= 13
    small = mag < np.uint32(113 << 23)
    if not blend:
        tiny = mag[small]
        if len(tiny):
            half[small] = (tiny.view(np.float32) + _MAGIC.view(np.float32)).view(np.uint32) - _MAGIC
        return half
    subnormal = (mag.view(np.float32) + _MAGIC.view(np.float32)).view(np.uint32)
    subnormal -= _MAGIC
    # half + (subnormal - half) * small, in wrapping uint32 arithmetic.
    subnormal -= half
    subnormal *= small
    subnormal += half
    return subnormal
