"""The CIFAR-10 accelerator's export folder: write it from a trained FracBNN, read it back.

:func:`export_accelerator` folds the model (:mod:`.fold`), packs and quantises its parameters in
the chosen fixed-point formats (:mod:`.params`), and writes into ``out_dir``:

- ``fracnet_config.h`` (formats, thermometer levels) and ``weights.h`` (every parameter as a
  constant ROM) for ``hls/cifar10`` (synthesis and the testbench),
- ``params.bin`` (the same parameters, read by the C-simulation library and the numpy reference),
- for given images: ``images.npy`` (``uint64 N x 3 x 32 x 32`` thermometer words), ``labels.npy``
  (``int64 N``) and ``expected_logits.npy`` (``float32 N x 10`` of the bit-exact reference,
  which C-simulation and the board must reproduce),
- ``manifest.json`` (written last): formats, shapes, source, parameter statistics, SHA-256 per file.

Everything is checked before the first file is written; the files are then written into a new
folder beside ``out_dir``, which replaces ``out_dir`` whole at the end (what else ``out_dir`` held,
e.g. the build outputs of ``make hls``, is moved across). A failed export (a full disk, an
interrupt) leaves the previous export exactly as it was and no temporary behind; two exports into
one folder at once are refused (:class:`~fracbnn_lib.files.FolderLock`).

:func:`load_export` reads an export back (every file it uses checked against the manifest), numpy only:
the deploy bundle carries this module. The command line is ``fracbnn export`` (:mod:`fracbnn_lib.export`),
the same for both accelerators.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..export_folder import (
    CONFIG_HEADER,
    MANIFEST_FILE,
    PARAMS_FILE,
    TEST_VECTOR_FILES,
    ExportError,
    checked_file,
    checked_labels,
    manifest,
    manifest_formats,
    read_manifest,
    test_vector_files,
    write_export_folder,
)
from ..fixed_point import Formats, resolve_formats
from .layout import CLASSES, COLOURS, IMAGE_SIZE, layout_string
from .params import AcceleratorParams

if TYPE_CHECKING:
    from torch import nn

NETWORK = "fracbnn_resnet20_cifar10"
"""The manifest's ``network`` of this accelerator (:mod:`fracbnn_lib.accelerators` is keyed by it)."""
WEIGHTS_HEADER = "weights.h"
EXPORT_FILES = (CONFIG_HEADER, WEIGHTS_HEADER, PARAMS_FILE, *TEST_VECTOR_FILES, MANIFEST_FILE)
"""Every file an export writes; anything else in an export folder (build outputs) is the user's."""
INTERFACE = {
    "top": "FracNet_T(uint64 image[3][32][32], float output[10])",
    "image": "level b of colour c at pixel (row, col) is bit 63 - b of image[c][row][col]; 1 = level on",
    "registers": {"image": "image_V", "output": "output_r"},
}


def pack_images(images: Any, resolution: int) -> np.ndarray:
    """Float images ``N x 3 x 32 x 32`` in [0, 1] -> the accelerator's ``uint64[N, 3, 32, 32]`` input words.

    Level ``b`` of colour ``c`` at pixel ``(row, col)`` is bit ``63 - b`` of word ``[c, row, col]``
    (:func:`fracbnn_lib.pack_thermometer` of :func:`fracbnn_lib.thermometer_encode`). :class:`ExportError`
    (one line) for another shape.
    """
    import torch

    from ...encoding import pack_thermometer, thermometer_encode

    images = torch.as_tensor(images, dtype=torch.float32)
    if images.dim() != 4 or tuple(images.shape[1:]) != (COLOURS, IMAGE_SIZE, IMAGE_SIZE):
        raise ExportError(f"images must be float N x 3 x 32 x 32 in [0, 1], got shape {tuple(images.shape)}")
    return pack_thermometer(thermometer_encode(images, resolution))


