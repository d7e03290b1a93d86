"""The paper's and the release's reported figures, and a run's numbers beside them.

One table (:data:`PAPER_REPORTED`) for every consumer: the notebooks' comparisons, both accelerators' cost
models (:mod:`fracbnn_lib.hw.cifar10.cost`, :mod:`fracbnn_lib.hw.imagenet.cost`) and the board report
(:mod:`fracbnn_lib.board.report`).
The standard library only at import (pandas for the two DataFrame functions), so the deploy bundle
carries it to PYNQ boards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

PAPER_REPORTED: tuple[dict[str, Any], ...] = (
    {"dataset": "cifar10", "quantity": "top1_accuracy", "value": 0.891, "unit": "fraction", "source": "paper"},
    {"dataset": "cifar10", "quantity": "parameters", "value": 287146, "unit": "count", "source": "paper"},
    {"dataset": "cifar10", "quantity": "activation_bits", "value": 1.4, "unit": "bits", "source": "paper"},
    {"dataset": "cifar10", "quantity": "weight_bits", "value": 1, "unit": "bits", "source": "paper"},
    {"dataset": "cifar10", "quantity": "fps", "value": 2806.9, "unit": "1/s", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "power_w", "value": 4.1, "unit": "W", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "lut", "value": 51444, "unit": "count", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "dsp", "value": 126, "unit": "count", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "bram", "value": 212, "unit": "count", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "clock_mhz", "value": 250, "unit": "MHz", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "fps", "value": 1419.2, "unit": "1/s", "source": "release deploy notebook"},
    {"dataset": "cifar10", "quantity": "latency_ms", "value": 0.70, "unit": "ms", "source": "release deploy notebook"},
    {"dataset": "cifar10", "quantity": "lut", "value": 193380, "unit": "count", "source": "release csynth"},
    {"dataset": "cifar10", "quantity": "dsp", "value": 108, "unit": "count", "source": "release csynth"},
    {"dataset": "cifar10", "quantity": "ff", "value": 89051, "unit": "count", "source": "release csynth"},
    {"dataset": "cifar10", "quantity": "bram18", "value": 530, "unit": "count", "source": "release csynth"},
    {"dataset": "imagenet", "quantity": "top1_accuracy", "value": 0.717, "unit": "fraction", "source": "release"},
    {"dataset": "imagenet", "quantity": "top1_accuracy", "value": 0.718, "unit": "fraction", "source": "paper"},
    {"dataset": "imagenet", "quantity": "activation_bits", "value": 1.4, "unit": "bits", "source": "paper"},
    {"dataset": "imagenet", "quantity": "weight_bits", "value": 1, "unit": "bits", "source": "paper"},
    {"dataset": "imagenet", "quantity": "fps", "value": 48.1, "unit": "1/s", "source": "as reported"},
    {"dataset": "imagenet", "quantity": "power_w", "value": 6.1, "unit": "W", "source": "as reported"},
)
"""The paper's and the release's reported figures (DESIGN.md section 1).

