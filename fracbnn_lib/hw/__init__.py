"""The hardware side of FracBNN: HLS export, the bit-exact fixed-point reference and C-simulation.

The verification ladder (DESIGN.md section 3) from the trained model to the accelerator:

- L1 :mod:`.fold`: BN folded into per-channel scale/shift, weights binarised as the hardware does
  (:class:`FoldedFracBNN`, float64 PyTorch);
- L2 :mod:`.reference`: the accelerator's datapath in numpy, bit-exact (:func:`reference_predict`);
- L3 :mod:`.csim`: the HLS C++ of ``hls/cifar10`` compiled with g++ and called through ctypes
  (:func:`csim_predict`), equal to L2 in every logit.

:func:`export_accelerator` writes what the accelerator, the testbench and the board need
(:mod:`.export`); fixed-point formats are settings (:mod:`.fixed_point`, presets ``"default"``
and ``"paper"``).
"""

from .csim import CsimError, build_library, csim_forward, csim_predict
from .export import export_accelerator, load_export_model
from .fixed_point import FORMAT_PRESETS, FixedFormat, FormatError, Formats, resolve_formats
from .fold import ExportError, FoldedFracBNN, fold_model, fold_to_module
from .manifest import load_accelerator_params, read_manifest
from .params import AcceleratorParams, quantize_params
from .reference import ReferenceTrace, reference_forward, reference_predict

__all__ = [
    "FORMAT_PRESETS",
    "AcceleratorParams",
    "CsimError",
    "ExportError",
    "FixedFormat",
    "FoldedFracBNN",
    "FormatError",
    "Formats",
    "ReferenceTrace",
    "build_library",
    "csim_forward",
    "csim_predict",
    "export_accelerator",
    "fold_model",
    "fold_to_module",
    "load_accelerator_params",
    "load_export_model",
    "quantize_params",
    "read_manifest",
    "reference_forward",
    "reference_predict",
    "resolve_formats",
]
