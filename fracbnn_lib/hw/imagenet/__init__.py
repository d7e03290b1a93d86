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

from ...accelerators import HARDWARE_MODULES
from ...lazy import lazy_exports

_EXPORTS = {**HARDWARE_MODULES, "layout": ("config_header",), "params": ("DramRegions",)}
__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
