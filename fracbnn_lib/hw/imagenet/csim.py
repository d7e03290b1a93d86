"""Rung L3 for ImageNet: the g++ C-simulation of ``hls/imagenet`` as a Python backend (numpy only).

Built as both accelerators' libraries are (:mod:`fracbnn_lib.hw.csim_build`: the same flags, ap_types headers,
cache and hashing): ``csim_api.cc`` + ``fracnet.cc`` against an export's ``fracnet_config.h``. The DRAM regions
are passed in as they are; images run in parallel C++ threads, each with its own feature-map buffers.
The deploy bundle carries this module (numpy only).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from ..csim_build import COMMON, CsimError, LoopRecord, build_accelerator_library, default_threads, run_counting
from ..csim_build import source_dir as hls_folder
from ..export_folder import CONFIG_HEADER
from .export import load_export
from .layout import OUT_CHANNELS, config_header, image_words, layout_string
from .params import DramRegions

SOURCES = ("typedefs.h", "engines.h", f"{COMMON}/hls_support.h", "fracnet.h", "fracnet.cc", "csim_api.cc")
"""The sources of the library (all part of its hash), relative to ``hls/imagenet``."""
COMPILED = ("fracnet.cc", "csim_api.cc")


def source_dir() -> Path:
    """``hls/imagenet`` (under ``$FRACBNN_HLS_ROOT``, else the repository's ``hls/``), its sources checked."""
    return hls_folder("imagenet", SOURCES)


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


def csim_forward(params: DramRegions, packed: np.ndarray, threads: int | None = None) -> np.ndarray:
    """The accelerator's outputs (pooled sums ``int64[N, 1024]``) of the HLS C++ for ``params`` and input words."""
    library = build_library(config_header(params.formats, params.levels))
    return run_library(library, layout_string(params.levels), params.weights, params.params, packed, threads)


def loop_counts(export_dir: str | Path, packed: np.ndarray) -> list[LoopRecord]:
    """Every pipelined loop the HLS C++ enters for one image, in order: a :class:`LoopRecord` per entry (its
    trips, accesses per memory bank and iteration, carried dependences; the counting build, ``hls_support.h``).

    ``packed``: one image's input words ``[3, 224, 224]`` (or ``[1, 3, 224, 224]``), which :mod:`.cost` must
    match loop by loop.
    """
    manifest, dram = load_export(export_dir)
    library = build_library((Path(export_dir) / CONFIG_HEADER).read_text(), count=True)
    words = image_words(np.asarray(packed).reshape(1, *np.shape(packed)[-3:]))
    weights, params = _regions(dram.weights, dram.params)
    lib = _load(library, manifest["layout"])
    lib.fracnet_count_loops.restype = ctypes.c_long
    lib.fracnet_count_loops.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_long]
    lib.fracnet_count_loops.argtypes += [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_long]
    return run_counting(
        lambda out, capacity: lib.fracnet_count_loops(
            weights.ctypes.data, weights.size, params.ctypes.data, params.size, words.ctypes.data, out, capacity
        ),
        capacity=1 << 23,
    )


class ExportCsim:
    """An export's C-simulation, loaded once (files checked, library built or found) and run many times.

    :meth:`outputs` gives the accelerator's outputs (pooled sums ``int64[N, 1024]``), calling it the logits
    (``float32[N, classes]``, the ARM's classifier on them) of ``[N, 3, 224, 224]`` input words: what a driver
    or a timing loop holds, so that one image does not pay for reading and hashing the DRAM regions again.
    """

    def __init__(self, export_dir: str | Path) -> None:
        self.manifest, self.params = load_export(export_dir)
        self.library = build_library((Path(export_dir) / CONFIG_HEADER).read_text())

    def outputs(self, packed: np.ndarray, threads: int | None = None) -> np.ndarray:
        """The accelerator's outputs: pooled sums ``int64[N, 1024]``."""
        p = self.params
        return run_library(self.library, self.manifest["layout"], p.weights, p.params, packed, threads)

    def __call__(self, packed: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Logits ``float32[N, classes]``."""
        return self.params.logits(self.outputs(packed, threads))


def csim_predict(export_dir: str | Path, packed: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """Logits ``float32[N, classes]`` of the HLS C++ (g++ C-simulation) and the ARM's classifier for an export."""
    return ExportCsim(export_dir)(packed, threads)
