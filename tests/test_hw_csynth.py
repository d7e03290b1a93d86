"""Reading a csynth report back: a report written here in the documented schema (no vendor file is copied)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from fracbnn_lib import cli
from fracbnn_lib.accelerators import ACCELERATORS, CIFAR10
from fracbnn_lib.hw.csynth import CsynthError, compare_with_model, format_comparison, read_csynth
from fracbnn_lib.hw.fixed_point import resolve_formats

TOP = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>{version}</Version></ReportVersion>
  <UserAssignments><Part>xczu3eg-sbva484-1-e</Part><TopModelName>FracNet_T</TopModelName>
    <TargetClockPeriod>4.00</TargetClockPeriod></UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><EstimatedClockPeriod>3.650</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency><Best-caseLatency>19001</Best-caseLatency><Average-caseLatency>19050</Average-caseLatency>
      <Worst-caseLatency>19100</Worst-caseLatency><Interval-min>19002</Interval-min><Interval-max>19101</Interval-max>
    </SummaryOfOverallLatency>
    <SummaryOfLoopLatency>
      <LOAD_IMAGE><TripCount>3072</TripCount><Latency>3075</Latency><PipelineII>1</PipelineII>
        <PipelineDepth>4</PipelineDepth></LOAD_IMAGE>
    </SummaryOfLoopLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>75</BRAM_18K><{dsp}>230</{dsp}><FF>40000</FF><LUT>61000</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>432</BRAM_18K><{dsp}>360</{dsp}><FF>141120</FF><LUT>70560</LUT></AvailableResources>
  </AreaEstimates>
</profile>
"""
MODULE = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <UserAssignments><TopModelName>pg_conv_bn</TopModelName></UserAssignments>
  <PerformanceEstimates><SummaryOfLoopLatency>
    <PG_PIXELS><TripCount><range><min>256</min><max>1024</max></range></TripCount><Latency>undef</Latency>
      <PipelineII>2</PipelineII><PipelineDepth>15</PipelineDepth></PG_PIXELS>
  </SummaryOfLoopLatency></PerformanceEstimates>
</profile>
"""


def write_report(folder: Path, version: str = "2019.2", dsp: str = "DSP48E", network: str = CIFAR10.network) -> Path:
    """A csynth report in ``folder`` and, beside it, the manifest of the export it belongs to."""
    folder.mkdir(parents=True)
    manifest = {
        "manifest_version": 1,
        "network": network,
        "levels": 32,
        "formats": resolve_formats("default").to_dict(),
    }
    (folder.parent / "manifest.json").write_text(json.dumps(manifest))
    (folder / "csynth.xml").write_text(TOP.format(version=version, dsp=dsp))
    (folder / "pg_conv_bn_csynth.xml").write_text(MODULE)
    return folder


@pytest.mark.parametrize(("version", "dsp"), [("2019.2", "DSP48E"), ("2023.2", "DSP")])
def test_a_report_of_either_tool_is_read(tmp_path, version, dsp):
    report = read_csynth(write_report(tmp_path / "export" / "csynth_report", version, dsp).parent)
    assert (report.tool_version, report.part, report.clock_ns, report.estimated_clock_ns) == (
        version,
        "xczu3eg-sbva484-1-e",
        4.0,
        3.65,
    )
    assert report.latency_worst == 19100 and report.interval_max == 19101
    assert report.resources == {"BRAM_18K": 75, "DSP": 230, "FF": 40000, "LUT": 61000, "URAM": 0}
    loops = {loop.name: loop for loop in report.loops}
    assert (loops["LOAD_IMAGE"].module, loops["LOAD_IMAGE"].ii, loops["LOAD_IMAGE"].trips) == ("FracNet_T", 1, 3072)
    assert (loops["PG_PIXELS"].module, loops["PG_PIXELS"].ii, loops["PG_PIXELS"].latency) == ("pg_conv_bn", 2, None)
    assert loops["PG_PIXELS"].trips is None  # a range is not one trip count


def test_the_report_is_printed_beside_the_model(tmp_path, capsys):
    folder = write_report(tmp_path / "export" / "csynth_report")
    hardware = CIFAR10.hardware()
    summary, loops = hardware.cost_summary(), hardware.accelerator_loops()
    rows = {
        name: (synthesised, modelled)
        for name, synthesised, modelled in compare_with_model(read_csynth(folder), summary, loops)
    }
    assert rows["cycles per image (worst case)"] == (19100, summary["cycles"])
    assert rows["clock period, ns"] == (4.0, 5.0)  # a report built for 4 ns beside the model's 200 MHz: it shows
    assert rows["BRAM36"] == (38, summary["bram36"]) and rows["DSP"] == (230, summary["dsp"])
    assert rows["II of PG_PIXELS (pg_conv_bn)"] == (2, 1)  # the tool missed the modelled II: it shows
    assert rows["trips of LOAD_IMAGE (FracNet_T)"] == (3072, 3072)  # a loop of one trip count: compared
    assert not any(name.startswith("trips of PG_PIXELS") for name in rows)  # trips vary per layer: not compared
    assert cli.main(["hls-report", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "csynth 2019.2 for xczu3eg-sbva484-1-e (3.65 ns estimated for 4.0 ns)" in out and "61,000" in out
    assert out.startswith("cifar10 accelerator (FracNet_T)")
    text = format_comparison(read_csynth(folder), compare_with_model(read_csynth(folder), summary, loops))
    assert text.splitlines()[0].startswith("csynth 2019.2")


@pytest.mark.parametrize("accelerator", ACCELERATORS, ids=lambda a: a.name)
def test_a_report_is_compared_with_the_model_of_the_accelerator_its_export_belongs_to(tmp_path, capsys, accelerator):
    folder = write_report(tmp_path / "export" / "csynth_report", network=accelerator.network)
    assert cli.main(["hls-report", str(folder.parent)]) == 0  # the export folder works too
    out = capsys.readouterr().out
    cycles = accelerator.hardware().cost_summary()["cycles"]
    assert out.startswith(f"{accelerator.name} accelerator ({accelerator.top})")
    assert f"{cycles:,}" in next(line for line in out.splitlines() if line.startswith("cycles per image"))
    lut = accelerator.hardware().cost_summary()["lut"]  # each accelerator's own model, never the other's figure
    assert next(line for line in out.splitlines() if line.startswith("LUT")).split()[-1] == f"{lut:,}"


def test_a_missing_or_broken_report_is_one_line(tmp_path, capsys):
    with pytest.raises(CsynthError, match="no csynth.xml in"):
        read_csynth(tmp_path)
    assert cli.main(["hls-report", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fracbnn hls-report: error: no csynth.xml") and len(err.splitlines()) == 1
    (tmp_path / "csynth.xml").write_text("<profile><unclosed>")
    with pytest.raises(CsynthError, match="cannot read"):
        read_csynth(tmp_path)


Y2K22_OUTPUT = """INFO: [IMPL 213-8] Exporting RTL as a Vivado IP.
source run_ippack.tcl -notrace
bad lexical cast: source type value could not be interpreted as target
    while executing
