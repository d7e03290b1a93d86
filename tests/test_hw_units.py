"""The synthesised units the cost models price, and the committed table of their LUTs, flip-flops and DSPs.

The table (``fracbnn_lib/hw/unit_costs.json``) must hold every unit the models use, each with the sha256 of
the Verilog it was synthesised from, so a changed unit fails here without yosys; where yosys is installed
(CI installs it: ``.ci/run``) every unit is synthesised again and the table must equal yosys's figures. In CI
a missing yosys is a failure, not a skip.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
import textwrap
from fractions import Fraction

import pytest

from fracbnn_lib.hw import cost_model, synthesis
from fracbnn_lib.hw.cifar10 import cost as cifar10_cost
from fracbnn_lib.hw.fixed_point import resolve_formats
from fracbnn_lib.hw.units import KINDS, Unit, build


def _yosys_or_skip() -> str:
    yosys = synthesis.yosys_path()
    if yosys is None:
        if os.environ.get("CI"):
            pytest.fail("yosys not found: CI installs it (.ci/run, apt-get install yosys)")
        pytest.skip("yosys not installed (apt-get install yosys)")
    return yosys


def test_the_table_holds_every_unit_the_models_price_from_its_current_verilog():
    table = synthesis.load_table()
    assert table["flow"] == synthesis.FLOW
    units = synthesis.model_units()
    assert {unit.key for unit in units} == set(table["units"]), "regenerate: python -m fracbnn_lib.hw.synthesis --write"
    stale = [unit.key for unit in units if table["units"][unit.key]["verilog_sha256"] != unit.verilog_sha256()]
    assert not stale, f"units changed since the table was synthesised: {stale}"
    assert {unit.kind for unit in units} == set(KINDS)  # every kind of unit is priced somewhere


def test_unit_keys_name_their_parameters_in_the_generators_order():
    unit = Unit.of("mux", width=64, ways=3)
    assert unit.key == "mux(ways=3,width=64)" and Unit.parse(unit.key) == unit
    with pytest.raises(TypeError, match="takes ways, width"):
        Unit.of("mux", ways=3)
    with pytest.raises(KeyError, match="unknown unit kind"):
        Unit.of("adder", n=3)
    register = Unit.of("register", width=8).verilog()
    assert "(* keep_hierarchy *)" in register and "always @(posedge clk)" in register


def test_the_dsp_rule_agrees_with_yosys_on_every_variable_multiply():
    """``dsp_per_multiply`` (27 x 18 per DSP48E2) against the DSP48E2 cells yosys mapped, unit by unit; the
    release's constant multiplies (2/3, 1/3) are not in the rule, and yosys puts them on DSPs too."""
    table = synthesis.load_table()["units"]
    for key, row in table.items():
        unit = Unit.parse(key)
        rule = sum(cost_model.dsp_per_multiply(a, b) for a, b in unit.multiplies())
        if unit.kind in ("release_bn_lane", "release_gate"):
            assert row["dsp"] >= rule, key
        else:
            assert row["dsp"] == rule, key
    checked = cost_model.multiplier_check(cifar10_cost.accelerator_units())
    assert checked and all(row["yosys_dsp"] == row["rule_dsp"] for row in checked)


def test_a_unit_outside_the_table_is_estimated_without_yosys(monkeypatch):
    monkeypatch.setattr(synthesis, "yosys_path", lambda: None)
    synthesis.unit_cost.cache_clear()
    try:
        wide = Unit.of("quantiser2", fm_w=30, fm_i=7)
        cost = synthesis.unit_cost(wide)
        assert cost.estimated and cost.lut > synthesis.unit_cost("quantiser2(fm_w=16,fm_i=9)").lut
        odd = Unit.of("pg_epilogue", fm_w=22, fm_i=7, scale_w=30, scale_i=4, param_w=20, param_i=4, z_bits=16)
        assert synthesis.unit_cost(odd).dsp == 2 + 2 + 4  # the rule: 30 x 16, 22 x 20, 30 x 23
        summary = cifar10_cost.cost_summary({"fm": (22, 7), "scale": (30, 4), "param": (20, 4)})
        assert odd.key in summary["estimated_units"] and summary["lut"] > 0
        assert cifar10_cost.cost_summary()["estimated_units"] == []
    finally:
        synthesis.unit_cost.cache_clear()


