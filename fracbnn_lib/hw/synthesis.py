"""Units synthesised by yosys, and the committed table of their LUTs, flip-flops and DSPs the cost models read.

    python -m fracbnn_lib.hw.synthesis            # re-synthesise every unit the models use, compare with the table
    python -m fracbnn_lib.hw.synthesis --write    # ... and write the table (fracbnn_lib/hw/unit_costs.json)

:func:`synthesise` writes the units (:mod:`.units`) into a few Verilog files (:data:`GROUPS`, each unit
always in the same one), each module kept whole (``keep_hierarchy``) under a wrapper that wires every
port to the top, and runs :data:`FLOW` once on each: each unit is mapped flat on its own, without paying
yosys's start-up (seconds) once per unit. ``stat`` then counts each module's cells: LUT1..LUT6 and
inverters (``lut``; an inverter is a LUT1 in Vivado), flip-flops (``ff``), DSP48E2 (``dsp``), carry chains
(``carry``) and wide-mux cells (``muxf``).
A unit the table does not hold is synthesised alone and cached in ``~/.cache/fracbnn/units``
(``FRACBNN_CACHE_DIR``), keyed by the sha256 of its Verilog, the flow and the yosys version.

**Why ``-abc9``.** Of yosys's two LUT mappers, ABC9 maps a 64-bit XOR-popcount to 137 LUTs where the
default ABC flow needs 231 (and 75 MUXF7/32 MUXF8/11 MUXF9 cells besides); Vivado's own compressor trees
are tighter still, so the tighter mapping is the closer one. Yosys 0.23 prints that ABC9 uses the
7-series delay model for UltraScale+ (``xcup``): the LUTs are UltraScale+'s, the timing guidance is not.
Yosys splits multiplies wider than 27 x 18 over several DSP48E2 and adds the partial products in LUTs
(Vivado cascades them inside the DSPs), so wide multiplies cost LUTs here that Vivado would not spend.

:func:`unit_cost` reads the committed table (:data:`TABLE_FILE`); a unit it does not hold (a format or a
level count nobody committed) is synthesised on the spot where yosys is installed, and otherwise
estimated from the nearest committed unit of its kind (scaled by input bits; DSPs by
:func:`~.units.dsp_per_multiply`) and marked ``estimated``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cache, lru_cache
from pathlib import Path

from .units import Unit, build, dsp_per_multiply

FLOW = "synth_xilinx -family xcup -abc9 -noiopad -noclkbuf"
"""The yosys command every unit goes through (UltraScale+ cells: LUT6, CARRY, DSP48E2, FDRE)."""

TABLE_FILE = Path(__file__).with_name("unit_costs.json")
"""The committed table of synthesised units (what the cost models read)."""

CELL_KINDS = {"lut": r"LUT\d|INV", "ff": r"FD[A-Z]+", "dsp": r"DSP48E2", "carry": r"CARRY\d", "muxf": r"MUXF\d"}


class UnitCostError(RuntimeError):
    """Yosys failed, or its output could not be read."""


@dataclass(frozen=True)
class UnitCost:
    """One unit's cells after synthesis. ``estimated``: not synthesised (see the module docstring)."""

    lut: int
    ff: int
    dsp: int
    carry: int = 0
    muxf: int = 0
    estimated: bool = False

    def scaled(self, factor: float) -> dict[str, float]:
        return {"lut": self.lut * factor, "ff": self.ff * factor, "dsp": self.dsp * factor}


def yosys_path() -> str | None:
    return shutil.which(os.environ.get("YOSYS", "yosys"))


def yosys_version(yosys: str) -> str:
    return subprocess.run([yosys, "-V"], capture_output=True, text=True, check=True).stdout.strip()


def _cache_dir() -> Path:
    return Path(os.environ.get("FRACBNN_CACHE_DIR", Path.home() / ".cache" / "fracbnn")) / "units"


def _cache_key(unit: Unit, version: str) -> str:
    return hashlib.sha256(f"{version}\n{FLOW}\n{unit.verilog()}".encode()).hexdigest()


