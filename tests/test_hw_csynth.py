"""Reading a csynth report back: a report written here in the documented schema (no vendor file is copied)."""

import json
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
    summary = accelerator.hardware().cost_summary()
    assert out.startswith(f"{accelerator.name} accelerator ({accelerator.top})")
    assert f"{summary['cycles']:,}" in next(line for line in out.splitlines() if line.startswith("cycles per image"))
    for figure in ("LUT", "FF", "DSP"):  # each accelerator's own model, never the other's figure
        assert (
            next(line for line in out.splitlines() if line.startswith(figure)).split()[-1]
            == f"{summary[figure.lower()]:,}"
        )


def test_a_missing_or_broken_report_is_one_line(tmp_path, capsys):
    with pytest.raises(CsynthError, match="no csynth.xml in"):
        read_csynth(tmp_path)
    assert cli.main(["hls-report", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fracbnn hls-report: error: no csynth.xml") and len(err.splitlines()) == 1
    (tmp_path / "csynth.xml").write_text("<profile><unclosed>")
    with pytest.raises(CsynthError, match="cannot read"):
        read_csynth(tmp_path)
