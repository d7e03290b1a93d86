"""The ImageNet accelerator's export folder: write it from a trained FracBNN ReActNet, read it back.

:func:`export_imagenet_accelerator` writes into ``out_dir`` (atomically, as the CIFAR-10 export:
a staging folder beside it replaces it whole; build outputs already there are kept):

- ``fracnet_config.h`` (formats, levels, region sizes, the layer table) for ``hls/imagenet``;
- ``weights.bin`` and ``params.bin``: the DRAM images (:mod:`.layout` documents their layout);
- ``classifier.npz``: the FC layer the ARM applies to the pooled sums (float64 ``fc_weight``, ``fc_bias``);
- for given images: ``images.npy`` (``uint32 N x 3 x 224 x 224``), ``labels.npy``,
  ``expected_pooled.npy`` (``int64 N x 1024``, the bit-exact reference's outputs, which C-simulation
  and the board must reproduce) and ``expected_logits.npy`` (``float32``, :func:`~.params.classify`);
- ``manifest.json`` (last): formats, layout, DRAM region sizes, source, SHA-256 per file.

The folder is written whole (:func:`~fracbnn_lib.hw.export_folder.write_export_folder`, as for CIFAR-10), with
the common manifest keys (:func:`~fracbnn_lib.hw.export_folder.manifest`) and ``dram_bytes``, ``classes``.
:func:`load_export` reads it back, every file checked against the manifest (numpy only: the deploy bundle
carries this module).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    npy_bytes,
    read_manifest,
    test_vector_files,
    write_export_folder,
)
from ..fixed_point import Formats, resolve_formats
from .layout import COLOURS, IMAGE_SIZE, config_header, dram_bytes, image_words, layout_string
from .params import DramRegions

NETWORK = "fracbnn_reactnet_imagenet"
"""The manifest's ``network`` of this accelerator (:mod:`fracbnn_lib.accelerators` is keyed by it)."""
WEIGHTS_FILE = "weights.bin"
CLASSIFIER_FILE = "classifier.npz"
EXPECTED_POOLED_FILE = "expected_pooled.npy"
EXPORT_FILES = (CONFIG_HEADER, WEIGHTS_FILE, PARAMS_FILE, CLASSIFIER_FILE, *TEST_VECTOR_FILES, EXPECTED_POOLED_FILE)
EXPORT_FILES += (MANIFEST_FILE,)
"""Every file an export writes; anything else in an export folder (build outputs) is the user's."""
INTERFACE = {
    "top": "FracNetImageNet(uint32 image[150528], uint64 weights[], int64 params[], uint64 fmaps[], int64 pooled[])",
    "image": "level b of colour c at pixel (row, col) is bit 31 - b of image[(c * 224 + row) * 224 + col]",
    "registers": {"image": "image", "weights": "weights", "params": "params", "fmaps": "fmaps", "pooled": "pooled"},
}


def pack_images(images: Any, resolution: int) -> np.ndarray:
    """Float images ``N x 3 x 224 x 224`` in [0, 1] -> the accelerator's ``uint32[N, 3, 224, 224]`` input words.

    Level ``b`` of colour ``c`` at pixel ``(row, col)`` is bit ``31 - b`` of word ``[c, row, col]`` (the high
    half of :func:`fracbnn_lib.pack_thermometer`'s words). :class:`ExportError` (one line) for another shape.
    """
    import torch

    from ...encoding import pack_thermometer, thermometer_encode

    images = torch.as_tensor(images, dtype=torch.float32)
    if images.dim() != 4 or tuple(images.shape[1:]) != (COLOURS, IMAGE_SIZE, IMAGE_SIZE):
        raise ExportError(f"images must be float N x 3 x 224 x 224 in [0, 1], got shape {tuple(images.shape)}")
    chunks = [
        image_words(pack_thermometer(thermometer_encode(images[i : i + 8], resolution)))
        for i in range(0, len(images), 8)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, COLOURS, IMAGE_SIZE, IMAGE_SIZE), np.uint32)


