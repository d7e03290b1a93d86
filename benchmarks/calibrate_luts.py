"""LUTs of the accelerator's small primitives, synthesised by yosys for the ZU3EG's fabric (UltraScale+).

    python benchmarks/calibrate_luts.py        # needs yosys (apt-get install yosys)

Writes each primitive as plain Verilog (the shape an HLS tool emits for the C++ of ``hls/cifar10``:
an XOR followed by an unrolled popcount, and an adder tree of the nine tap sums of one lane), runs
``synth_xilinx -family xcup -abc9`` on it alone and prints the LUT count beside the figure
:class:`fracbnn_lib.hw.cost.CostSettings` uses, so a change of yosys or of a primitive shows at once.
Yosys maps these less tightly than Vivado, so the model's LUT totals lean high. Modelled figures,
not a measurement of the accelerator.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fracbnn_lib.hw.cifar10.cost import CostSettings  # noqa: E402

PRIMITIVES = {
    "xor_popcount_32": (
        "module top (input [31:0] a, input [31:0] w, output reg [5:0] count);\n"
        "  integer i;\n  always @* begin count = 0; for (i = 0; i < 32; i = i + 1) count = count + (a[i] ^ w[i]); end\n"
        "endmodule\n"
    ),
    "xor_popcount_64": (
        "module top (input [63:0] a, input [63:0] w, output reg [6:0] count);\n"
        "  integer i;\n  always @* begin count = 0; for (i = 0; i < 64; i = i + 1) count = count + (a[i] ^ w[i]); end\n"
        "endmodule\n"
    ),
    "tap_adder_tree_9x8": (
        "module top (input [71:0] v, output reg signed [11:0] sum);\n"
        "  integer k;\n  always @* begin sum = 0; for (k = 0; k < 9; k = k + 1) sum = sum + $signed(v[8*k +: 8]); end\n"
        "endmodule\n"
    ),
}


def synthesise(verilog: str) -> int:
    """LUTs of one module named ``top`` after ``synth_xilinx -family xcup -abc9``."""
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "top.v"
        source.write_text(verilog)
        script = f"read_verilog {source}; synth_xilinx -family xcup -abc9 -top top; stat"
        out = subprocess.run(["yosys", "-p", script], capture_output=True, text=True, check=True).stdout
    stats = out[out.rindex("Printing statistics") :]
    return sum(int(n) for n in re.findall(r"^\s+LUT\d\s+(\d+)", stats, flags=re.M))


def main() -> int:
    if shutil.which("yosys") is None:
        print("yosys not found: apt-get install yosys", file=sys.stderr)
        return 1
    used = CostSettings().primitive_luts
    version = subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.strip()
    print(f"{version}; synth_xilinx -family xcup -abc9 (modelled, not the accelerator)")
    print(f"{'primitive':<22} {'yosys LUTs':>10} {'cost model':>10}")
    for name, verilog in PRIMITIVES.items():
        print(f"{name:<22} {synthesise(verilog):>10} {used[name]:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
