"""FracBNN companion library: the paper's concepts, each in one place.

Quantisers (:mod:`.quantizers`), binary and precision-gated convs (:mod:`.layers`), gating
measurement (:mod:`.gating`), thermometer encoding (:mod:`.encoding`), models (:mod:`.models`)
and checkpoints (:mod:`.checkpoint`).

The names below load their module on first use, so the torch-free modules (:mod:`.files`,
:mod:`.run_files`, :mod:`.paper`, :mod:`.logits`, :mod:`.board`) import without PyTorch: the
deploy bundle carries them to PYNQ boards.
"""

from __future__ import annotations

from .lazy import lazy_exports
from .version import __version__ as __version__

_EXPORTS = {
    "checkpoint": ("CheckpointError", "atomic_save", "load_checkpoint"),
    "encoding": ("ThermometerEncoder", "pack_thermometer", "thermometer_encode", "unpack_thermometer"),
    "gating": ("GatingStats", "measure_gating"),
    "layers": ("BinaryConv2d", "PGBinaryConv2d", "precision_gate", "set_binary_weights", "set_gating"),
    "models": ("fracbnn_reactnet", "fracbnn_resnet20"),
    "quantizers": ("LearnableBias", "RPReLU", "quant_sign", "sign_ste"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