def export_accelerator(
    model: Any,
    out_dir: str | Path,
    images: Any = None,
    labels: Any = None,
    *,
    formats: str | Formats | Mapping[str, Any] = "default",
    source: str | Path | None = None,
    dataset: str | None = None,
) -> Path:
    """Export a FracBNN ReActNet (``fracbnn_reactnet``, binary weights) to ``out_dir``; returns ``out_dir``.

    ``images``: float N x 3 x 224 x 224 in [0, 1] (not normalised); ``labels``: N integers (only with images);
    ``formats``, ``source`` and ``dataset`` as for CIFAR-10's :func:`fracbnn_lib.hw.cifar10.export_accelerator`.
    Everything is checked (:class:`ExportError`, one line) before a file is written.
    """
    from ..datapath import ReferenceTrace
    from .fold import fold_reactnet
    from .layout import LANES
    from .reference import reference_forward

    if labels is not None and images is None:
        raise ExportError("labels were given without images: pass the images they belong to")
    formats = resolve_formats(formats)
    params = fold_reactnet(model, formats)
    resolution = int(model.model[0][0].resolution)
    packed = pack_images(images, resolution) if images is not None else None
    labels = checked_labels(labels, len(packed)) if labels is not None else None
    files: dict[str, bytes] = {
        CONFIG_HEADER: config_header(formats, params.levels).encode(),
        WEIGHTS_FILE: params.weights.astype("<u8").tobytes(),
        PARAMS_FILE: params.params.astype("<i8").tobytes(),
    }
    buffer = io.BytesIO()
    np.savez(buffer, fc_weight=params.fc_weight, fc_bias=params.fc_bias)
    files[CLASSIFIER_FILE] = buffer.getvalue()
    vectors = None
    if packed is not None:
        trace = ReferenceTrace(lanes=LANES)
        pooled = reference_forward(params, packed, trace)
        vector_files, vectors = test_vector_files(packed, labels, params.logits(pooled), trace, dataset)
        files.update(vector_files, **{EXPECTED_POOLED_FILE: npy_bytes(pooled)})

    def write_manifest(staging: Path) -> dict[str, Any]:
        return manifest(
            network=NETWORK,
            source=source,
            resolution=resolution,
            levels=params.levels,
            formats=formats,
            layout=layout_string(params.levels),
            interface=INTERFACE,
            test_vectors=vectors,
            folder=staging,
            files=files,
            classes=params.classes,
            parameters={"saturated": params.saturated},
            dram_bytes=dram_bytes(params.levels),
        )

    return write_export_folder(out_dir, files, write_manifest, EXPORT_FILES)


def load_export(export_dir: str | Path) -> tuple[dict[str, Any], DramRegions]:
    """An ImageNet export's manifest and DRAM regions, every file checked against the manifest's SHA-256.

    :class:`ExportError` (one line) for a folder that is not an ImageNet export, or a missing or modified file.
    """
    found = read_manifest(export_dir, NETWORK)
    if found.get("layout") != layout_string(int(found.get("levels", 0))):
        raise ExportError(f"{export_dir} was exported for another DRAM layout: export the checkpoint again")
    for name in (CONFIG_HEADER, WEIGHTS_FILE, PARAMS_FILE, CLASSIFIER_FILE):
        checked_file(export_dir, found, name)
    folder = Path(export_dir)
    classifier = np.load(folder / CLASSIFIER_FILE)
    params = DramRegions(
        formats=manifest_formats(found),
        levels=int(found["levels"]),
        weights=np.fromfile(folder / WEIGHTS_FILE, dtype="<u8").astype(np.uint64),
        params=np.fromfile(folder / PARAMS_FILE, dtype="<i8").astype(np.int64),
        fc_weight=classifier["fc_weight"],
        fc_bias=classifier["fc_bias"],
        saturated=found.get("parameters", {}).get("saturated", {}),
    )
    return found, params


def reference_predict(export_dir: str | Path, packed: np.ndarray) -> np.ndarray:
    """Logits ``float32[N, classes]`` of the bit-exact numpy reference (and the ARM's classifier) for an export."""
    from .reference import reference_forward

    _, params = load_export(export_dir)
    return params.logits(reference_forward(params, packed))
