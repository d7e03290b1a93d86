"""Rung L3 for CIFAR-10: the g++ C-simulation of ``hls/cifar10`` as a Python backend (numpy only).

Built as both accelerators' libraries are (:mod:`fracbnn_lib.hw.csim_build`: the same flags, ap_types headers,
cache and hashing): ``csim_api.cc`` + ``fracnet.cc`` against an export's ``fracnet_config.h``, with
``-DFRACNET_RUNTIME_PARAMS`` so the parameters are read from the export's ``params.bin`` instead of the
constant ROMs of ``weights.h``. One library serves every export with the same formats and levels; images
run in parallel C++ threads. The deploy bundle carries this module, the sources and the headers, so a
board's ARM or a laptop without PyTorch re-derives the C-simulation's logits.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from ..csim_build import COMMON, CsimError, LoopRecord, build_accelerator_library, default_threads, run_counting
from ..csim_build import source_dir as hls_folder
from ..export_folder import CONFIG_HEADER
from .export import load_export
from .layout import CLASSES, check_packed, layout_string
from .params import AcceleratorParams

SOURCES = ("typedefs.h", "params.h", f"{COMMON}/hls_support.h", "layers.h", "fracnet.h", "fracnet.cc", "csim_api.cc")
"""The accelerator sources the C-simulation library is built from (all part of its hash), relative to its folder."""
COMPILED = ("fracnet.cc", "csim_api.cc")
LIBRARY_PREFIX = "libfracnet-csim-"


def source_dir() -> Path:
    """``hls/cifar10`` (under ``$FRACBNN_HLS_ROOT``, else the repository's ``hls/``), its sources checked."""
    return hls_folder("cifar10", SOURCES)


def build_library(config: str, *, count: bool = False) -> Path:
    """The CIFAR-10 C-simulation library for a ``fracnet_config.h`` (its text), built if not cached.

    ``count``: the counting build (:func:`loop_counts`, for the cost model's check). Raises
    :class:`CsimError` (one line) if g++, the ap_types headers or the sources are missing, or if the
    build fails.
    """
    return build_accelerator_library(source_dir(), SOURCES, COMPILED, config, prefix=LIBRARY_PREFIX, count=count)


def _load(library: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(library))
    lib.fracnet_layout.restype = ctypes.c_char_p
    lib.fracnet_config.restype = ctypes.c_char_p
    lib.fracnet_predict.restype = ctypes.c_int
    lib.fracnet_predict.argtypes = [
        ctypes.c_char_p,
        ctypes.c_long,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_long,
        ctypes.c_int,
    ]
    if lib.fracnet_layout().decode() != layout_string():
        raise CsimError(f"{library.name} was built for another parameter layout: delete it from {library.parent}")
    return lib


def run_library(library: Path, blob: bytes, packed: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Run the library on ``packed`` (``uint64[N, 3, 32, 32]``) with the parameters ``blob`` (``params.bin``).

    Images are spread over ``threads`` C++ threads (default: the available cores). Logits ``float32[N, 10]``.
    """
    packed = check_packed(packed)
    lib = _load(library)
    out = np.empty((len(packed), CLASSES), dtype=np.float32)
    status = lib.fracnet_predict(
        blob, len(blob), packed.ctypes.data, out.ctypes.data, len(packed), threads or default_threads()
    )
    if status != 0:
        raise CsimError("the C-simulation library rejected the parameters (size does not match its layout)")
    return out


def csim_forward(params: AcceleratorParams, packed: np.ndarray, threads: int | None = None) -> np.ndarray:
    """The accelerator's outputs (logits ``float32[N, 10]``) of the HLS C++ for ``params`` and input words."""
    from .headers import config_header

    library = build_library(config_header(params.formats, params.levels))
    return run_library(library, params.to_blob(), packed, threads)


def loop_counts(export_dir: str | Path, packed: np.ndarray) -> list[LoopRecord]:
    """The pipelined loops the HLS C++ runs for one image, in order: a :class:`LoopRecord` per pipeline entry.

    ``packed``: ``uint64[3, 32, 32]`` (or ``[1, 3, 32, 32]``). Runs the counting build of the
    C-simulation library (``hls_support.h``): per entry its trips, and per declared on-chip memory its
    iterations touch the most accesses to one bank in one iteration, its ports, and any dependence
    carried through it; :mod:`.cost` must match it loop by loop.
    """
    _, params = load_export(export_dir)
    blob = params.to_blob()
    image = check_packed(np.asarray(packed).reshape(1, *np.shape(packed)[-3:]))
    lib = _load(build_library((Path(export_dir) / CONFIG_HEADER).read_text(), count=True))
    lib.fracnet_count_loops.restype = ctypes.c_long
    lib.fracnet_count_loops.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_long]
    return run_counting(
        lambda out, capacity: lib.fracnet_count_loops(blob, len(blob), image.ctypes.data, out, capacity)
    )


class ExportCsim:
    """An export's C-simulation, loaded once (files checked, library built or found) and run many times.

    :meth:`outputs` gives the accelerator's outputs, calling it the logits (``float32[N, 10]``, here the
    same) of ``uint64[N, 3, 32, 32]`` input words: what a driver or a timing loop holds, so that an image
    does not pay for rereading and hashing the export and the sources.
    """

    def __init__(self, export_dir: str | Path) -> None:
        self.manifest, self.params = load_export(export_dir)
        self.blob = self.params.to_blob()
        self.library = build_library((Path(export_dir) / CONFIG_HEADER).read_text())

    def outputs(self, packed: np.ndarray, threads: int | None = None) -> np.ndarray:
        """The accelerator's outputs: logits ``float32[N, 10]``."""
        return run_library(self.library, self.blob, packed, threads)

    def __call__(self, packed: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Logits ``float32[N, 10]``."""
        return self.params.logits(self.outputs(packed, threads))


def csim_predict(export_dir: str | Path, packed: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """Logits ``float32[N, 10]`` of the HLS C++ (g++ C-simulation) for an export and packed input words.

    ``export_dir``: a folder written by :func:`~.export.export_accelerator`; ``packed``: ``uint64[N, 3, 32,
    32]`` (:func:`~.export.pack_images`). The first call for a set of formats compiles the library (about
    10-30 s); later calls, in any process, reuse it. Needs no PyTorch.
    """
    return ExportCsim(export_dir)(packed, threads)
