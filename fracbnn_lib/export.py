"""``fracbnn export``: a trained checkpoint of either network to its accelerator's export folder.

The checkpoint says which accelerator (:func:`fracbnn_lib.accelerators.for_state_dict`, through
:func:`fracbnn_lib.models.load_trained_model`); that accelerator's ``export_accelerator`` writes the folder,
with test vectors from the data set's test split and, with ``--check csim``, its C-simulation compared with
the bit-exact reference in every output::

    fracbnn export runs/default/checkpoints/final.pt [--out runs/default/export] [--images 200]
        [--dataset synthetic] [--data-dir data/synthetic] [--formats default|paper] [--format fm=24,8]
        [--check csim]

Errors in the input are one line (exit 1; usage errors exit 2), and nothing is written before everything
is checked.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .cli import OneLineParser
from .hw.fixed_point import FORMAT_PRESETS, FixedFormat, FormatError, resolve_formats


def _format_override(text: str) -> tuple[str, FixedFormat]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KIND=W,I (e.g. fm=24,8), got {text!r}")
    try:
        return name.strip(), FixedFormat.parse(value)
    except FormatError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    """The ``fracbnn export`` argument parser."""
    from .accelerators import dataset_names

    parser = OneLineParser(
        prog="fracbnn export",
        description="Export a trained FracBNN checkpoint (CIFAR-10 or ImageNet) to its HLS accelerator.",
    )
    parser.add_argument("checkpoint", type=Path, help="checkpoint file (ours or the official release's)")
    parser.add_argument("--out", type=Path, help="export folder (default: <run>/export beside <run>/checkpoints)")
    parser.add_argument("--images", type=int, default=200, help="test vectors: first N test images (default 200)")
    parser.add_argument(
        "--dataset",
        choices=dataset_names(),
        help="test-vector data (default: synthetic for a CIFAR-10 checkpoint, imagenet for an ImageNet one)",
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


def default_out(checkpoint: Path) -> Path:
    """``<run>/export`` for ``<run>/checkpoints/<file>``, else ``export/`` beside the checkpoint."""
    parent = checkpoint.resolve().parent
    return parent.parent / "export" if parent.name == "checkpoints" else parent / "export"


def main(argv: Sequence[str] | None = None) -> int:
    """``fracbnn export``: returns 0 on success, 1 on an error in the data (one line on stderr), 2 on usage."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.images < 0:
        parser.error(f"--images must be 0 (no test vectors) or a positive count, got {args.images}")
    from .accelerators import for_state_dict
    from .checkpoint import CheckpointError
    from .data import DatasetNotFoundError, load_test_images
    from .files import FolderBusyError, FolderError
    from .hw.csim_build import CsimError
    from .hw.export_folder import EXPECTED_FILE, IMAGES_FILE, ExportError
    from .logits import accuracy, mismatched_outputs
    from .models import load_trained_model

    out = args.out or default_out(args.checkpoint)
    try:
        formats = resolve_formats(args.formats)
        if args.overrides:
            formats = resolve_formats({**dict(formats.items()), **dict(args.overrides)})
        model = load_trained_model(args.checkpoint)
        accelerator = for_state_dict(model.state_dict())
        dataset = args.dataset or next(iter(accelerator.datasets))
        if dataset not in accelerator.datasets:
            raise ExportError(
                f"--dataset {dataset} is not a data set of the {accelerator.name} network this checkpoint holds; "
                f"choose one of {', '.join(accelerator.datasets)}"
            )
        hardware = accelerator.hardware()
        images = labels = None
        if args.images > 0:
            images, labels = load_test_images(dataset, args.data_dir or Path("data") / dataset, args.images)
        hardware.export_accelerator(
            model, out, images, labels, formats=formats, source=args.checkpoint, dataset=dataset
        )
        print(f"exported {args.checkpoint} -> {out} ({accelerator.name} accelerator, formats: {formats.describe()})")
        if images is not None:
            fixed_point = accuracy(np.load(out / EXPECTED_FILE), labels)
            print(f"test vectors: {len(images)} {dataset} images, fixed-point accuracy {fixed_point:.3f}")
            if args.check == "csim":
                csim = hardware.ExportCsim(out)
                packed = np.load(out / IMAGES_FILE)
                outputs = csim.outputs(packed)
                mismatched = mismatched_outputs(outputs, hardware.reference_forward(csim.params, packed))
                print(f"C-simulation: {mismatched} of {outputs.size} {accelerator.outputs} differ from the reference")
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
