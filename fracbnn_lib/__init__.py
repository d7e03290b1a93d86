"""FracBNN companion library: the paper's concepts, each in one place.

Quantisers (:mod:`.quantizers`), binary and precision-gated convs (:mod:`.layers`), gating
measurement (:mod:`.gating`), thermometer encoding (:mod:`.encoding`), models (:mod:`.models`)
and checkpoints (:mod:`.checkpoint`).

The names below load their module on first use, so the torch-free modules (:mod:`.files`,
:mod:`.run_files`, :mod:`.paper`, :mod:`.logits`, :mod:`.board`) import without PyTorch: the
deploy bundle carries them to PYNQ boards.
"""

from __future__ import annotations

import importlib
from typing import Any

from .version import __version__ as __version__

_EXPORTS = {
    "checkpoint": ("CheckpointError", "atomic_save", "load_checkpoint"),
    "encoding": ("ThermometerEncoder", "pack_thermometer", "thermometer_encode", "unpack_thermometer"),
    "gating": ("GatingStats", "measure_gating"),
    "layers": ("BinaryConv2d", "PGBinaryConv2d", "precision_gate", "set_binary_weights", "set_gating"),
    "models": ("fracbnn_reactnet", "fracbnn_resnet20"),
    "quantizers": ("LearnableBias", "RPReLU", "quant_sign", "sign_ste"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
