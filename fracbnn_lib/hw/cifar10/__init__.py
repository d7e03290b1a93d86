"""The CIFAR-10 accelerator (``hls/cifar10``, top ``FracNet_T``): the FracBNN ResNet-20 on the ZU3EG, on chip.

Its hardware side, with the same operations under the same names as :mod:`fracbnn_lib.hw.imagenet`
(:data:`fracbnn_lib.accelerators.HARDWARE_API`): :mod:`.layout` (layer table, parameter arrays),
:mod:`.fold` (rung L1: BN folded, weights binarised), :mod:`.params` (the parameters in the accelerator's
formats), :mod:`.headers` (``weights.h``, ``fracnet_config.h``), :mod:`.export` (write and read an export
folder), :mod:`.reference` (L2, bit-exact numpy), :mod:`.csim` (L3, g++ C-simulation), :mod:`.cost` (the
cost model) and :mod:`.ladder` (notebook 04). The names below load their module on first use:
:mod:`.export`, :mod:`.csim`, :mod:`.params` and :mod:`.layout` need no PyTorch (the deploy bundle carries
them).
"""

from __future__ import annotations

from ...lazy import lazy_exports

_EXPORTS = {
    "export": ("NETWORK", "EXPORT_FILES", "export_accelerator", "load_export", "pack_images", "reference_predict"),
    "csim": ("SOURCES", "source_dir", "build_library", "csim_forward", "csim_predict", "ExportCsim", "loop_counts"),
    "headers": ("config_header",),
    "reference": ("reference_forward",),
    "cost": ("accelerator_loops", "cost_summary"),
    "ladder": ("run_ladder", "layer_error_table", "plot_layer_errors", "cost_vs_paper"),
    "params": ("AcceleratorParams",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
