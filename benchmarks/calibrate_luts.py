"""The cost models' units synthesised again by yosys, beside the committed table the models read.

    python benchmarks/calibrate_luts.py        # needs yosys (apt-get install yosys)

Every unit the CIFAR-10 and ImageNet models price (:mod:`fracbnn_lib.hw.units`: XOR-popcounts, tap sums,
the fixed-point epilogues at each format preset, quantisers, multiplexers, counters, the release's units)
goes through ``synth_xilinx -family xcup -abc9`` (:mod:`fracbnn_lib.hw.synthesis`); each row prints yosys's
LUTs, flip-flops and DSP48E2 and whether the committed ``fracbnn_lib/hw/unit_costs.json`` holds the same
(``=``). ``--write`` updates the table. Modelled figures of units alone, not a synthesis of the accelerator.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fracbnn_lib.hw.synthesis import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
