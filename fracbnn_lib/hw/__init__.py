"""The hardware side of FracBNN: HLS export, the bit-exact fixed-point reference and C-simulation.

The verification ladder (DESIGN.md section 3) from the trained model to the accelerator:

- L1 :mod:`.fold`: BN folded into per-channel scale/shift, weights binarised as the hardware does
  (:class:`FoldedFracBNN`, float64 PyTorch);
- L2 :mod:`.reference`: the accelerator's datapath in numpy, bit-exact (:func:`reference_predict`);
- L3 :mod:`.csim`: the HLS C++ of ``hls/cifar10`` compiled with g++ and called through ctypes
  (:func:`csim_predict`), equal to L2 in every logit.

:func:`export_accelerator` writes what the accelerator, the testbench and the board need
(:mod:`.export`); fixed-point formats are settings (:mod:`.fixed_point`, presets ``"default"``
and ``"paper"``). The names below load their module on first use: :mod:`.csim`, :mod:`.manifest`,
:mod:`.layout` and :mod:`.fixed_point` need no PyTorch, so the deploy bundle runs the C-simulation.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "csim": ("CsimError", "build_library", "csim_forward", "csim_predict"),
    "export": ("export_accelerator", "load_export_model"),
    "fixed_point": ("FORMAT_PRESETS", "FixedFormat", "FormatError", "Formats", "resolve_formats"),
    "fold": ("FoldedFracBNN", "fold_model", "fold_to_module"),
    "manifest": ("ExportError", "load_accelerator_params", "read_manifest"),
    "params": ("AcceleratorParams", "quantize_params"),
    "reference": ("ReferenceTrace", "reference_forward", "reference_predict"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
