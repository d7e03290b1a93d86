"""The hardware side of FracBNN: both accelerators' export, bit-exact reference, C-simulation and cost model.

Each accelerator has its package with the same operations under the same names
(:data:`fracbnn_lib.accelerators.HARDWARE_API`): :mod:`.cifar10` (``hls/cifar10``) and :mod:`.imagenet`
(``hls/imagenet``); :func:`fracbnn_lib.accelerators.accelerator_of` and its siblings say which one serves an
export, a data set or a checkpoint. What both share lives here: fixed-point arithmetic and formats
(:mod:`.fixed_point`), bit packing (:mod:`.bits`), folding helpers (:mod:`.folding`), the reference's
datapath (:mod:`.datapath`), the export folder and its manifest (:mod:`.export_folder`), the C-simulation
build (:mod:`.csim_build`), the cost model's machinery (:mod:`.cost_model`) and the hardware units it
prices, synthesised by yosys into a committed table (:mod:`.units`, :mod:`.synthesis`), notebook 04's
ladder (:mod:`.ladder`) and the csynth report reader (:mod:`.csynth`).

The verification ladder (DESIGN.md section 3) from the trained model to the accelerator: L0 the PyTorch
model, L1 the folded model (CIFAR-10), L2 the bit-exact numpy reference, L3 the HLS C++ compiled with g++
(equal to L2 in every output), L4 the board (:mod:`fracbnn_lib.board`). The names below load their module
on first use; the torch-free modules (:mod:`.fixed_point`, :mod:`.bits`, :mod:`.export_folder`,
:mod:`.csim_build` and each accelerator's ``export``, ``csim``, ``params``, ``layout``) go into the deploy
bundle.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "csim_build": ("CsimError",),
    "export_folder": ("ExportError", "read_manifest"),
    "fixed_point": ("FORMAT_PRESETS", "FixedFormat", "FormatError", "Formats", "resolve_formats"),
    "datapath": ("ReferenceTrace",),
    "ladder": ("Ladder", "ladder_table", "hardware_sparsity_table", "plot_hardware_sparsity", "hls_metrics"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
