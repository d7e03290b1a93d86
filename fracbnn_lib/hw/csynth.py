"""Synthesis results read back: the csynth report of Vivado HLS or Vitis HLS, beside the cost model.

``make -C hls/cifar10 hls`` keeps the report folder (``<export>/csynth_report``, a copy of
``fracnet_prj/solution1/syn/report``). :func:`read_csynth` reads every ``*csynth.xml`` in it: the
top's latency and resources from ``csynth.xml``, and the loops of every module (each module's own
``<module>_csynth.xml``), with their achieved II, pipeline depth and trip count. The schema is the
one both tools write (``profile`` > ``PerformanceEstimates`` > ``SummaryOfOverallLatency`` /
``SummaryOfLoopLatency``, ``AreaEstimates`` > ``Resources``); Vivado HLS names DSPs ``DSP48E``,
Vitis HLS ``DSP``. Values the tool could not bound (``undef``, ``?``) are read as None.

Command line (``fracbnn hls-report``, :mod:`fracbnn_lib.cli`), for the accelerator the export belongs to::

    python -m fracbnn_lib hls-report runs/<run>/export/csynth_report   # or the export folder
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cost_model import LoopCost


class CsynthError(RuntimeError):
    """A report folder without a readable csynth.xml (the message says what to do)."""


@dataclass(frozen=True)
class CsynthLoop:
    """One loop of a synthesised module: label, achieved II, pipeline depth, trip count, latency (cycles)."""

    module: str
    name: str
    ii: int | None
    depth: int | None
    trips: int | None
    latency: int | None


@dataclass
class CsynthReport:
    """The top function's figures and every loop, as the HLS tool estimated them."""

    tool_version: str
    part: str
    clock_ns: float | None
    estimated_clock_ns: float | None
    latency_worst: int | None
    interval_max: int | None
    resources: dict[str, int]
    available: dict[str, int]
    loops: list[CsynthLoop] = field(default_factory=list)


def _number(text: str | None) -> int | None:
    try:
        return int(float(text)) if text is not None else None
    except ValueError:
        return None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _resources(node: ET.Element | None) -> dict[str, int]:
    if node is None:
        return {}
    values = {child.tag: _number(child.text) for child in node}
    if "DSP48E" in values and "DSP" not in values:
        values["DSP"] = values.pop("DSP48E")
    return {name: value for name, value in values.items() if value is not None}


LOOP_FIELDS = ("TripCount", "Latency", "IterationLatency", "PipelineII", "PipelineDepth")


def _loops(module: str, node: ET.Element | None) -> list[CsynthLoop]:
    """The loops under ``node`` (``SummaryOfLoopLatency``): an element per loop, nested loops inside it."""
    found: list[CsynthLoop] = []
    for child in list(node) if node is not None else []:
        if child.tag in LOOP_FIELDS or len(child) == 0:
            continue
        found.append(
            CsynthLoop(
                module=module,
                name=child.tag,
                ii=_number(child.findtext("PipelineII")),
                depth=_number(child.findtext("PipelineDepth")),
                trips=_number(child.findtext("TripCount")),
                latency=_number(child.findtext("Latency")),
            )
        )
        found += _loops(module, child)
    return found


def _parse(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except (ET.ParseError, OSError) as err:
        raise CsynthError(f"cannot read {path} ({err}): run 'make -C hls/cifar10 hls' again") from None


def read_csynth(folder: str | Path) -> CsynthReport:
    """The csynth report in ``folder`` (a report folder, or an export holding ``csynth_report/``)."""
    folder = Path(folder)
    if (folder / "csynth_report").is_dir():
        folder = folder / "csynth_report"
    top_file = folder / "csynth.xml"
    if not top_file.is_file():
        raise CsynthError(
            f"no csynth.xml in {folder}: run 'make -C hls/cifar10 hls EXPORT=<export>' where Vivado HLS or "
            "Vitis HLS is installed (it keeps the report in <export>/csynth_report)"
        )
    top = _parse(top_file)
    overall = top.find("PerformanceEstimates/SummaryOfOverallLatency")
    report = CsynthReport(
        tool_version=top.findtext("ReportVersion/Version", ""),
        part=top.findtext("UserAssignments/Part", ""),
        clock_ns=_float(top.findtext("UserAssignments/TargetClockPeriod")),
        estimated_clock_ns=_float(top.findtext("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        latency_worst=_number(overall.findtext("Worst-caseLatency")) if overall is not None else None,
        interval_max=_number(overall.findtext("Interval-max")) if overall is not None else None,
        resources=_resources(top.find("AreaEstimates/Resources")),
        available=_resources(top.find("AreaEstimates/AvailableResources")),
    )
    for path in sorted(folder.glob("*csynth.xml")):
        root = top if path == top_file else _parse(path)
        module = root.findtext("UserAssignments/TopModelName") or path.name.removesuffix("_csynth.xml")
        report.loops += _loops(module, root.find("PerformanceEstimates/SummaryOfLoopLatency"))
    return report


def compare_with_model(
    report: CsynthReport, summary: Mapping[str, Any], loops: Sequence[LoopCost]
) -> list[tuple[str, object, object]]:
    """Rows ``(figure, synthesised, modelled)``: latency, LUT, FF, DSP, BRAM36, then each modelled loop's II and
    trips. ``summary`` and ``loops``: the cost model's ``cost_summary()`` and ``accelerator_loops()`` of the
    accelerator the report belongs to."""
    bram18 = report.resources.get("BRAM_18K")
    rows: list[tuple[str, object, object]] = [
        ("clock period, ns", report.clock_ns, 1000.0 / summary["clock_mhz"]),
        ("cycles per image (worst case)", report.latency_worst, summary["cycles"]),
        ("LUT", report.resources.get("LUT"), summary.get("lut")),
        ("FF", report.resources.get("FF"), summary.get("ff")),
        ("DSP", report.resources.get("DSP"), summary.get("dsp")),
        ("BRAM36", None if bram18 is None else (bram18 + 1) // 2, summary["bram36"]),
    ]
    iis: dict[str, set[int]] = {}
    trips: dict[str, set[int]] = {}
    for entry in loops:
        iis.setdefault(entry.loop, set()).add(entry.ii)
        trips.setdefault(entry.loop, set()).add(entry.trips)
    for loop in report.loops:
        if loop.name not in iis:
            continue
        rows.append((f"II of {loop.name} ({loop.module})", loop.ii, max(iis[loop.name])))
        if len(trips[loop.name]) == 1:  # a loop whose trips vary per call: csynth gives its LOOP_TRIPCOUNT range
            rows.append((f"trips of {loop.name} ({loop.module})", loop.trips, next(iter(trips[loop.name]))))
    return rows


def format_comparison(report: CsynthReport, rows: Sequence[tuple[str, object, object]]) -> str:
    """The comparison as plain text (the tool's estimate beside the model's, both estimates, not a measurement)."""
    clock = f"{report.estimated_clock_ns} ns estimated for {report.clock_ns} ns" if report.clock_ns else "no clock"
    lines = [f"csynth {report.tool_version or '?'} for {report.part or '?'} ({clock})",
             f"{'figure':<40} {'csynth':>12} {'cost model':>12}"]  # fmt: skip
    for name, synthesised, modelled in rows:
        shown = ["-" if value is None else f"{value:,}" for value in (synthesised, modelled)]
        lines.append(f"{name:<40} {shown[0]:>12} {shown[1]:>12}")
    return "\n".join(lines)
