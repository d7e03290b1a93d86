"""Bit packing shared by both accelerators: booleans <-> 64-bit words, element ``k`` at bit ``63 - k``.

Bit 1 means +1 (a binary weight ``w > 0``, a feature-map plane's +1, a thermometer level that is on).
numpy only: the deploy bundle carries it.
"""

from __future__ import annotations

import numpy as np

WORD_BITS = 64


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack the last axis (length K <= 64) of a boolean array into uint64 words: element ``k`` -> bit ``63 - k``."""
    bits = np.asarray(bits, dtype=bool)
    k = bits.shape[-1]
    if k > WORD_BITS:
        raise ValueError(f"cannot pack {k} channels into a {WORD_BITS}-bit word")
    shifts = np.arange(WORD_BITS - 1, WORD_BITS - 1 - k, -1, dtype=np.uint64)
    return np.bitwise_or.reduce(bits.astype(np.uint64) << shifts, axis=-1)


def unpack_bits(words: np.ndarray, k: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: uint64 words -> boolean array with a new last axis of length ``k``."""
    shifts = np.arange(WORD_BITS - 1, WORD_BITS - 1 - k, -1, dtype=np.uint64)
    return ((np.asarray(words, dtype=np.uint64)[..., None] >> shifts) & np.uint64(1)).astype(bool)
