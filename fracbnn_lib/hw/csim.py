"""Rung L3 of the ladder: C-simulation of the HLS C++ (``hls/cifar10``) as a Python backend.

The accelerator's sources are compiled with g++ against the ``ap_int.h``/``ap_fixed.h`` headers of
the ``hls4ml`` wheel into a shared library (``csim_api.cc`` + ``fracnet.cc``, with
``-DFRACNET_RUNTIME_PARAMS`` so the parameters are read from an export's ``params.bin`` instead
of the constant ROMs of ``weights.h``). One library serves every export with the same formats:

- it is built once into the cache folder of :mod:`fracbnn_lib.kernels.native` (``$FRACBNN_CACHE_DIR``,
  else ``$XDG_CACHE_HOME/fracbnn``, else ``~/.cache/fracbnn``), named by a hash of the sources, the
  generated ``fracnet_config.h``, the ap_types headers, the compiler and its flags, atomically and
  under a lock;
- a call runs several images at once in parallel C++ threads (one per core by default).

Settings (environment): ``CXX`` (compiler, default ``g++``), ``FRACBNN_AP_TYPES`` (folder with
``ap_int.h`` and ``ap_fixed.h``; default: the installed ``hls4ml`` package's
``templates/vivado/ap_types``, else ``ap_types/`` beside the sources, as a deploy bundle carries
them), ``FRACBNN_HLS_DIR`` (the accelerator sources; default: the repository's ``hls/cifar10``),
``FRACBNN_CACHE_DIR``.

numpy only (no PyTorch) for an export on disk (:func:`csim_predict` reads the export's own
``fracnet_config.h`` and ``params.bin``): the deploy bundle carries this module, the sources and the
headers, so a board's ARM or a laptop without PyTorch re-derives the C-simulation's logits.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..kernels import native
from .layout import CLASSES, check_packed, layout_string
from .manifest import CONFIG_HEADER, checked_params_blob

if TYPE_CHECKING:
    from .fixed_point import Formats
    from .params import AcceleratorParams

COMMON = "../common"
"""The support header both accelerators share (``hls/common``), relative to an accelerator's folder."""
SOURCES = ("typedefs.h", "params.h", f"{COMMON}/hls_support.h", "layers.h", "fracnet.h", "fracnet.cc", "csim_api.cc")
"""The accelerator sources the C-simulation library is built from (all part of its hash), relative to its folder."""
COMPILED = ("fracnet.cc", "csim_api.cc")
LIBRARY_PREFIX = "libfracnet-csim-"


class CsimError(RuntimeError):
    """The C-simulation library cannot be built or used (its message is one line and says what to do)."""


def hls_source_dir() -> Path:
    """The accelerator's C++ sources (``$FRACBNN_HLS_DIR``, else the repository's ``hls/cifar10``)."""
    folder = Path(os.environ.get("FRACBNN_HLS_DIR") or Path(__file__).resolve().parents[2] / "hls" / "cifar10")
    missing = [name for name in SOURCES if not (folder / name).is_file()]
    if missing:
        raise CsimError(
            f"HLS sources not found in {folder} (missing {', '.join(missing)}): "
            "run from a repository checkout or set FRACBNN_HLS_DIR to its hls/cifar10 folder"
        )
    return folder


AP_TYPES_BESIDE_SOURCES = "ap_types"
"""Where a deploy bundle puts the ap_types headers: ``hls/ap_types/`` beside ``hls/cifar10/``."""


def ap_types_dir() -> Path:
    """The folder with ``ap_int.h`` and ``ap_fixed.h``: ``$FRACBNN_AP_TYPES``, the hls4ml wheel's, or the bundle's."""
    configured = os.environ.get("FRACBNN_AP_TYPES")
    spec = importlib.util.find_spec("hls4ml")
    if configured:
        folder = Path(configured)
    elif spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "templates" / "vivado" / "ap_types"
    else:
        folder = hls_source_dir().parent / AP_TYPES_BESIDE_SOURCES
        if not folder.is_dir():
            raise CsimError(
                "the ap_types headers (ap_int.h, ap_fixed.h) are needed: pip install hls4ml "
                "(or set FRACBNN_AP_TYPES to a folder holding them)"
            )
    if not all((folder / header).is_file() for header in ("ap_int.h", "ap_fixed.h")):
        raise CsimError(
            f"ap_int.h and ap_fixed.h not found in {folder}: pip install hls4ml "
            "(or set FRACBNN_AP_TYPES to a folder holding them)"
        )
    return folder


def compiler() -> str:
    """The C++ compiler (``$CXX``, default ``g++``) as a path; :class:`CsimError` if it is not installed."""
    return native.compiler(CsimError)