def wrapper(units: Sequence[Unit]) -> str:
    """The units' modules and a top module ``units_top`` that wires each port of each unit to a top port."""
    ports, instances, clocked = [], [], False
    for i, unit in enumerate(units):
        module = build(unit)
        connections = []
        if module.clocked:
            clocked = True
            connections.append(".clk(clk)")
        for port in module.ports:
            name = f"u{i}_{port.name}"
            ports.append(f"{port.direction} [{port.width - 1}:0] {name}")
            connections.append(f".{port.name}({name})")
        instances.append(f"  {module.name} u{i} ({', '.join(connections)});")
    ports = (["input clk"] if clocked else []) + ports
    top = "module units_top (\n  " + ",\n  ".join(ports) + "\n);\n" + "\n".join(instances) + "\nendmodule\n"
    return "\n".join(unit.verilog() for unit in units) + "\n" + top


def parse_stat(text: str) -> dict[str, dict[str, int]]:
    """Per module of a ``stat`` printout, its cell counts by cell type."""
    modules: dict[str, dict[str, int]] = {}
    current = None
    for line in text.splitlines():
        header = re.match(r"=== (.+?) ===", line)
        if header:
            current = modules.setdefault(header.group(1), {}) if header.group(1) != "design hierarchy" else None
            continue
        cell = re.match(r"\s+([A-Z][A-Z0-9_]+)\s+(\d+)$", line)
        if current is not None and cell:
            current[cell.group(1)] = int(cell.group(2))
    return modules


def cost_of_cells(cells: dict[str, int]) -> UnitCost:
    counts = {
        kind: sum(n for cell, n in cells.items() if re.fullmatch(pattern, cell)) for kind, pattern in CELL_KINDS.items()
    }
    return UnitCost(**counts)


def _run(units: Sequence[Unit], yosys: str) -> dict[Unit, UnitCost]:
    with tempfile.TemporaryDirectory() as work:
        source, stat = Path(work) / "units.v", Path(work) / "stat.txt"
        source.write_text(wrapper(units))
        script = f"read_verilog {source}; {FLOW} -top units_top; tee -q -o {stat} stat"
        done = subprocess.run([yosys, "-q", "-p", script], capture_output=True, text=True)
        if done.returncode != 0 or not stat.is_file():
            said = (done.stderr or done.stdout).strip().splitlines()
            raise UnitCostError(f"yosys failed on {len(units)} units: {said[-1] if said else done.returncode}")
        modules = parse_stat(stat.read_text())
    missing = [unit.key for unit in units if build(unit).name not in modules]
    if missing:
        raise UnitCostError(f"yosys printed no statistics for {', '.join(missing)}")
    return {unit: cost_of_cells(modules[build(unit).name]) for unit in units}


GROUPS = 4
"""Units are synthesised in this many yosys processes, each unit always in the same one (:func:`group_of`)."""


def group_of(unit: Unit) -> int:
    """The yosys run a unit belongs to: fixed by its key. ABC's choices depend slightly (a few percent of a
    unit's LUTs) on what else the design holds, so a unit is synthesised with the same neighbours on
    every machine whatever the number of parallel processes, and the table is reproducible."""
    return int(hashlib.sha256(unit.key.encode()).hexdigest()[:8], 16) % GROUPS


def synthesise(units: Iterable[Unit], yosys: str | None = None, jobs: int = 1) -> dict[Unit, UnitCost]:
    """Each unit's :class:`UnitCost` from yosys (:data:`FLOW`): the units in their :func:`group_of` runs, at most
    ``jobs`` yosys processes at a time."""
    yosys = yosys or yosys_path()
    if yosys is None:
        raise UnitCostError("yosys not found: apt-get install yosys (or set YOSYS)")
    units = sorted(set(units), key=lambda unit: unit.key)
    groups = [[unit for unit in units if group_of(unit) == g] for g in range(GROUPS)]
    groups = [group for group in groups if group]
    found: dict[Unit, UnitCost] = {}
    if jobs <= 1 or len(groups) == 1:
        for group in groups:
            found.update(_run(group, yosys))
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(jobs, len(groups))) as pool:
            for result in pool.map(lambda group: _run(group, yosys), groups):
                found.update(result)
    return {unit: found[unit] for unit in units}


