"""Export a trained CIFAR-10 FracBNN to the accelerator: headers, ``params.bin``, test vectors, manifest.

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

Command line (``fracbnn export`` / ``python -m fracbnn_lib export``)::

    fracbnn export runs/default/checkpoints/final.pt [--out runs/default/export] [--images 200]
        [--dataset synthetic] [--data-dir data/synthetic] [--formats default|paper] [--format fm=24,8]
        [--check csim]
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cli import OneLineParser
from ..data import CLASS_NAMES
from ..encoding import pack_thermometer, thermometer_encode
from .fixed_point import FORMAT_PRESETS, FixedFormat, FormatError, Formats, resolve_formats
from .fold import fold_model
from .headers import config_header, weights_header
from .layout import CLASSES, COLOURS, IMAGE_SIZE, layout_string
from .manifest import (
    CONFIG_HEADER,
    EXPECTED_FILE,
    EXPORT_FILES,
    IMAGES_FILE,
    LABELS_FILE,
    MANIFEST_VERSION,
    NETWORK,
    PARAMS_FILE,
    WEIGHTS_HEADER,
    ExportError,
    sha256,
    write_export_folder,
)
from .params import quantize_params
from .reference import ReferenceTrace, reference_forward

INTERFACE = {
    "top": "FracNet_T(uint64 image[3][32][32], float output[10])",
    "image": "level b of colour c at pixel (row, col) is bit 63 - b of image[c][row][col]; 1 = level on",
    "registers": {"image": "image_V", "output": "output_r"},
}

"""Class names recorded in the manifest's ``test_vectors.classes`` per data set."""


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _test_vectors(images: Any, labels: Any, resolution: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Checked images -> packed words, and labels as int64 (or None)."""
    images = torch.as_tensor(images, dtype=torch.float32)
    if images.dim() != 4 or tuple(images.shape[1:]) != (COLOURS, IMAGE_SIZE, IMAGE_SIZE):
        raise ExportError(f"images must be float N x 3 x 32 x 32 in [0, 1], got shape {tuple(images.shape)}")
    if labels is None:
        return pack_thermometer(thermometer_encode(images, resolution)), None
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ExportError(f"labels must be N = {len(images)} integers, got shape {labels.shape} ({labels.dtype})")
    return pack_thermometer(thermometer_encode(images, resolution)), labels.astype(np.int64)


def _preset_name(formats: Formats) -> str:
    return next((name for name, preset in FORMAT_PRESETS.items() if preset == formats), "custom")


def _source(source: str | Path | None) -> dict[str, Any]:
    if source is None:
        return {"checkpoint": None}
    path = Path(source)
    return {"checkpoint": str(source), "sha256": sha256(path) if path.is_file() else None}


def export_accelerator(
    model: nn.Module,
    out_dir: str | Path,
    images: torch.Tensor | np.ndarray | None = None,
    labels: torch.Tensor | np.ndarray | Sequence[int] | None = None,
    *,
    formats: str | Formats | Mapping[str, Any] = "default",
    source: str | Path | None = None,
    dataset: str | None = None,
) -> Path:
    """Export a CIFAR-10 FracBNN (``fracbnn_resnet20``, binary weights) to ``out_dir``; returns ``out_dir``.

    ``model`` is read with eval semantics (BN running statistics). ``images``: float N x 3 x 32 x 32
    in [0, 1] (thermometer-encoded with the model's resolution and packed as the accelerator's input
    words); ``labels``: N integers (only with images). ``formats``: a preset name
    (:data:`~fracbnn_lib.hw.fixed_point.FORMAT_PRESETS`), a :class:`Formats` or a mapping of some of
    ``fm``/``scale``/``param``/``logit`` to formats. ``source`` (the checkpoint file) and ``dataset``
    are recorded in the manifest (with the data set's class names, for the board's reports).

    Raises :class:`ExportError` (one line) for another architecture, channels beyond the 64-bit
    packing, float weights or malformed test vectors, and ``FormatError`` for unusable formats,
    before anything is written.
    """
    if labels is not None and images is None:
        raise ExportError("labels were given without images: pass the images they belong to")
    formats = resolve_formats(formats)
    folded = fold_model(model)
    packed, labels = _test_vectors(images, labels, folded.resolution) if images is not None else (None, None)
    params = quantize_params(folded, formats)

    files: dict[str, bytes] = {
        CONFIG_HEADER: config_header(formats, folded.levels).encode(),
        WEIGHTS_HEADER: weights_header(params, str(source) if source is not None else "an in-memory model").encode(),
        PARAMS_FILE: params.to_blob(),
    }
    vectors = None
    if packed is not None:
        trace = ReferenceTrace()
        expected = reference_forward(params, packed, trace)
        files[IMAGES_FILE] = _npy_bytes(packed)
        files[EXPECTED_FILE] = _npy_bytes(expected)
        if labels is not None:
            files[LABELS_FILE] = _npy_bytes(labels)
        vectors = {
            "images": len(packed),
            "dataset": dataset,
            "classes": list(CLASS_NAMES[dataset]) if dataset in CLASS_NAMES else None,
            "labels": labels is not None,
            "shape": list(packed.shape),
            "dtype": "uint64",
            "expected_logits": [len(packed), CLASSES],
            "saturated_values": trace.total_saturated(),
        }

    return write_export_folder(
        out_dir,
        files,
        lambda staging: _manifest(params, folded, formats, source, vectors, staging, files),
        EXPORT_FILES,
    )


def _manifest(params, folded, formats: Formats, source, vectors, folder: Path, files: Mapping[str, bytes]) -> dict:
    """The export's ``manifest.json``: formats, shapes, source, parameter statistics, SHA-256 per file."""
    from ..version import __version__

    return {
        "manifest_version": MANIFEST_VERSION,
        "network": NETWORK,
        "fracbnn_lib": __version__,
        "source": _source(source),
        "resolution": folded.resolution,
        "levels": folded.levels,
        "formats_name": _preset_name(formats),
        "formats": formats.to_dict(),
        "layout": layout_string(),
        "interface": INTERFACE,
        "parameters": {
            "saturated": params.saturated,
            "memory_bits": params.memory_bits(),
            "binary_weight_bits": params.used_weight_bits(),
        },
        "test_vectors": vectors,
        "files": {name: {"bytes": len(data), "sha256": sha256(folder / name)} for name, data in files.items()},
    }


def load_export_model(checkpoint: str | Path) -> nn.Module:
    """The FracBNN of a checkpoint (ours or the release's) in eval mode, strictly loaded.

    A ``fracbnn_reactnet`` (as many classes as its FC layer has) for an ImageNet checkpoint, else a
    ``fracbnn_resnet20``. Our checkpoints record their stage: its switches (binary weights, gate) are
    applied, so a stage-2 checkpoint exports with the gate off and a stage-1 checkpoint is refused by
    the export. Raises :class:`~fracbnn_lib.checkpoint.CheckpointError` for another architecture.
    """
    from ..checkpoint import load_checkpoint, map_official_keys, model_state, read_checkpoint
    from ..layers import set_binary_weights, set_gating
    from ..models import fracbnn_reactnet, fracbnn_resnet20

    state = map_official_keys(model_state(read_checkpoint(checkpoint)))
    if "model.0.0.weight" in state and "fc.weight" in state:
        model = fracbnn_reactnet(num_classes=int(state["fc.weight"].shape[0]))
    else:
        model = fracbnn_resnet20()
    stored = load_checkpoint(checkpoint, model)
    stage = stored.get("config", {}).get("stage", {}) if isinstance(stored.get("config"), Mapping) else {}
    if "binary_weights" in stage:
        set_binary_weights(model, bool(stage["binary_weights"]))
    if "gating" in stage:
        set_gating(model, bool(stage["gating"]))
    return model.eval()


def _format_override(text: str) -> tuple[str, FixedFormat]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KIND=W,I (e.g. fm=24,8), got {text!r}")
    try:
        return name.strip(), FixedFormat.parse(value)
    except FormatError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="fracbnn export",
        description="Export a trained FracBNN checkpoint (CIFAR-10 or ImageNet) to its HLS accelerator.",
    )
    parser.add_argument("checkpoint", type=Path, help="checkpoint file (ours or the official release's)")
    parser.add_argument("--out", type=Path, help="export folder (default: <run>/export beside <run>/checkpoints)")
    parser.add_argument("--images", type=int, default=200, help="test vectors: first N test images (default 200)")
    parser.add_argument(
        "--dataset",
        choices=("synthetic", "cifar10"),
        default="synthetic",
        help="test-vector data of a CIFAR-10 checkpoint (an ImageNet checkpoint reads --data-dir's val/)",
    )
    parser.add_argument("--data-dir", type=Path, help="data set folder (default: data/<dataset>)")
    parser.add_argument("--formats", default="default", choices=sorted(FORMAT_PRESETS), help="format preset")
    parser.add_argument(
        "--format",
        dest="overrides",
        action="append",
        default=[],
        type=_format_override,
        metavar="KIND=W,I",
        help="override one format: fm, scale, param or logit (repeatable)",
    )
    parser.add_argument(
        "--check",
        choices=("none", "csim"),
        default="none",
        help="csim: also run the C-simulation on the test vectors and compare bit for bit",
    )
    return parser