def compile_flags(count: bool = False) -> list[str]:
    """g++ flags of the C-simulation library (``-mpopcnt`` on x86-64 for the XNOR-popcount).

    ``count``: the counting build (``-DFRACNET_COUNT``), which logs every pipelined loop's trips.
    """
    flags = ["-O3", "-std=c++14", "-fPIC", "-shared", "-pthread", "-w", "-DFRACNET_RUNTIME_PARAMS"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        flags.append("-mpopcnt")
    return [*flags, "-DFRACNET_COUNT"] if count else flags


def build_accelerator_library(
    sources: Path,
    names: Sequence[str],
    compiled: Sequence[str],
    config: str,
    *,
    prefix: str,
    count: bool = False,
) -> Path:
    """An accelerator's C-simulation library (both accelerators build theirs here), built if not cached.

    ``sources``: the accelerator's folder; ``names``: every source the library depends on (relative
    to it; all part of the cache key with ``config``, the ``fracnet_config.h`` text, the ap_types
    headers, the compiler and the flags); ``compiled``: the files g++ compiles; ``prefix``: the
    library's file name before the hash. Raises :class:`CsimError` (one line) if g++ or the ap_types
    headers are missing, or if the build fails.
    """
    ap_types, cxx = ap_types_dir(), compiler()
    parts = [name.encode() + b"\0" + (sources / name).read_bytes() for name in names]
    parts.append(config.encode())
    for header in sorted(ap_types.rglob("*.h")):
        parts.append(str(header.relative_to(ap_types)).encode() + b"\0" + header.read_bytes())
    parts += [native.compiler_identity(cxx), " ".join(compile_flags(count)).encode()]

    def command(work: Path, target: Path) -> list[str]:
        (work / CONFIG_HEADER).write_text(config)
        flags = [*compile_flags(count), f"-I{work}", f"-I{sources}", f"-I{sources / COMMON}", f"-I{ap_types}"]
        return [cxx, *flags, *(str(sources / name) for name in compiled), "-o", str(target)]

    name = f"{prefix}{native.content_hash(f'fracbnn {prefix} v2', parts)}.so"
    return native.build_cached(name, command, "C-simulation library", CsimError)


def build_library_for_config(config: str, *, count: bool = False) -> Path:
    """The CIFAR-10 C-simulation library for a ``fracnet_config.h`` (its text), built if not cached.

    ``count``: the counting build (:func:`csim_loop_counts`, for the cost model's check). Raises
    :class:`CsimError` (one line) if g++, the ap_types headers or the sources are missing, or if the
    build fails.
    """
    return build_accelerator_library(hls_source_dir(), SOURCES, COMPILED, config, prefix=LIBRARY_PREFIX, count=count)


def build_library(formats: Formats, levels: int, *, count: bool = False) -> Path:
    """:func:`build_library_for_config` of the ``fracnet_config.h`` an export with ``formats`` and ``levels`` writes."""
    from .headers import config_header

    return build_library_for_config(config_header(formats, levels), count=count)


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


def default_threads() -> int:
    """CPU cores available to this process."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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
    """Run the HLS C++ on ``packed`` (``uint64[N, 3, 32, 32]``) with ``params``: logits ``float32[N, 10]``."""
    return run_library(build_library(params.formats, params.levels), params.to_blob(), packed, threads)


def csim_loop_counts(export_dir: str | Path, packed: np.ndarray) -> list[tuple[str, int]]:
    """The pipelined loops the HLS C++ runs for one image, in order: ``(loop label, trips)`` per pipeline entry.

    ``packed``: ``uint64[3, 32, 32]`` (or ``[1, 3, 32, 32]``). Runs the counting build of the
    C-simulation library (``hls_support.h``: ``FRACNET_LOOP_ENTER``/``FRACNET_LOOP_TRIP``), which
    :mod:`fracbnn_lib.hw.cost` must match loop by loop.
    """
    _, blob = checked_params_blob(export_dir)
    image = check_packed(np.asarray(packed).reshape(1, *np.shape(packed)[-3:]))
    lib = _load(build_library_for_config((Path(export_dir) / CONFIG_HEADER).read_text(), count=True))
    lib.fracnet_count_loops.restype = ctypes.c_long
    lib.fracnet_count_loops.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_long]
    out = ctypes.create_string_buffer(1 << 16)
    length = lib.fracnet_count_loops(blob, len(blob), image.ctypes.data, out, len(out))
    if length < 0:
        raise CsimError(f"the counting build of the C-simulation failed (status {length})")
    entries = [item.rsplit(":", 1) for item in out.value.decode().split(";") if item]
    return [(loop, int(trips)) for loop, trips in entries]


def csim_predict(export_dir: str | Path, packed: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """Logits ``float32[N, 10]`` of the HLS C++ (g++ C-simulation) for an export and packed input words.

    ``export_dir``: a folder written by :func:`fracbnn_lib.hw.export_accelerator` (its ``manifest.json``,
    ``params.bin`` and ``fracnet_config.h``); ``packed``: ``uint64[N, 3, 32, 32]`` as
    :func:`fracbnn_lib.pack_thermometer` makes them. The first call for a set of formats compiles the
    library (about 10-30 s); later calls, in any process, reuse it. Needs no PyTorch.
    """
    return ExportCsim(export_dir)(packed, threads)


class ExportCsim:
    """An export's C-simulation, loaded once (``params.bin`` checked, library built or found) and run many times.

    Calling it with ``uint64[N, 3, 32, 32]`` input words returns logits ``float32[N, 10]``; what a driver or
    a timing loop holds, so that an image does not pay for rereading and hashing the export and the sources.
    """

    def __init__(self, export_dir: str | Path) -> None:
        _, self.blob = checked_params_blob(export_dir)
        self.library = build_library_for_config((Path(export_dir) / CONFIG_HEADER).read_text())

    def __call__(self, packed: np.ndarray, threads: int | None = None) -> np.ndarray:
        return run_library(self.library, self.blob, packed, threads)