def _synthesise_cached(unit: Unit, yosys: str) -> UnitCost:
    """One unit synthesised alone (a unit the table does not hold), cached by its Verilog, the flow and yosys."""
    path = _cache_dir() / f"{_cache_key(unit, yosys_version(yosys))}.json"
    if path.is_file():
        return UnitCost(**json.loads(path.read_text()))
    cost = synthesise([unit], yosys)[unit]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(cost)))
    return cost


# --------------------------------------------------------------------------- the committed table


@lru_cache(maxsize=1)
def load_table() -> dict[str, dict]:
    """The committed table: ``{"tool", "flow", "units": {key: {lut, ff, dsp, carry, muxf, verilog_sha256}}}``."""
    return json.loads(TABLE_FILE.read_text())


def table_entry(cost: UnitCost, unit: Unit) -> dict[str, int | str]:
    entry = {k: v for k, v in asdict(cost).items() if k != "estimated"}
    return {**entry, "verilog_sha256": unit.verilog_sha256()}


def table(units: Iterable[Unit], costs: dict[Unit, UnitCost], tool: str) -> dict:
    """The table's content for ``units`` (sorted by key)."""
    rows = {unit.key: table_entry(costs[unit], unit) for unit in sorted(set(units), key=lambda u: u.key)}
    return {"tool": tool, "flow": FLOW, "units": rows}


def _input_bits(unit: Unit) -> int:
    return sum(port.width for port in build(unit).ports if port.direction == "input")


def _estimate(unit: Unit) -> UnitCost:
    same_kind = [Unit.parse(key) for key in load_table()["units"] if key.startswith(unit.kind + "(")]
    if not same_kind:
        raise UnitCostError(f"no unit of kind {unit.kind} in {TABLE_FILE.name} to estimate {unit.key} from")
    bits = _input_bits(unit)
    nearest = min(same_kind, key=lambda other: abs(_input_bits(other) - bits))
    base = load_table()["units"][nearest.key]
    factor = bits / _input_bits(nearest)
    dsp = sum(dsp_per_multiply(a, b) for a, b in unit.multiplies())
    return UnitCost(round(base["lut"] * factor), round(base["ff"] * factor), dsp, estimated=True)


@cache
def unit_cost(unit: Unit | str) -> UnitCost:
    """The cost of one unit: from the committed table; else synthesised now (yosys installed); else estimated."""
    unit = Unit.parse(unit) if isinstance(unit, str) else unit
    row = load_table()["units"].get(unit.key)
    if row is not None:
        return UnitCost(**{k: v for k, v in row.items() if k != "verilog_sha256"})
    yosys = yosys_path()
    if yosys is not None:
        return _synthesise_cached(unit, yosys)
    return _estimate(unit)


# --------------------------------------------------------------------------- command line


def model_units() -> list[Unit]:
    """Every unit the cost models price, at every format set they are asked about (presets, the format
    sweep's candidates) and 32 thermometer levels, and the release's units."""
    from ..accelerators import ACCELERATORS  # each accelerator's cost model, found through the registry

    units = {unit for accelerator in ACCELERATORS for unit in accelerator.hardware().table_units()}
    return sorted(units, key=lambda u: u.key)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fracbnn_lib.hw.synthesis", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write the table ({TABLE_FILE.name})")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel yosys processes")
    args = parser.parse_args(argv)
    yosys = yosys_path()
    if yosys is None:
        print("yosys not found: apt-get install yosys", file=sys.stderr)
        return 1
    units = model_units()
    costs = synthesise(units, yosys, jobs=args.jobs)
    fresh = table(units, costs, yosys_version(yosys))
    committed = load_table() if TABLE_FILE.is_file() else {"units": {}}
    print(f"{fresh['tool']}; {FLOW}")
    print(f"{'unit':<64} {'LUT':>6} {'FF':>6} {'DSP':>4}  table")
    for key, row in fresh["units"].items():
        old = committed["units"].get(key)
        same = "=" if old == row else "new" if old is None else "changed"
        print(f"{key:<64} {row['lut']:>6} {row['ff']:>6} {row['dsp']:>4}  {same}")
    stale = sorted(set(committed["units"]) - set(fresh["units"]))
    for key in stale:
        print(f"{key:<64} (no longer used)")
    if args.write:
        TABLE_FILE.write_text(json.dumps(fresh, indent=1) + "\n")
        print(f"wrote {TABLE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
