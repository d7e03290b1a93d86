"""The ImageNet accelerator (``hls/imagenet``, top ``FracNetImageNet``): the FracBNN ReActNet with its maps in DRAM.

Its hardware side, with the same operations under the same names as :mod:`fracbnn_lib.hw.cifar10`
(:data:`fracbnn_lib.accelerators.HARDWARE_API`): :mod:`.layout` (layer table, DRAM regions,
``fracnet_config.h``), :mod:`.fold` (fold a checkpoint into the DRAM regions), :mod:`.params` (the DRAM
regions and the ARM's classifier), :mod:`.export` (write and read an export folder), :mod:`.reference` (L2,
bit-exact numpy), :mod:`.csim` (L3, g++ C-simulation), :mod:`.cost` (cycles, DRAM traffic, images/s) and
:mod:`.ladder` (notebook 04). The names below load their module on first use: :mod:`.export`, :mod:`.csim`,
:mod:`.params` and :mod:`.layout` need no PyTorch (the deploy bundle carries them).
"""

from __future__ import annotations

from ...lazy import lazy_exports

_EXPORTS = {
    "export": ("NETWORK", "EXPORT_FILES", "export_accelerator", "load_export", "pack_images", "reference_predict"),
    "csim": ("SOURCES", "source_dir", "build_library", "csim_forward", "csim_predict", "ExportCsim", "loop_counts"),
    "layout": ("config_header",),
    "reference": ("reference_forward",),
    "cost": ("accelerator_loops", "cost_summary"),
    "ladder": ("run_ladder", "layer_error_table", "plot_layer_errors", "cost_vs_paper"),
    "params": ("DramRegions",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
