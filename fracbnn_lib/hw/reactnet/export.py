"""Export a FracBNN ReActNet to the ImageNet accelerator, read an export back, and run it (L2 and L3).

:func:`export_imagenet_accelerator` writes into ``out_dir`` (atomically, as the CIFAR-10 export:
a staging folder beside it replaces it whole; build outputs already there are kept):

- ``fracnet_config.h`` (formats, levels, region sizes, the layer table) for ``hls/imagenet``;
- ``weights.bin`` and ``params.bin``: the DRAM images (:mod:`.layout` documents their layout);
- ``classifier.npz``: the FC layer the ARM applies to the pooled sums (float64 ``fc_weight``, ``fc_bias``);
- for given images: ``images.npy`` (``uint32 N x 3 x 224 x 224``), ``labels.npy``,
  ``expected_pooled.npy`` (``int64 N x 1024``, the bit-exact reference's outputs, which C-simulation
  and the board must reproduce) and ``expected_logits.npy`` (``float32``, :func:`~.classifier.classify`);
- ``manifest.json`` (last): formats, layout, DRAM region sizes, source, SHA-256 per file.

The folder is written whole (:func:`~fracbnn_lib.hw.manifest.write_export_folder`, as for CIFAR-10).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..fixed_point import FixedFormat, Formats, resolve_formats
from ..manifest import CONFIG_HEADER, ExportError, sha256, write_export_folder
from .layout import IMAGE_SIZE, ReActNetImages, config_header, dram_bytes, image_words, layout_string

NETWORK = "fracbnn_reactnet_imagenet"
MANIFEST_VERSION = 1
WEIGHTS_FILE = "weights.bin"
PARAMS_FILE = "params.bin"
CLASSIFIER_FILE = "classifier.npz"
IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
EXPECTED_POOLED_FILE = "expected_pooled.npy"
EXPECTED_FILE = "expected_logits.npy"
EXPORT_FILES = (CONFIG_HEADER, WEIGHTS_FILE, PARAMS_FILE, CLASSIFIER_FILE, IMAGES_FILE, LABELS_FILE)
EXPORT_FILES += (EXPECTED_POOLED_FILE, EXPECTED_FILE, "manifest.json")
INTERFACE = {
    "top": "FracNetImageNet(uint32 image[150528], uint64 weights[], int64 params[], uint64 fmaps[], int64 pooled[])",
    "image": "level b of colour c at pixel (row, col) is bit 31 - b of image[(c * 224 + row) * 224 + col]",
    "registers": {"image": "image", "weights": "weights", "params": "params", "fmaps": "fmaps", "pooled": "pooled"},
}


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def pack_images(images: Any, resolution: int) -> np.ndarray:
    """Float images N x 3 x 224 x 224 in [0, 1] -> the accelerator's ``uint32`` input words."""
    import torch

    from ...encoding import pack_thermometer, thermometer_encode

    images = torch.as_tensor(images, dtype=torch.float32)
    if images.dim() != 4 or tuple(images.shape[1:]) != (3, IMAGE_SIZE, IMAGE_SIZE):
        raise ExportError(f"images must be float N x 3 x 224 x 224 in [0, 1], got shape {tuple(images.shape)}")
    return np.concatenate(
        [
            image_words(pack_thermometer(thermometer_encode(images[i : i + 8], resolution)))
            for i in range(0, len(images), 8)
        ]
    )


