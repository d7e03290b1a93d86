"""FracBNN companion library: the paper's concepts, each in one place.

Quantisers (:mod:`.quantizers`), binary and precision-gated convs (:mod:`.layers`), gating
measurement (:mod:`.gating`), thermometer encoding (:mod:`.encoding`), models (:mod:`.models`)
and checkpoints (:mod:`.checkpoint`).
"""

from .checkpoint import CheckpointError, atomic_save, load_checkpoint
from .encoding import ThermometerEncoder, pack_thermometer, thermometer_encode, unpack_thermometer
from .gating import GatingStats, measure_gating
from .layers import BinaryConv2d, PGBinaryConv2d, precision_gate, set_binary_weights, set_gating
from .models import fracbnn_reactnet, fracbnn_resnet20
from .quantizers import LearnableBias, RPReLU, quant_sign, sign_ste

__version__ = "0.1.0"

__all__ = [
    "BinaryConv2d",
    "CheckpointError",
    "GatingStats",
    "LearnableBias",
    "PGBinaryConv2d",
    "RPReLU",
    "ThermometerEncoder",
    "atomic_save",
    "fracbnn_reactnet",
    "fracbnn_resnet20",
    "load_checkpoint",
    "measure_gating",
    "pack_thermometer",
    "precision_gate",
    "quant_sign",
    "set_binary_weights",
    "set_gating",
    "sign_ste",
    "thermometer_encode",
    "unpack_thermometer",
]