``source``: ``"paper"`` (the FPGA 2021 paper), ``"release"`` (the official release's README),
``"as reported"`` (board figures as commonly quoted from the paper's tables, the resources
post-implementation: LUT, DSP and BRAM36 tiles; not confirmed against a copy of the tables),
``"release deploy notebook"`` (the release's own early board run), ``"release csynth"`` (the Vivado HLS
2019.2 csynth estimate of the release's ``xcel-cifar10`` its maintainer posted in the release's issue 9:
an HLS estimate, about 3.8x the implemented LUTs).
"""

PAPER_DATASET = {"synthetic": "cifar10", "cifar10": "cifar10", "imagenet": "imagenet", "imagenet-tiny": "imagenet"}
"""Which paper results a run on a data set is compared with (the generated sets use their network's)."""

PAPER_DATASET_NAMES = {"cifar10": "CIFAR-10", "imagenet": "ImageNet"}
"""How the paper's two data sets are written in the text the kit prints."""


def dataset_classes(dataset: str) -> int:
    """The number of classes of a data set the kit knows (10 for CIFAR-10, the generated sets; 1000 for ImageNet)."""
    from .accelerators import for_dataset

    return int(for_dataset(dataset).datasets[dataset])


def chance_level(dataset: str) -> float:
    """The accuracy of guessing, ``1 / classes``: 0.1 for CIFAR-10, synthetic and imagenet-tiny, 0.001 for ImageNet."""
    return 1.0 / dataset_classes(dataset)


def chance_text(dataset: str) -> str:
    """``"chance 0.100 (1 of 10 classes)"``: what every printed accuracy of a data set is read against."""
    classes = dataset_classes(dataset)
    return f"chance {1.0 / classes:.3f} (1 of {classes} classes)"


def paper_reported(dataset: str | None = None) -> pd.DataFrame:
    """:data:`PAPER_REPORTED` as a DataFrame (dataset, quantity, value, unit, source), optionally one data set's."""
    import pandas as pd

    table = pd.DataFrame(PAPER_REPORTED)
    if dataset is not None:
        table = table[table["dataset"] == PAPER_DATASET.get(dataset, dataset)].reset_index(drop=True)
    return table


def paper_row(dataset: str, quantity: str, source: str = "paper") -> dict[str, Any]:
    """The one row of :data:`PAPER_REPORTED` for ``dataset``, ``quantity`` and ``source``; ``KeyError`` if none."""
    for row in PAPER_REPORTED:
        if (
            row["dataset"] == PAPER_DATASET.get(dataset, dataset)
            and row["quantity"] == quantity
            and row["source"] == source
        ):
            return row
    raise KeyError(f"the paper reports no {quantity} for {dataset} ({source})")


def paper_value(dataset: str, quantity: str, source: str = "paper") -> float | None:
    """One reported value (``None`` if the paper reports none for this data set and source)."""
    try:
        return float(paper_row(dataset, quantity, source)["value"])
    except KeyError:
        return None


def run_vs_paper(metrics: Mapping[str, Any], dataset: str) -> pd.DataFrame:
    """The run's headline numbers beside the paper's (columns quantity, run, measured_on, paper, paper_source).

    ``metrics`` is the run's ``metrics.json`` content; absent sections give NaN in the run column. The
    first row is the data set's chance accuracy (``1 / classes``), which every accuracy below is read against.
    ``measured_on`` names what each run figure was measured on (data set, images, formats, backend);
    ``paper_source`` says where the paper figure comes from and, when the run's data set is not the
    paper's, that the two are not comparable. A C-simulation figure never shares a row with a board
    figure: notebook 05 on the C-simulation backend gets rows of its own, and the paper's board
    throughput stands on a row whose run value is "not measured".
    """
    import pandas as pd

    def get(section: str, key: str) -> float:
        value = metrics.get(section, {}).get(key)
        return float(value) if isinstance(value, (int, float)) else math.nan

    ref = PAPER_DATASET.get(dataset, dataset)
    same_data = dataset == ref
    paper_accuracy_source = f"paper ({ref})" + ("" if same_data else f"; not the {dataset} data set")
    classes = dataset_classes(dataset)

    def images(section: str) -> str:
        count = metrics.get(section, {}).get("test_images") or metrics.get(section, {}).get("images")
        return f"{dataset}, {count} images" if count else dataset

    sparsity = get("gating", "sparsity")
    hls, board = metrics.get("hls", {}), metrics.get("board", {})
    hls_on = f"{images('hls')}, formats {hls.get('formats', '?')}, C-simulation"
    rows = [
        ("chance accuracy (1 / classes)", 1.0 / classes, f"{dataset}, {classes} classes", None, ""),
        ("stage 1 test accuracy", get("stage1", "test_accuracy"), images("stage1"), None, ""),
        ("stage 2 test accuracy", get("stage2", "test_accuracy"), images("stage2"), None, ""),
        (
            "stage 3 (final) test accuracy",
            get("stage3", "test_accuracy"),
            images("stage3"),
            paper_value(ref, "top1_accuracy"),
            paper_accuracy_source,
        ),
        ("gating sparsity", sparsity, images("stage3"), None, ""),
        ("effective activation bits", 2.0 - sparsity, images("stage3"), paper_value(ref, "activation_bits"), "paper"),
        ("parameters", get("model", "parameters"), "the model", paper_value(ref, "parameters"), "paper"),
        ("model size (KiB)", get("model", "memory_bytes") / 1024, "the model", None, ""),
        ("HLS C-simulation accuracy", get("hls", "accuracy_csim"), hls_on, None, ""),
    ]
    board_on = f"{board.get('images', '?')} images"
    if board.get("backend") in (None, "pynq"):
        measured = "" if not board else f"{board_on}, PYNQ board"
        rows += [
            ("board accuracy", get("board", "accuracy"), measured, None, ""),
            ("board images/s", get("board", "fps"), measured, paper_value(ref, "fps", "as reported"), "as reported"),
        ]
    else:
        backend = "C-simulation on the host CPU" if board["backend"] == "csim" else board["backend"]
        rows += [
            ("notebook 05 accuracy", get("board", "accuracy"), f"{board_on}, {backend}", None, ""),
            ("notebook 05 images/s (not a board figure)", get("board", "fps"), f"{board_on}, {backend}", None, ""),
            ("board images/s", math.nan, "not measured", paper_value(ref, "fps", "as reported"), "as reported"),
        ]
    return pd.DataFrame(
        [
            {
                "quantity": q,
                "run": r,
                "measured_on": on,
                "paper": math.nan if p is None else p,
                "paper_source": "" if p is None else s,  # no figure, no source
            }
            for q, r, on, p, s in rows
        ]
    )