def export_accelerator(
    model: nn.Module,
    out_dir: str | Path,
    images: Any = None,
    labels: Any = None,
    *,
    formats: str | Formats | Mapping[str, Any] = "default",
    source: str | Path | None = None,
    dataset: str | None = None,
) -> Path:
    """Export a CIFAR-10 FracBNN (``fracbnn_resnet20``, binary weights) to ``out_dir``; returns ``out_dir``.

    ``model`` is read with eval semantics (BN running statistics). ``images``: float N x 3 x 32 x 32
    in [0, 1] (thermometer-encoded with the model's resolution and packed as the accelerator's input
    words, :func:`pack_images`); ``labels``: N integers (only with images). ``formats``: a preset name
    (:data:`~fracbnn_lib.hw.fixed_point.FORMAT_PRESETS`), a :class:`Formats` or a mapping of some of
    ``fm``/``scale``/``param``/``logit`` to formats. ``source`` (the checkpoint file) and ``dataset``
    are recorded in the manifest (with the data set's class names, for the board's reports).

    Raises :class:`ExportError` (one line) for another architecture, channels beyond the 64-bit
    packing, float weights or malformed test vectors, and ``FormatError`` for unusable formats,
    before anything is written.
    """
    from .fold import fold_model
    from .headers import config_header, weights_header
    from .params import quantize_params
    from .reference import ReferenceTrace, reference_forward

    if labels is not None and images is None:
        raise ExportError("labels were given without images: pass the images they belong to")
    formats = resolve_formats(formats)
    folded = fold_model(model)
    packed = pack_images(images, folded.resolution) if images is not None else None
    labels = checked_labels(labels, len(packed)) if labels is not None else None
    params = quantize_params(folded, formats)

    files: dict[str, bytes] = {
        CONFIG_HEADER: config_header(formats, folded.levels).encode(),
        WEIGHTS_HEADER: weights_header(params, str(source) if source is not None else "an in-memory model").encode(),
        PARAMS_FILE: params.to_blob(),
    }
    vectors = None
    if packed is not None:
        trace = ReferenceTrace()
        vector_files, vectors = test_vector_files(
            packed, labels, reference_forward(params, packed, trace), trace, dataset
        )
        files.update(vector_files)

    def write_manifest(staging: Path) -> dict[str, Any]:
        return manifest(
            network=NETWORK,
            source=source,
            resolution=folded.resolution,
            levels=folded.levels,
            formats=formats,
            layout=layout_string(),
            interface=INTERFACE,
            test_vectors=vectors,
            folder=staging,
            files=files,
            classes=CLASSES,
            parameters={
                "saturated": params.saturated,
                "memory_bits": params.memory_bits(),
                "binary_weight_bits": params.used_weight_bits(),
            },
        )

    return write_export_folder(out_dir, files, write_manifest, EXPORT_FILES)


def load_export(export_dir: str | Path) -> tuple[dict[str, Any], AcceleratorParams]:
    """A CIFAR-10 export's manifest and parameters (``params.bin``, checked against the manifest's SHA-256 and layout).

    :class:`ExportError` (one line) for a folder that is not a CIFAR-10 export, or a missing or modified file.
    """
    found = read_manifest(export_dir, NETWORK)
    if found.get("layout") != layout_string():
        raise ExportError(f"{export_dir} was exported for another parameter layout: export the checkpoint again")
    checked_file(export_dir, found, CONFIG_HEADER)
    blob = checked_file(export_dir, found, PARAMS_FILE).read_bytes()
    try:
        return found, AcceleratorParams.from_blob(blob, manifest_formats(found), int(found["levels"]))
    except ValueError as err:
        raise ExportError(f"{Path(export_dir) / PARAMS_FILE}: {err}") from None


def reference_predict(export_dir: str | Path, packed: np.ndarray) -> np.ndarray:
    """Logits ``float32[N, 10]`` of the bit-exact numpy reference for an export and packed input words."""
    from .reference import reference_forward

    _, params = load_export(export_dir)
    return reference_forward(params, packed)
