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

from ...accelerators import HARDWARE_MODULES
from ...lazy import lazy_exports

_EXPORTS = {**HARDWARE_MODULES, "headers": ("config_header",), "params": ("AcceleratorParams",)}
__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