"rdi::set_property core_revision 2201061327 {component component_1}"
    invoked from within
"set_property core_revision $Revision $core"
ERROR: [IMPL 213-28] Failed to generate IP.
"""


def _run_make_hls(tmp_path: Path, output: str, status: int) -> subprocess.CompletedProcess:
    """``make hls`` of hls/cifar10 on a stand-in export, with a stand-in ``vivado_hls`` on PATH that prints
    ``output`` (and what it was given) and exits with ``status``."""
    export = tmp_path / "export"
    export.mkdir()
    (export / "manifest.json").write_text(json.dumps({"network": CIFAR10.network}))
    for name in ("weights.h", "fracnet_config.h"):
        (export / name).write_text("// stand-in\n")
    tools = tmp_path / "bin"
    tools.mkdir()
    tool = tools / "vivado_hls"
    tool.write_text(
        '#!/bin/sh\necho "given: $* clock $FRACNET_CLOCK_MHZ top $FRACNET_TOP"\n'
        f"cat <<'END'\n{output}END\nexit {status}\n"
    )
    tool.chmod(0o755)
    hls = Path(__file__).resolve().parents[1] / "hls" / "cifar10"
    return subprocess.run(
        ["make", "-C", str(hls), "hls", f"EXPORT={export}"],
        env={**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("status", [0, 1])
def test_make_hls_names_the_year_2022_export_bug_and_its_fix(tmp_path, status):
    """Vivado HLS 2019.2's export_design fails since 2022 (the IP's core_revision, YYMMDDHHMM, overflows): make hls
    finds the message in the tool's output, whatever its exit status, and gives the fix (AR 76960) in one line."""
    done = _run_make_hls(tmp_path, Y2K22_OUTPUT, status)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "AR 76960" in errors[0] and "y2k22_patch" in errors[0] and "make hls" in errors[0]
    assert "export.tcl clock 200 top FracNet_T" in done.stdout  # the tool got the project and the one clock
    assert "core_revision" in (tmp_path / "export" / "hls.log").read_text()
    assert not (tmp_path / "export" / "csynth_report").exists()


def test_make_hls_passes_on_another_failure_of_the_tool(tmp_path):
    done = _run_make_hls(tmp_path, "ERROR: [HLS 200-70] Compilation errors found\n", 3)
    assert done.returncode != 0 and "AR 76960" not in done.stderr
    assert "Compilation errors found" in done.stdout
