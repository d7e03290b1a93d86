"""The kit's two accelerators as one machinery: one descriptor per network, one lookup per question.

"Which accelerator?" is answered here and nowhere else:

- by an export's ``manifest.json`` ``network`` (:func:`for_network`; an export folder's:
  :func:`fracbnn_lib.hw.export_folder.accelerator_of`): every export reader, the board driver, deploy,
  ``hls-report``;
- by a data set (:func:`for_dataset`): the pipeline (which notebook 04), the training recipe, the model
  builder;
- by a checkpoint's state dict (:func:`for_state_dict`): loading a trained model for export.

Each :class:`Accelerator` names its hardware package (:mod:`fracbnn_lib.hw.cifar10`,
:mod:`fracbnn_lib.hw.imagenet`), and both packages offer the same operations under the same names,
signatures and return shapes (:data:`HARDWARE_API`): export, load an export, the bit-exact reference, the
C-simulation, the counting build, the cost model and notebook 04's ladder. A caller makes one lookup and
then calls ``accelerator.hardware().<operation>``.

This module imports nothing of the package at import time (the hardware packages are imported by name
when :meth:`Accelerator.hardware` is first called), so the torch-free board code and the deploy bundle use
it too.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

HARDWARE_MODULES = {
    "export": ("NETWORK", "EXPORT_FILES", "export_accelerator", "load_export", "pack_images", "reference_predict"),
    "csim": ("SOURCES", "source_dir", "build_library", "csim_forward", "csim_predict", "ExportCsim", "loop_counts"),
    "reference": ("reference_forward",),
    "cost": ("accelerator_loops", "cost_summary", "table_units"),
    "ladder": ("run_ladder", "layer_error_table", "plot_layer_errors", "cost_vs_paper"),
}
"""Where each operation lives in a hardware package (its module), the same on both; a package adds
``config_header`` and its parameter class from its own modules (``hw.cifar10.headers``, ``hw.imagenet.layout``)."""
HARDWARE_API = (*(name for names in HARDWARE_MODULES.values() for name in names), "config_header")
"""What each hardware package offers, with the same contract on both networks (``tests/test_accelerators.py``)."""


class UnknownAcceleratorError(ValueError):
    """A network, data set or checkpoint that no accelerator of the kit serves (the message is one line)."""


@dataclass(frozen=True)
class Accelerator:
    """One accelerator of the kit and everything that is specific to it.

    ``name``: ``"cifar10"`` or ``"imagenet"`` (``metrics.json`` ``hls.accelerator``); ``network``: the export
    manifest's ``network``; ``model``: its builder in :mod:`fracbnn_lib.models`; ``top``: the HLS top function
    (the IP's type in Vivado); ``hls_folder``: its sources under ``hls/``; ``hardware_package``: its Python
    hardware side; ``datasets``: the data sets it runs, with their classes; ``image_size`` and ``word_bits``:
    an input image is ``3 x S x S`` words of ``word_bits`` (thermometer levels from the top bit down);
    ``outputs``: what the accelerator writes back (CIFAR-10 the logits, ImageNet the pooled sums the ARM
    classifies); ``classifier_key``: the state-dict key of the final linear layer, whose presence identifies a
    checkpoint of this network; ``notebook_variant``: the file suffix of its notebook 04; ``board_backend``:
    its class in :mod:`fracbnn_lib.board.driver`; ``default_run``: the run folder of its embedded default.
    """

    name: str
    network: str
    model: str
    top: str
    hls_folder: str
    hardware_package: str
    datasets: Mapping[str, int]
    image_size: int
    word_bits: int
    outputs: str
    classifier_key: str
    notebook_variant: str
    board_backend: str
    default_run: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The input words of one image: ``(3, S, S)``."""
        return (3, self.image_size, self.image_size)

    @property
    def word_dtype(self) -> str:
        """numpy's name of an input word's type (``uint64`` or ``uint32``)."""
        return f"uint{self.word_bits}"

    def hardware(self) -> ModuleType:
        """Its hardware package (export, reference, C-simulation, cost model, ladder: :data:`HARDWARE_API`)."""
        return importlib.import_module(self.hardware_package)


CIFAR10 = Accelerator(
    name="cifar10",
    network="fracbnn_resnet20_cifar10",
    model="fracbnn_resnet20",
    top="FracNet_T",
    hls_folder="cifar10",
    hardware_package="fracbnn_lib.hw.cifar10",
    datasets={"synthetic": 10, "cifar10": 10},
    image_size=32,
    word_bits=64,
    outputs="logits",
    classifier_key="linear.weight",
    notebook_variant="",
    board_backend="PynqBackend",
    default_run="default",
)
IMAGENET = Accelerator(
    name="imagenet",
    network="fracbnn_reactnet_imagenet",
    model="fracbnn_reactnet",
    top="FracNetImageNet",
    hls_folder="imagenet",
    hardware_package="fracbnn_lib.hw.imagenet",
    datasets={"imagenet": 1000, "imagenet-tiny": 10},
    image_size=224,
    word_bits=32,
    outputs="pooled sums",
    classifier_key="fc.weight",
    notebook_variant="_imagenet",
    board_backend="ImageNetPynqBackend",
    default_run="imagenet-tiny",
)
ACCELERATORS = (CIFAR10, IMAGENET)


def _one(found: list[Accelerator], what: str, known: list[str]) -> Accelerator:
    if len(found) != 1:
        raise UnknownAcceleratorError(f"no accelerator of the kit runs {what} (it knows {', '.join(known)})")
    return found[0]


def by_name(name: str) -> Accelerator:
    """The accelerator called ``name`` (``"cifar10"`` or ``"imagenet"``)."""
    return _one([a for a in ACCELERATORS if a.name == name], f"accelerator {name!r}", [a.name for a in ACCELERATORS])


def for_network(network: str | None) -> Accelerator:
    """The accelerator of an export manifest's ``network``."""
    known = [a.network for a in ACCELERATORS]
    return _one([a for a in ACCELERATORS if a.network == network], f"network {network!r}", known)


def for_dataset(dataset: str) -> Accelerator:
    """The accelerator whose network a data set trains (``synthetic`` and ``cifar10``: CIFAR-10's)."""
    known = [d for a in ACCELERATORS for d in a.datasets]
    return _one([a for a in ACCELERATORS if dataset in a.datasets], f"data set {dataset!r}", known)


def for_state_dict(state: Mapping[str, Any]) -> Accelerator:
    """The accelerator of a checkpoint's (mapped) state dict: the one whose classifier key it holds."""
    found = [a for a in ACCELERATORS if a.classifier_key in state]
    return _one(found, "a checkpoint with neither classifier key", [a.classifier_key for a in ACCELERATORS])


def dataset_names() -> tuple[str, ...]:
    """Every data set the kit trains, in the accelerators' order."""
    return tuple(d for a in ACCELERATORS for d in a.datasets)
