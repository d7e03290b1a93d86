"""Rung L3 for ImageNet: the g++ C-simulation of ``hls/imagenet`` as a Python backend (numpy only).

Built like the CIFAR-10 library (:mod:`fracbnn_lib.hw.csim`: the same flags, ap_types headers, cache
and hashing): ``csim_api.cc`` + ``fracnet.cc`` against an export's ``fracnet_config.h``. The DRAM images
are passed in as they are; images run in parallel C++ threads, each with its own feature-map buffers.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np

from ..csim import COMMON, CsimError, build_accelerator_library, default_threads
from .layout import OUT_CHANNELS, image_words

SOURCES = ("typedefs.h", "engines.h", f"{COMMON}/hls_support.h", "fracnet.h", "fracnet.cc", "csim_api.cc")
"""The sources of the library (all part of its hash), relative to ``hls/imagenet``."""
COMPILED = ("fracnet.cc", "csim_api.cc")


def source_dir() -> Path:
    """``hls/imagenet`` of the repository (or ``$FRACBNN_HLS_IMAGENET_DIR``)."""
    folder = Path(
        os.environ.get("FRACBNN_HLS_IMAGENET_DIR") or Path(__file__).resolve().parents[3] / "hls" / "imagenet"
    )
    missing = [name for name in SOURCES if not (folder / name).is_file()]
    if missing:
        raise CsimError(
            f"HLS sources not found in {folder} (missing {', '.join(missing)}): run from a repository checkout"
        )
    return folder


def build_library(config: str, *, count: bool = False) -> Path:
    """The ImageNet C-simulation library for a ``fracnet_config.h`` text, built once and cached.

    ``count``: the counting build (:func:`loop_counts`, for the cost model's check).
    """
    return build_accelerator_library(
        source_dir(), SOURCES, COMPILED, config, prefix="libfracnet-imagenet-csim-", count=count
    )


def _load(library: Path, layout: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(library))
    lib.fracnet_layout.restype = ctypes.c_char_p
    if lib.fracnet_layout().decode() != layout:
        raise CsimError(f"{library.name} was built for another layout ({lib.fracnet_layout().decode()}), not {layout}")
    lib.fracnet_predict.restype = ctypes.c_int
    lib.fracnet_predict.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_long]
    lib.fracnet_predict.argtypes += [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_int]
    return lib


def _regions(weights: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.ascontiguousarray(weights, dtype=np.uint64), np.ascontiguousarray(params, dtype=np.int64)


def run_library(
    library: Path, layout: str, weights: np.ndarray, params: np.ndarray, packed: np.ndarray, threads: int | None = None
) -> np.ndarray:
    """Pooled sums ``int64[N, 1024]`` of the C++ for input words ``[N, 3, 224, 224]`` and the DRAM images."""
    words = image_words(packed)
    weights, params = _regions(weights, params)
    lib = _load(library, layout)
    pooled = np.zeros((len(words), OUT_CHANNELS), dtype=np.int64)
    status = lib.fracnet_predict(
        weights.ctypes.data, weights.size, params.ctypes.data, params.size,
        words.ctypes.data, pooled.ctypes.data, len(words), threads or default_threads(),
    )  # fmt: skip
    if status != 0:
        raise CsimError("the ImageNet C-simulation library rejected the DRAM images (sizes do not match its layout)")
    return pooled


def loop_counts(
    library: Path, layout: str, weights: np.ndarray, params: np.ndarray, packed: np.ndarray
) -> list[tuple[str, int]]:
    """Every pipelined loop the C++ enters for one image, in order: ``(label, trips)`` (a counting-build library)."""
    words = image_words(np.asarray(packed).reshape(1, *np.shape(packed)[-3:]))
    weights, params = _regions(weights, params)
    lib = _load(library, layout)
    lib.fracnet_count_loops.restype = ctypes.c_long
    lib.fracnet_count_loops.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_long]
    lib.fracnet_count_loops.argtypes += [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_long]
    out = ctypes.create_string_buffer(1 << 20)
    length = lib.fracnet_count_loops(
        weights.ctypes.data, weights.size, params.ctypes.data, params.size, words.ctypes.data, out, len(out)
    )
    if length < 0:
        raise CsimError(f"the counting build of the ImageNet C-simulation failed (status {length})")
    entries = [item.rsplit(":", 1) for item in out.value.decode().split(";") if item]
    return [(label, int(trips)) for label, trips in entries]
