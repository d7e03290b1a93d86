"""The two accelerators as one machinery: one descriptor each, one lookup per question, the same API on both."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch

from fracbnn_lib import accelerators
from fracbnn_lib.accelerators import (
    ACCELERATORS,
    CIFAR10,
    HARDWARE_API,
    IMAGENET,
    UnknownAcceleratorError,
    by_name,
    for_dataset,
    for_network,
    for_state_dict,
)
from fracbnn_lib.data import DATASETS
from fracbnn_lib.hw.export_folder import ExportError, accelerator_of, read_manifest
from fracbnn_lib.models import build_model


def test_every_question_has_one_answer():
    assert [a.name for a in ACCELERATORS] == ["cifar10", "imagenet"]
    assert for_network("fracbnn_resnet20_cifar10") is CIFAR10 and for_network("fracbnn_reactnet_imagenet") is IMAGENET
    assert [for_dataset(d).name for d in ("synthetic", "cifar10", "imagenet", "imagenet-tiny")] == [
        "cifar10",
        "cifar10",
        "imagenet",
        "imagenet",
    ]
    assert by_name("imagenet") is IMAGENET and tuple(DATASETS) == accelerators.dataset_names()
    assert for_state_dict(build_model(CIFAR10).state_dict()) is CIFAR10
    assert for_state_dict({"fc.weight": torch.zeros(10, 1024)}) is IMAGENET
    for call, value in ((for_network, "resnet50"), (for_dataset, "mnist"), (by_name, "vgg")):
        with pytest.raises(UnknownAcceleratorError, match="no accelerator of the kit runs"):
            call(value)
    with pytest.raises(UnknownAcceleratorError, match="neither classifier key"):
        for_state_dict({"conv1.weight": torch.zeros(1)})


def test_a_descriptor_says_what_is_specific_to_its_accelerator():
    assert (CIFAR10.top, CIFAR10.image_shape, CIFAR10.word_dtype) == ("FracNet_T", (3, 32, 32), "uint64")
    assert (IMAGENET.top, IMAGENET.image_shape, IMAGENET.word_dtype) == ("FracNetImageNet", (3, 224, 224), "uint32")
    assert build_model(IMAGENET).fc.out_features == 1000 and build_model(IMAGENET, 10).fc.out_features == 10
    from fracbnn_lib.board import driver

    for accelerator in ACCELERATORS:
        hardware = accelerator.hardware()
        assert hardware.NETWORK == accelerator.network
        assert hardware.source_dir().name == accelerator.hls_folder
        assert hasattr(driver, accelerator.board_backend)


@pytest.mark.parametrize("name", HARDWARE_API)
def test_both_hardware_packages_offer_the_same_operation_with_the_same_signature(name):
    cifar10, imagenet = (accelerator.hardware() for accelerator in ACCELERATORS)
    ours, theirs = getattr(cifar10, name), getattr(imagenet, name)
    assert type(ours) is type(theirs), (
        f"{name}: a {type(ours).__name__} on CIFAR-10, a {type(theirs).__name__} on ImageNet"
    )
    if callable(ours):
        ours_parameters = list(inspect.signature(ours).parameters)
        theirs_parameters = list(inspect.signature(theirs).parameters)
        assert ours_parameters == theirs_parameters, f"{name}: {ours_parameters} vs {theirs_parameters}"


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
    return model.eval()


@pytest.mark.parametrize("accelerator", ACCELERATORS, ids=lambda a: a.name)
def test_both_exports_have_one_manifest_schema_and_one_contract(tmp_path, accelerator):
    """Export, read back, reference, C-simulation: the same calls and result shapes on both accelerators."""
    torch.manual_seed(0)
    hardware = accelerator.hardware()
    model = _randomised(build_model(accelerator, 10))
    images = torch.rand(2, *accelerator.image_shape)
    out = hardware.export_accelerator(
        model, tmp_path / "export", images, [1, 2], dataset=next(iter(accelerator.datasets))
    )
    assert accelerator_of(out) is accelerator
    manifest, params = hardware.load_export(out)
    common = {"manifest_version", "network", "fracbnn_lib", "source", "resolution", "levels", "formats_name"}
    common |= {"formats", "layout", "interface", "test_vectors", "files", "classes", "parameters"}
    assert common <= set(manifest) and manifest == read_manifest(out, accelerator.network)
    assert set(manifest["files"]) | {"manifest.json"} <= set(hardware.EXPORT_FILES)
    assert {"images", "labels", "dtype", "saturated_values", "gate_open"} <= set(manifest["test_vectors"])
    packed = np.load(out / "images.npy")
    assert packed.dtype == np.dtype(accelerator.word_dtype) and packed.shape == (2, *accelerator.image_shape)
    assert np.array_equal(packed, hardware.pack_images(images, 8))
    csim = hardware.ExportCsim(out)
    outputs = csim.outputs(packed)
    assert np.array_equal(outputs, hardware.reference_forward(params, packed))  # L3 == L2, the accelerator's outputs
    logits = hardware.csim_predict(out, packed)
    assert logits.shape == (2, 10) and logits.dtype == np.float32 and np.array_equal(logits, params.logits(outputs))
    assert np.array_equal(hardware.reference_predict(out, packed), logits)
    assert np.array_equal(np.load(out / "expected_logits.npy"), logits)
    summary = hardware.cost_summary("default", manifest["levels"])
    from fracbnn_lib.hw.cost_model import SUMMARY_KEYS

    assert set(SUMMARY_KEYS) <= set(summary) and summary["modelled"] is True
    other = next(a for a in ACCELERATORS if a is not accelerator)
    with pytest.raises(ExportError, match=f"is an export of {accelerator.network}, not of {other.network}"):
        other.hardware().load_export(out)


def test_an_export_of_no_known_network_is_one_line(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"manifest_version": 1, "network": "vgg16"}))
    with pytest.raises(ExportError, match="manifest.json: no accelerator of the kit runs network 'vgg16'"):
        accelerator_of(tmp_path)


def test_the_photograph_table_runs_the_accelerators_path_at_both_formats_and_leaves_nothing(tmp_path, monkeypatch):
    """Notebook 04's natural photographs: float, reference and C-simulation per format set, C-sim == reference."""
    import tempfile

    from fracbnn_lib.hw.ladder import photograph_table
    from fracbnn_lib.photographs import sample_photographs

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    torch.manual_seed(0)
    accelerator = ACCELERATORS[0]
    model = _randomised(build_model(accelerator, 10))
    photos, names = sample_photographs(accelerator.image_size)
    classes = [f"class {k}" for k in range(10)]
    table = photograph_table(model, accelerator.hardware(), photos, names, ("paper", "default"), classes)
    assert list(table["formats"]) == ["paper"] * len(names) + ["default"] * len(names)
    assert list(table["photograph"]) == names * 2
    assert table["csim_equals_reference"].all()
    assert set(table["float"]) <= set(classes) and set(table["csim"]) <= set(classes)
    assert (table["csim"] == table["reference"]).all()
    assert (table["max_abs_diff_float"] >= 0).all() and table["max_abs_diff_float"].notna().all()
    per_formats = table.set_index("formats")
    assert list(per_formats.loc["paper", "float"]) == list(per_formats.loc["default", "float"])  # one float model
    assert list(tmp_path.iterdir()) == []  # the exports were scratch
