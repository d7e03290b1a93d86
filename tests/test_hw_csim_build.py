"""Building the C-simulation library: clear errors for missing tools, a cache keyed by the sources, safe concurrency.

A fake compiler (a small Python script standing in for g++) keeps these tests fast: it records each
call and writes the ``-o`` file, so caching and locking are checked without compiling C++.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fracbnn_lib.hw.cifar10.csim import SOURCES, build_library, source_dir
from fracbnn_lib.hw.cifar10.headers import config_header
from fracbnn_lib.hw.csim_build import CsimError
from fracbnn_lib.hw.fixed_point import resolve_formats

FAKE_COMPILER = """\
#!{python}
import sys, time
from pathlib import Path
with open({log!r}, "a") as log:
    log.write("call\\n")
time.sleep({pause})
if {fail}:
    sys.stderr.write("fracnet.cc:1:1: error: boom\\n")
    sys.exit(1)
out = Path(sys.argv[sys.argv.index("-o") + 1])
out.write_bytes(b"not a real library")
"""


def _fake_compiler(folder: Path, pause: float = 0.0, fail: bool = False) -> tuple[Path, Path]:
    log = folder / "calls.log"
    script = folder / "fake-g++"
    script.write_text(FAKE_COMPILER.format(python=sys.executable, log=str(log), pause=pause, fail=fail))
    script.chmod(0o755)
    return script, log


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("FRACBNN_CACHE_DIR", str(folder))
    return folder


def test_a_missing_compiler_is_one_clear_line(cache, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-fracbnn")
    with pytest.raises(CsimError, match="'no-such-compiler-fracbnn' not found: install g\\+\\+") as err:
        build_library(config_header(resolve_formats("default"), 32))
    assert "\n" not in str(err.value)


def test_missing_ap_types_headers_say_what_to_install(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("FRACBNN_AP_TYPES", str(tmp_path))
    with pytest.raises(CsimError, match="ap_int.h and ap_fixed.h not found .*pip install hls4ml"):
        build_library(config_header(resolve_formats("default"), 32))
    monkeypatch.delenv("FRACBNN_AP_TYPES")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(CsimError, match="pip install hls4ml"):
        build_library(config_header(resolve_formats("default"), 32))


def test_missing_sources_are_reported(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("FRACBNN_HLS_ROOT", str(tmp_path))
    with pytest.raises(CsimError, match="HLS sources not found .*FRACBNN_HLS_ROOT"):
        build_library(config_header(resolve_formats("default"), 32))


def test_a_failed_build_reports_the_first_error_and_leaves_nothing(cache, tmp_path, monkeypatch):
    compiler, _ = _fake_compiler(tmp_path, fail=True)
    monkeypatch.setenv("CXX", str(compiler))
    with pytest.raises(CsimError, match="building the C-simulation library failed: fracnet.cc:1:1: error: boom"):
        build_library(config_header(resolve_formats("default"), 32))
    assert [p.name for p in cache.iterdir()] == [".build.lock"]


def test_the_cache_is_keyed_by_sources_formats_and_levels(cache, tmp_path, monkeypatch):
    compiler, log = _fake_compiler(tmp_path)
    monkeypatch.setenv("CXX", str(compiler))
    default = build_library(config_header(resolve_formats("default"), 32))
    assert default.parent == cache and _calls(log) == 1
    assert build_library(config_header(resolve_formats("default"), 32)) == default and _calls(log) == 1  # cached
    paper = build_library(config_header(resolve_formats("paper"), 32))
    other_levels = build_library(config_header(resolve_formats("default"), 16))
    assert len({default, paper, other_levels}) == 3 and _calls(log) == 3
    sources = tmp_path / "hls" / "cifar10"
    shutil.copytree(source_dir(), sources, ignore=shutil.ignore_patterns("build"))
    shutil.copytree(source_dir().parent / "common", sources.parent / "common")
    with open(sources / "layers.h", "a") as handle:
        handle.write("\n// an edit\n")
    monkeypatch.setenv("FRACBNN_HLS_ROOT", str(sources.parent))
    assert build_library(config_header(resolve_formats("default"), 32)) != default and _calls(log) == 4
    assert all((sources / name).is_file() for name in SOURCES)


def test_two_processes_building_at_once_compile_once(cache, tmp_path):
    compiler, log = _fake_compiler(tmp_path, pause=1.0)
    env = {**os.environ, "CXX": str(compiler), "FRACBNN_CACHE_DIR": str(cache)}
    code = textwrap.dedent(
        """
        from fracbnn_lib.hw.cifar10.csim import build_library
        from fracbnn_lib.hw.cifar10.headers import config_header
        from fracbnn_lib.hw.fixed_point import resolve_formats
        print(build_library(config_header(resolve_formats("default"), 32)))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    paths = [proc.communicate(timeout=120)[0].strip() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert paths[0] == paths[1] and Path(paths[0]).read_bytes() == b"not a real library"
    assert _calls(log) == 1
    library = Path(paths[0]).name
    assert sorted(p.name for p in cache.iterdir()) == sorted([".build.lock", library, f"{library}.sha256"])  # no temps


def test_every_axi_master_address_register_is_in_ctrl():
    """Vitis HLS puts an ``offset=slave`` address into CTRL only when told: the block design connects only CTRL."""
    import re

    source = (source_dir() / "fracnet.cc").read_text()
    pragmas = [
        " ".join(line.split()) for line in source.splitlines() if line.strip().startswith("#pragma HLS INTERFACE")
    ]
    masters = [re.search(r"port = (\w+)", p).group(1) for p in pragmas if " m_axi " in p and "offset = slave" in p]
    assert masters == ["image", "output"]
    for port in masters:
        assert f"#pragma HLS INTERFACE s_axilite port = {port} bundle = CTRL" in pragmas
    lite_bundles = {re.search(r"bundle = (\w+)", p).group(1) for p in pragmas if " s_axilite " in p}
    assert lite_bundles == {"CTRL"}
    design = (source_dir().parent / "common" / "bitstream" / "block_design.tcl").read_text()
    assert "${top}_0/s_axi_CTRL" in design and "s_axi_control" not in design