def test_stat_is_read_module_by_module():
    text = textwrap.dedent("""\
        === mux__ways3__width1 ===
           Number of cells:                  1
             LUT3                            1
        === pg_gate__sum_bits12__threshold_bits16 ===
             CARRY4                          6
             FDRE                           14
             INV                             1
             LUT2                           12
             LUT6                           11
        === design hierarchy ===
             FDRE                           14
             LUT2                          999
        """)
    modules = synthesis.parse_stat(text)
    assert set(modules) == {"mux__ways3__width1", "pg_gate__sum_bits12__threshold_bits16"}
    gate = synthesis.cost_of_cells(modules["pg_gate__sum_bits12__threshold_bits16"])
    assert (gate.lut, gate.ff, gate.dsp, gate.carry) == (24, 14, 0, 6)


FAKE_YOSYS = """\
import re, sys
if sys.argv[1] == "-V":
    print("Yosys 0.0 (stand-in)")
    sys.exit(0)
script = sys.argv[-1]
source = re.search(r"read_verilog (\\S+);", script).group(1)
stat = re.search(r"-o (\\S+) stat", script).group(1)
modules = re.findall(r"^module (\\w+)", open(source).read(), flags=re.M)
with open(stat, "w") as out:
    for name in modules:
        if name != "units_top":
            out.write(f"=== {name} ===\\n     LUT2 3\\n     LUT6 4\\n     FDRE 2\\n")
"""


def test_synthesis_runs_every_unit_through_yosys_in_fixed_groups(tmp_path, monkeypatch):
    """With a stand-in yosys (7 LUTs and 2 flip-flops per module) the script, the grouping and the parsing run
    everywhere; the groups do not depend on the number of processes."""
    fake = tmp_path / "yosys"
    fake.write_text(f"#!{sys.executable}\n" + FAKE_YOSYS)
    fake.chmod(0o755)
    units = [Unit.of("mux", ways=ways, width=1) for ways in (2, 3, 4, 6, 8, 16)] + [Unit.of("counter", width=12)]
    for jobs in (1, 3):
        costs = synthesis.synthesise(units, str(fake), jobs=jobs)
        assert [costs[unit] for unit in units] == [synthesis.UnitCost(7, 2, 0)] * len(units)
    assert len({synthesis.group_of(unit) for unit in units}) > 1
    monkeypatch.setattr(synthesis, "yosys_path", lambda: str(fake))
    monkeypatch.setattr(synthesis, "TABLE_FILE", tmp_path / "unit_costs.json")
    synthesis.load_table.cache_clear()
    monkeypatch.setattr(synthesis, "model_units", lambda: units)
    try:
        assert synthesis.main(["--write", "--jobs", "2"]) == 0
        written = json.loads((tmp_path / "unit_costs.json").read_text())
        assert written["tool"] == "Yosys 0.0 (stand-in)" and len(written["units"]) == len(units)
    finally:
        synthesis.load_table.cache_clear()


@pytest.mark.slow
def test_the_committed_table_is_what_yosys_makes():
    """Every unit synthesised again (a minute on two cores): the committed table must be yosys's output."""
    yosys = _yosys_or_skip()
    table = synthesis.load_table()
    version = synthesis.yosys_version(yosys)
    assert version == table["tool"], f"the table was made with {table['tool']}, this is {version}: regenerate it"
    units = synthesis.model_units()
    costs = synthesis.synthesise(units, yosys, jobs=os.cpu_count() or 1)
    fresh = synthesis.table(units, costs, version)
    assert fresh == table, "python -m fracbnn_lib.hw.synthesis shows which units differ"


def test_a_yosys_that_fails_is_one_line(tmp_path):
    broken = tmp_path / "yosys"
    broken.write_text("#!/bin/sh\necho 'ERROR: syntax error' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(synthesis.UnitCostError, match="yosys failed on 1 units: ERROR: syntax error"):
        synthesis._run([Unit.of("mux", ways=2, width=1)], str(broken))
    assert shutil.which("yosys") is None or synthesis.yosys_path() is not None


def _simulate(unit: Unit, vectors: list[dict[str, int]], output: str, tmp_path) -> list[int]:
    """``output`` of ``unit`` for each input vector, held until the pipeline settles (Icarus Verilog)."""
    module = build(unit)
    ports = {port.name: port for port in module.ports}
    lines = ["module tb;", "reg clk = 0;", "always #1 clk = ~clk;"]
    for port in module.ports:
        kind = "reg" if port.direction == "input" else "wire"
        lines.append(f"{kind} {'signed ' if port.signed else ''}[{port.width - 1}:0] {port.name};")
    connections = [".clk(clk)"] if module.clocked else []
    lines.append(f"{module.name} dut({', '.join(connections + [f'.{name}({name})' for name in ports])});")
    lines.append("initial begin")
    for vector in vectors:
        lines += [
            f"  {name} = {ports[name].width}'h{value & ((1 << ports[name].width) - 1):x};"
            for name, value in vector.items()
        ]
        shown = f"$signed({output})" if ports[output].signed else output
        lines += ["  #24;", f'  $display("%0d", {shown});']
    lines += ["  $finish;", "end", "endmodule"]
    source = tmp_path / "tb.v"
    source.write_text(unit.verilog() + "\n".join(lines) + "\n")
    subprocess.run(["iverilog", "-o", str(tmp_path / "tb"), str(source)], check=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "tb")], capture_output=True, text=True, check=True).stdout
    return [int(line) for line in out.split()]


