"""Building an accelerator's C-simulation library (rung L3), shared by both accelerators.

An accelerator's HLS C++ (``hls/<accelerator>/``) is compiled with g++ against the ``ap_int.h``/``ap_fixed.h``
headers of the ``hls4ml`` wheel into a shared library (its ``csim_api.cc`` + ``fracnet.cc``, with
``-DFRACNET_RUNTIME_PARAMS`` so the parameters are passed in at run time instead of being compiled in):

- it is built once into the cache folder of :mod:`fracbnn_lib.kernels.native` (``$FRACBNN_CACHE_DIR``,
  else ``$XDG_CACHE_HOME/fracbnn``, else ``~/.cache/fracbnn``), named by a hash of the sources, the
  export's generated ``fracnet_config.h``, the ap_types headers, the compiler and its flags, atomically
  and under a lock;
- a call runs several images at once in parallel C++ threads (one per core by default);
- the counting build (``-DFRACNET_COUNT``, ``hls/common/hls_support.h``) logs one image's pipeline entries:
  their trips and per declared on-chip memory the most accesses to one bank in one iteration, the ports
  and the dependences carried through it (:class:`LoopRecord`, :func:`parse_loop_report`), which the
  cost models (:mod:`fracbnn_lib.hw.cost_model`) must match.

Settings (environment): ``CXX`` (compiler, default ``g++``), ``FRACBNN_AP_TYPES`` (folder with
``ap_int.h`` and ``ap_fixed.h``; default: the installed ``hls4ml`` package's
``templates/vivado/ap_types``, else ``ap_types/`` in the HLS folder, as a deploy bundle carries them),
``FRACBNN_HLS_ROOT`` (the folder holding ``cifar10/``, ``imagenet/`` and ``common/``; default: the
repository's ``hls/``), ``FRACBNN_CACHE_DIR``.

numpy only (no PyTorch): the deploy bundle carries this module, the sources and the headers, so a
board's ARM or a laptop without PyTorch re-derives the C-simulation's outputs.
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from ..kernels import native
from .export_folder import CONFIG_HEADER

AP_TYPES_IN_HLS_ROOT = "ap_types"
"""Where a deploy bundle puts the ap_types headers: ``hls/ap_types/`` beside ``hls/cifar10/``."""


class CsimError(RuntimeError):
    """The C-simulation library cannot be built or used (its message is one line and says what to do)."""


def hls_root() -> Path:
    """The folder of the HLS sources: ``$FRACBNN_HLS_ROOT``, else the repository's ``hls/``."""
    return Path(os.environ.get("FRACBNN_HLS_ROOT") or Path(__file__).resolve().parents[2] / "hls")


def source_dir(folder: str, sources: Sequence[str]) -> Path:
    """``hls_root() / folder`` after checking that it holds ``sources``; :class:`CsimError` (one line) otherwise."""
    path = hls_root() / folder
    missing = [name for name in sources if not (path / name).is_file()]
    if missing:
        raise CsimError(
            f"HLS sources not found in {path} (missing {', '.join(missing)}): "
            "run from a repository checkout or set FRACBNN_HLS_ROOT to its hls folder"
        )
    return path


COMMON = "../common"
"""The support header both accelerators share (``hls/common``), relative to an accelerator's folder."""


def ap_types_dir() -> Path:
    """The folder with ``ap_int.h`` and ``ap_fixed.h``: ``$FRACBNN_AP_TYPES``, the hls4ml wheel's, or the bundle's."""
    configured = os.environ.get("FRACBNN_AP_TYPES")
    spec = importlib.util.find_spec("hls4ml")
    if configured:
        folder = Path(configured)
    elif spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "templates" / "vivado" / "ap_types"
    else:
        folder = hls_root() / AP_TYPES_IN_HLS_ROOT
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


def default_threads() -> int:
    """CPU cores available to this process."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# --------------------------------------------------------------------------- the counting build's log


class PortUse(NamedTuple):
    """One declared on-chip memory in one pipelined loop entry (``hls/common/hls_support.h``).

    ``accesses``: the most accesses (reads and writes) to one of its banks in one iteration; ``ports``: its
    ports per bank (2: true dual-port RAM, 1: single-port ROM or RAM). A simple dual-port RAM (``RAM_S2P_BRAM``: one
    port reads, the other writes) is counted per direction: the most reads, or the most writes, against 1 port.
    """

    array: str
    accesses: int
    ports: int

    @property
    def ii(self) -> int:
        """The smallest II these ports allow: ``ceil(accesses / ports)``."""
        return math.ceil(self.accesses / self.ports) if self.ports else 0


class LoopRecord(NamedTuple):
    """One pipeline entry as the counting build logs it, and as a cost model predicts it.

    ``port_use``: every declared memory the entry's iterations touch (sorted by name); ``carried``: ``(array,
    distance)`` for each memory an iteration reads after an earlier iteration of the entry wrote the element,
    with the smallest such distance in iterations: a dependence carried through memory (sorted by name).
    """

    loop: str
    trips: int
    port_use: tuple[PortUse, ...] = ()
    carried: tuple[tuple[str, int], ...] = ()


def parse_loop_report(text: str) -> list[LoopRecord]:
    """The records of ``fracnet_loop_report`` (``LOOP:trips|array,accesses,ports,distance|...;``), in order."""
    records = []
    for item in text.split(";"):
        if not item:
            continue
        head, *uses = item.split("|")
        loop, trips = head.rsplit(":", 1)
        fields = [use.split(",") for use in uses]
        port_use = tuple(sorted(PortUse(name, int(accesses), int(ports)) for name, accesses, ports, _ in fields))
        carried = tuple(sorted((name, int(distance)) for name, _, _, distance in fields if int(distance) > 0))
        records.append(LoopRecord(loop, int(trips), port_use, carried))
    return records


def run_counting(count: Callable[[ctypes.Array, int], int], capacity: int = 1 << 20) -> list[LoopRecord]:
    """Run a counting build's ``fracnet_count_loops`` (``count(buffer, capacity)``: the text's length, ``-2`` if the
    buffer is too small, another negative status on failure) with a buffer that fits, and parse its log."""
    while True:
        out = ctypes.create_string_buffer(capacity)
        length = count(out, capacity)
        if length == -2:
            capacity *= 8
            continue
        if length < 0:
            raise CsimError(f"the counting build of the C-simulation failed (status {length})")
        return parse_loop_report(out.value.decode())
