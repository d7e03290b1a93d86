"""Building an accelerator's C++ unit tests (``hls/<accelerator>/unit_tests.cc``) with g++, for both test modules.

As the C-simulation library is built: the accelerator's sources, ``hls/common`` and the ap_types headers of the
hls4ml wheel, against a generated ``fracnet_config.h``. The program runs one sub-command per primitive, reading
integers on stdin and printing integers, which the tests compare with the numpy reference.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from fracbnn_lib.hw.csim_build import ap_types_dir, compiler


def build_unit_tests(hls_dir: Path, config: str, folder: Path, *flags: str) -> Path:
    """``hls_dir/unit_tests.cc`` compiled into ``folder`` against ``config`` (a ``fracnet_config.h`` text).

    A missing g++ or a failed build fails the calling test, with the compiler's message.
    """
    (folder / "fracnet_config.h").write_text(config)
    target = folder / "unit_tests"
    includes = [f"-I{folder}", f"-I{hls_dir}", f"-I{hls_dir.parent / 'common'}", f"-I{ap_types_dir()}"]
    command = [compiler(), "-O1", "-w", *flags, *includes, str(hls_dir / "unit_tests.cc"), "-o", str(target)]
    built = subprocess.run(command, capture_output=True, text=True)
    assert built.returncode == 0, f"building unit_tests.cc failed:\n{built.stderr}"
    return target


def run_unit_tests(program: Path, command: str, values) -> list[str]:
    """Run one sub-command on ``values`` (integers, written to stdin); what it prints, one string per integer."""
    text = " ".join(str(int(v)) for v in values)
    done = subprocess.run([str(program), command], input=text, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"unit_tests {command} failed: {done.stderr}"
    return done.stdout.split()


SYNTHESIS_SHIM = """// The open-source ap_types stop on __SYNTHESIS__ (#error): include them without it, then define it.
#undef __SYNTHESIS__
#include <ap_fixed.h>
#include <ap_int.h>
#define __SYNTHESIS__ 1
"""
SYNTAX_FLAGS = ("-fsyntax-only", "-pedantic", "-Wall", "-Wno-unknown-pragmas", "-Wno-unused-label")


def front_end_complaints(hls_dir: Path, export_dir: Path, folder: Path) -> dict[str, str]:
    """What g++ says (empty: nothing) of an accelerator's sources as an HLS tool's front ends read them.

    ``synthesis c++11`` / ``synthesis c++0x``: ``fracnet.cc`` with ``__SYNTHESIS__`` defined (the synthesis
    branches, e.g. the popcount trees), syntax only; ``csim c++0x``: ``fracnet.cc`` and ``tb.cc`` as Vivado HLS
    2019.2's C simulation compiles them (its gcc 4.6 knows C++11 as ``-std=c++0x``, ``project.tcl``). ``-pedantic
    -Wall``; the ap_types headers are system headers, the HLS loop labels may go unused.
    """
    shim = folder / "synthesis_shim.h"
    shim.write_text(SYNTHESIS_SHIM)
    includes = [f"-I{export_dir}", f"-I{hls_dir}", f"-I{hls_dir.parent / 'common'}", "-isystem", str(ap_types_dir())]
    runs = {
        f"synthesis {std}": [f"-std={std}", "-D__SYNTHESIS__", "-include", str(shim), str(hls_dir / "fracnet.cc")]
        for std in ("c++11", "c++0x")
    }
    runs["csim c++0x"] = ["-std=c++0x", str(hls_dir / "fracnet.cc"), str(hls_dir / "tb.cc")]
    said = {}
    for name, args in runs.items():
        done = subprocess.run([compiler(), *SYNTAX_FLAGS, *includes, *args], capture_output=True, text=True)
        failed = "" if done.returncode == 0 else f"status {done.returncode}"
        said[name] = (done.stdout + done.stderr).strip() or failed
    return said