def test_the_units_compute_what_the_cpp_computes(tmp_path):
    """The fixed-point units at the default formats against exact rational arithmetic with ``ap_fixed``'s
    rounding (half up) and saturation, and the popcounts: the LUTs priced are those of the right circuit.
    Needs Icarus Verilog: CI installs it (.ci/run) and fails without it; elsewhere it is skipped without it."""
    if shutil.which("iverilog") is None:
        if os.environ.get("CI"):
            pytest.fail("iverilog not found: CI installs it (.ci/run, apt-get install iverilog)")
        pytest.skip("iverilog not installed (apt-get install iverilog)")
    rng = random.Random(0)
    formats = resolve_formats("default")
    fm, scale, param = formats.fm, formats.scale, formats.param

    def fixed(raw: int, fmt) -> Fraction:
        return Fraction(raw, 1 << fmt.frac)

    def to_fm(value: Fraction) -> int:
        raw = math.floor(value * (1 << fm.frac) + Fraction(1, 2))
        return max(fm.raw_min, min(fm.raw_max, raw))

    def raw(fmt, shift: int) -> int:
        return rng.randrange(fmt.raw_min, fmt.raw_max + 1) >> shift

    epilogue = Unit.of("pg_epilogue", fm_w=fm.width, fm_i=fm.integer, scale_w=scale.width, scale_i=scale.integer,
                       param_w=param.width, param_i=param.integer, z_bits=16)  # fmt: skip
    vectors = [
        {"z": rng.randrange(-1728, 1729), "scale": raw(scale, rng.randrange(12)), "shift": raw(param, 6),
         "slope": raw(param, 3), "bn_scale": raw(scale, rng.randrange(6)), "bn_shift": raw(param, 4),
         "r": raw(fm, rng.randrange(10))}
        for _ in range(60)
    ]  # fmt: skip
    for v, x in zip(vectors, _simulate(epilogue, vectors, "x", tmp_path), strict=True):
        y = to_fm(fixed(v["scale"], scale) * v["z"] + fixed(v["shift"], param))
        y = to_fm(fixed(y, fm) * fixed(v["slope"], param)) if y < 0 else y
        assert x == to_fm(fixed(v["bn_scale"], scale) * fixed(y + v["r"], fm) + fixed(v["bn_shift"], param)), v
    values = [{"x": rng.randrange(-2 << fm.frac, 2 << fm.frac)} for _ in range(80)]
    quantiser = Unit.of("quantiser2", fm_w=fm.width, fm_i=fm.integer)
    for v, q in zip(values, _simulate(quantiser, values, "q", tmp_path), strict=True):
        assert q == max(0, min(3, math.floor((fixed(v["x"], fm) + 1) * Fraction(3, 2) + Fraction(1, 2))))
    quantiser = Unit.of("quantiser4", fm_w=fm.width, fm_i=fm.integer)
    for v, k in zip(values, _simulate(quantiser, values, "k", tmp_path), strict=True):
        assert k == max(0, min(15, math.floor((15 * fixed(v["x"], fm) + 16) / 2)))
    words = [{"a": rng.getrandbits(64), "w": rng.getrandbits(64)} for _ in range(20)]
    for kind in ("xor_popcount", "swar_popcount", "compressor_popcount"):
        counts = _simulate(Unit.of(kind, n=64), words, "count", tmp_path)
        assert counts == [bin(v["a"] ^ v["w"]).count("1") for v in words]
    slices = [{"a": v["a"] >> 32, "w": v["w"], "slice": i % 2} for i, v in enumerate(words)]  # layers.h slice_dot
    counts = _simulate(Unit.of("slice_xor_popcount", n=32, slices=2), slices, "count", tmp_path)
    assert counts == [bin(v["a"] ^ (v["w"] >> (32 - 32 * v["slice"]) & 0xFFFFFFFF)).count("1") for v in slices]