def export_imagenet_accelerator(
    model: Any,
    out_dir: str | Path,
    images: Any = None,
    labels: Any = None,
    *,
    formats: str | Formats | Mapping[str, Any] = "default",
    source: str | Path | None = None,
    dataset: str | None = None,
) -> Path:
    """Export a FracBNN ReActNet (binary weights) to ``out_dir``; returns ``out_dir``.

    ``images``: float N x 3 x 224 x 224 in [0, 1] (not normalised); ``labels``: N integers. Everything is
    checked (:class:`ExportError`, one line) before a file is written.
    """
    from .params import fold_reactnet
    from .reference import reference_pooled

    if labels is not None and images is None:
        raise ExportError("labels were given without images: pass the images they belong to")
    formats = resolve_formats(formats)
    dram = fold_reactnet(model, formats)
    resolution = int(model.model[0][0].resolution)
    files: dict[str, bytes] = {
        CONFIG_HEADER: config_header(formats, dram.levels).encode(),
        WEIGHTS_FILE: dram.weights.astype("<u8").tobytes(),
        PARAMS_FILE: dram.params.astype("<i8").tobytes(),
    }
    buffer = io.BytesIO()
    np.savez(buffer, fc_weight=dram.fc_weight, fc_bias=dram.fc_bias)
    files[CLASSIFIER_FILE] = buffer.getvalue()
    vectors = None
    if images is not None:
        packed = pack_images(images, resolution)
        if labels is not None:
            labels = np.asarray(labels).astype(np.int64)
            if labels.shape != (len(packed),):
                raise ExportError(f"labels must be N = {len(packed)} integers, got shape {labels.shape}")
        gates: dict[str, list[int]] = {}
        pooled = reference_pooled(dram, packed, gates)
        files[IMAGES_FILE] = _npy(packed)
        files[EXPECTED_POOLED_FILE] = _npy(pooled)
        files[EXPECTED_FILE] = _npy(dram.logits(pooled))
        if labels is not None:
            files[LABELS_FILE] = _npy(labels)
        from ...data import CLASS_NAMES

        vectors = {
            "images": len(packed),
            "dataset": dataset,
            "classes": list(CLASS_NAMES[dataset]) if dataset in CLASS_NAMES else None,
            "labels": labels is not None,
            "gate_open": {name: opened / total for name, (opened, total) in gates.items()},
        }

    def manifest(staging: Path) -> dict[str, Any]:
        return {
            "manifest_version": MANIFEST_VERSION,
            "network": NETWORK,
            "source": {"checkpoint": str(source) if source is not None else None},
            "resolution": resolution,
            "levels": dram.levels,
            "classes": int(dram.fc_weight.shape[0]),
            "formats": formats.to_dict(),
            "layout": layout_string(dram.levels),
            "dram_bytes": dram_bytes(dram.levels),
            "interface": INTERFACE,
            "saturated_parameters": dram.saturated,
            "test_vectors": vectors,
            "files": {name: {"bytes": len(data), "sha256": sha256(staging / name)} for name, data in files.items()},
        }

    return write_export_folder(out_dir, files, manifest, EXPORT_FILES)


def load_export(export_dir: str | Path) -> tuple[dict[str, Any], ReActNetImages]:
    """An ImageNet export's manifest and DRAM images, every file checked against the manifest's SHA-256."""
    folder = Path(export_dir)
    path = folder / "manifest.json"
    if not path.is_file():
        raise ExportError(f"no ImageNet accelerator export in {folder} (manifest.json missing): export first")
    manifest = json.loads(path.read_text())
    if manifest.get("network") != NETWORK or manifest.get("manifest_version") != MANIFEST_VERSION:
        raise ExportError(
            f"{path} is not a version-{MANIFEST_VERSION} export of {NETWORK}; export the checkpoint again"
        )
    for name in (CONFIG_HEADER, WEIGHTS_FILE, PARAMS_FILE, CLASSIFIER_FILE):
        if not (folder / name).is_file() or sha256(folder / name) != manifest["files"][name]["sha256"]:
            raise ExportError(f"{folder / name} is missing or does not match its manifest: export again")
    spec = manifest["formats"]
    formats = Formats(**{name: FixedFormat(spec[name]["width"], spec[name]["integer"]) for name in spec})
    classifier = np.load(folder / CLASSIFIER_FILE)
    images = ReActNetImages(
        formats=formats,
        levels=int(manifest["levels"]),
        weights=np.fromfile(folder / WEIGHTS_FILE, dtype="<u8").astype(np.uint64),
        params=np.fromfile(folder / PARAMS_FILE, dtype="<i8").astype(np.int64),
        fc_weight=classifier["fc_weight"],
        fc_bias=classifier["fc_bias"],
        saturated=manifest.get("saturated_parameters", {}),
    )
    return manifest, images


class ImageNetCsim:
    """An export's g++ C-simulation, loaded once (files checked, library built or found) and run many times.

    Calling it with input words ``[N, 3, 224, 224]`` returns ``(pooled int64 N x 1024, logits float32
    N x classes)``. What a driver or a timing loop holds, so that one image does not pay for reading and
    hashing 4 MB of DRAM images and the sources again.
    """

    def __init__(self, export_dir: str | Path) -> None:
        from . import csim

        self.manifest, self.dram = load_export(export_dir)
        self.library = csim.build_library((Path(export_dir) / CONFIG_HEADER).read_text())
        self._run = csim.run_library

    def __call__(self, packed: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        dram = self.dram
        pooled = self._run(self.library, self.manifest["layout"], dram.weights, dram.params, packed, threads)
        return pooled, dram.logits(pooled)


def csim_predict(
    export_dir: str | Path, packed: np.ndarray, *, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(pooled int64 N x 1024, logits float32 N x classes)`` of the g++ C-simulation for an export."""
    return ImageNetCsim(export_dir)(packed, threads)


def reference_predict(export_dir: str | Path, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(pooled, logits)`` of the bit-exact numpy reference for an export."""
    from .reference import reference_pooled

    _, dram = load_export(export_dir)
    pooled = reference_pooled(dram, packed)
    return pooled, dram.logits(pooled)