def _default_out(checkpoint: Path) -> Path:
    parent = checkpoint.resolve().parent
    return parent.parent / "export" if parent.name == "checkpoints" else parent / "export"


def _export_imagenet(model: nn.Module, out: Path, formats: Formats, args: argparse.Namespace) -> int:
    """``fracbnn export`` of a ReActNet checkpoint (``hls/imagenet``); test vectors from ``--dataset imagenet``."""
    from ..data import load_test_images
    from .reactnet.export import EXPECTED_POOLED_FILE, csim_predict, export_imagenet_accelerator

    images = labels = None
    if args.images > 0:
        data_dir = args.data_dir or Path("data") / "imagenet"
        images, labels = load_test_images("imagenet", data_dir, args.images)
    export_imagenet_accelerator(model, out, images, labels, formats=formats, source=args.checkpoint, dataset="imagenet")
    print(f"exported {args.checkpoint} -> {out} (ImageNet accelerator, formats: {formats.describe()})")
    if images is not None:
        expected = np.load(out / EXPECTED_FILE)
        accuracy = float((expected.argmax(1) == labels.numpy()).mean())
        print(f"test vectors: {len(images)} ImageNet-format images, fixed-point accuracy {accuracy:.3f}")
        if args.check == "csim":
            pooled, _ = csim_predict(out, np.load(out / IMAGES_FILE))
            mismatched = int((pooled != np.load(out / EXPECTED_POOLED_FILE)).sum())
            print(f"C-simulation: {mismatched} of {pooled.size} outputs differ from the reference")
            return 1 if mismatched else 0
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``fracbnn export``: returns 0 on success, 1 on an error in the data (one line on stderr), 2 on usage."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.images < 0:
        parser.error(f"--images must be 0 (no test vectors) or a positive count, got {args.images}")
    from ..checkpoint import CheckpointError
    from ..data import DatasetNotFoundError, load_test_images
    from ..files import FolderBusyError, FolderError
    from .csim import CsimError, csim_predict

    out = args.out or _default_out(args.checkpoint)
    try:
        formats = resolve_formats(args.formats)
        if args.overrides:
            formats = resolve_formats({**dict(formats.items()), **dict(args.overrides)})
        model = load_export_model(args.checkpoint)
        if not hasattr(model, "linear"):
            return _export_imagenet(model, out, formats, args)
        images = labels = None
        if args.images > 0:
            images, labels = load_test_images(args.dataset, args.data_dir or Path("data") / args.dataset, args.images)
        export_accelerator(model, out, images, labels, formats=formats, source=args.checkpoint, dataset=args.dataset)
        print(f"exported {args.checkpoint} -> {out} (formats: {formats.describe()})")
        if images is not None:
            expected = np.load(out / EXPECTED_FILE)
            accuracy = float((expected.argmax(1) == labels.numpy()).mean())
            print(f"test vectors: {len(images)} {args.dataset} images, fixed-point accuracy {accuracy:.3f}")
            if args.check == "csim":
                mismatched = int((csim_predict(out, np.load(out / IMAGES_FILE)) != expected).sum())
                print(f"C-simulation: {mismatched} of {expected.size} logits differ from the reference")
                if mismatched:
                    return 1
    except KeyboardInterrupt:
        print(f"interrupted: {out} is unchanged", file=sys.stderr)
        return 130
    except (
        CheckpointError,
        ExportError,
        FormatError,
        DatasetNotFoundError,
        CsimError,
        FolderBusyError,
        FolderError,
    ) as err:
        print(f"error: {str(err).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
