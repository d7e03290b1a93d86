"""The verification ladder on real models: float (L0) -> folded (L1) -> fixed-point reference (L2) -> csim (L3).

The trained model is the embedded default's final checkpoint (the session's ``make reproduce``,
``tests/conftest.py``: those tests are ``slow``); a second model stays at its random initialisation; both are
exported and run through every rung on 250 synthetic test images.
The C-simulation library is built once into the user's cache (the first run compiles, ~20 s).
"""

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from unit_test_build import front_end_complaints

from fracbnn_lib import BinaryConv2d, fracbnn_resnet20, pack_thermometer, thermometer_encode
from fracbnn_lib.data import SYNTHETIC_CLASSES, load_test_images, write_synthetic_cifar10
from fracbnn_lib.export import main as export_main
from fracbnn_lib.hw.cifar10.csim import csim_predict, source_dir
from fracbnn_lib.hw.cifar10.export import export_accelerator, reference_predict
from fracbnn_lib.hw.cifar10.fold import fold_to_module
from fracbnn_lib.hw.csim_build import ap_types_dir, compiler
from fracbnn_lib.hw.export_folder import ExportError, read_manifest
from fracbnn_lib.models import load_trained_model

TEST_IMAGES = 250
SEED = 0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hw-data")
    write_synthetic_cifar10(root, train_per_class=30, test_per_class=TEST_IMAGES // 10, seed=SEED)
    return root


@pytest.fixture(scope="module")
def test_set(data_dir):
    return load_test_images("synthetic", data_dir, TEST_IMAGES)


@pytest.fixture(scope="module")
def trained(embedded_run):
    """The embedded default's final checkpoint (stage 3: binary weights, gate on), from the session's run.

    Everything the accelerator computes with (BN statistics, thresholds, RPReLU) comes from training, and a
    briefly trained model's small top-1 margins make agreement hard.
    """
    return embedded_run.run_dir / "checkpoints" / "final.pt"


def run_every_rung(name, model, test_set, tmp_path_factory):
    """Export `model` and run every rung of the ladder on the test set."""
    images, labels = test_set
    out = export_accelerator(model, tmp_path_factory.mktemp(f"export-{name}"), images, labels, dataset="synthetic")
    packed = np.load(out / "images.npy")
    with torch.no_grad():
        float_logits = model(images).numpy()
        folded = fold_to_module(model)(images).numpy()
        float64 = model.double()(images.double()).numpy()
    model.float()
    return {
        "name": name,
        "model": model,
        "export": out,
        "labels": labels.numpy(),
        "packed": packed,
        "float": float_logits,
        "float64": float64,
        "folded": folded,
        "reference": reference_predict(out, packed),
        "csim": csim_predict(out, packed),
    }


@pytest.fixture(scope="module")
def trained_rung(trained, test_set, tmp_path_factory):
    """Every rung for the trained checkpoint: the model whose agreement the tests measure."""
    return run_every_rung("trained", load_trained_model(trained), test_set, tmp_path_factory)


@pytest.fixture(scope="module")
def random_rung(test_set, tmp_path_factory):
    """Every rung for a model at its random initialisation: uncalibrated BN statistics saturate the formats."""
    torch.manual_seed(SEED + 1)
    return run_every_rung("random", fracbnn_resnet20().eval(), test_set, tmp_path_factory)


@pytest.fixture(params=[pytest.param("trained", marks=pytest.mark.slow), "random"])
def rung(request):
    """Both models, for the properties that hold for any export."""
    return request.getfixturevalue(f"{request.param}_rung")


@pytest.mark.slow
def test_enough_images_and_a_model_that_learned(trained_rung):
    assert len(trained_rung["packed"]) >= 200
    assert (trained_rung["float"].argmax(1) == trained_rung["labels"]).mean() > 0.12  # above chance (0.1)


@pytest.mark.slow
def test_folded_model_matches_the_training_model(trained_rung):
    """L1 vs L0 (both float64): the same mathematics, within 1e-4 relative.

    Trained model only: at its initial BN statistics every value of a random model is an integer sum
    times 1/sqrt(1 + eps), right at the quantiser's thresholds (test_hw_export checks L1 on random
    models with spread statistics).
    """
    rung = trained_rung
    scale = np.abs(rung["float64"]).max()
    assert np.abs(rung["folded"] - rung["float64"]).max() <= 1e-4 * scale


def test_csim_equals_the_reference_bit_for_bit(rung):
    """L3 == L2 in every logit of every image (compared as bit patterns)."""
    assert rung["csim"].dtype == np.float32 and rung["csim"].shape == (len(rung["packed"]), 10)
    assert np.array_equal(rung["csim"].view(np.uint32), rung["reference"].view(np.uint32))


def test_expected_logits_of_the_export_are_the_reference(rung):
    expected = np.load(rung["export"] / "expected_logits.npy")
    assert expected.dtype == np.float32 and np.array_equal(expected, rung["reference"])
    assert np.array_equal(np.load(rung["export"] / "labels.npy"), rung["labels"])


@pytest.mark.slow
def test_reference_keeps_the_float_model_decisions(trained_rung):
    """L2 vs L0 with the default formats: argmax agreement >= 99%, the criterion the formats were chosen by
    (``FORMAT_PRESETS``), so the accuracies differ by at most the 1% of images whose decision changed."""
    rung = trained_rung
    agreement = (rung["reference"].argmax(1) == rung["float"].argmax(1)).mean()
    assert agreement >= 0.99
    accuracy = [(logits.argmax(1) == rung["labels"]).mean() for logits in (rung["float"], rung["reference"])]
    assert abs(accuracy[0] - accuracy[1]) <= 0.01 and accuracy[1] > 0.5  # chance 0.1


def test_random_model_exercises_saturation(rung):
    manifest = read_manifest(rung["export"])
    saturated = manifest["test_vectors"]["saturated_values"]
    assert (saturated > 0) == (rung["name"] == "random")


def test_packed_test_vectors_are_the_thermometer_words(rung, test_set):
    images, _ = test_set
    assert rung["packed"].dtype == np.uint64 and rung["packed"].shape == (len(images), 3, 32, 32)
    assert np.array_equal(rung["packed"], pack_thermometer(thermometer_encode(images)))


@pytest.mark.slow
def test_paper_formats_drift_more_than_the_default(trained_rung, tmp_path):
    rung = trained_rung
    out = export_accelerator(rung["model"], tmp_path, formats="paper")
    assert read_manifest(out)["formats_name"] == "paper" and not (out / "images.npy").exists()
    logits = {"paper": reference_predict(out, rung["packed"]), "default": rung["reference"]}
    agree = {name: (value.argmax(1) == rung["float"].argmax(1)).mean() for name, value in logits.items()}
    error = {name: np.abs(value - rung["float"]).mean() for name, value in logits.items()}
    assert agree["default"] >= agree["paper"] and error["default"] < error["paper"]


def test_reference_refuses_a_modified_export(rung, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(rung["export"], copy)
    blob = bytearray((copy / "params.bin").read_bytes())
    blob[100] ^= 1
    (copy / "params.bin").write_bytes(bytes(blob))
    with pytest.raises(ExportError, match="does not match its manifest"):
        reference_predict(copy, rung["packed"][:2])


@pytest.mark.slow
def test_testbench_with_constant_weights_reproduces_the_export(trained_rung, tmp_path):
    """`make csim` (tb.cc + fracnet.cc with the generated weights.h ROMs, as synthesis sees them)."""
    copy = tmp_path / "export"
    shutil.copytree(trained_rung["export"], copy)
    result = subprocess.run(
        ["make", "-s", "-C", str(source_dir()), "csim", f"EXPORT={copy}", "N=40", f"AP_TYPES={ap_types_dir()}"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "csim: 40 images" in result.stdout and "0 of 400 logits differ" in result.stdout
    assert (copy / "build" / "tb").is_file() and not list(source_dir().glob("build"))


def test_manifest_describes_the_export(rung):
    manifest = json.loads((rung["export"] / "manifest.json").read_text())
    assert manifest["formats_name"] == "default" and manifest["levels"] == 32 and manifest["resolution"] == 8
    vectors = manifest["test_vectors"]
    assert vectors["images"] == TEST_IMAGES and vectors["shape"] == [TEST_IMAGES, 3, 32, 32]
    assert vectors["dataset"] == "synthetic" and vectors["classes"] == list(SYNTHETIC_CLASSES)
    assert set(manifest["files"]) == {
        "fracnet_config.h",
        "weights.h",
        "params.bin",
        "images.npy",
        "labels.npy",
        "expected_logits.npy",
    }
    assert manifest["interface"]["registers"] == {"image": "image_V", "output": "output_r"}
    binary = sum(m.weight.numel() for m in rung["model"].modules() if isinstance(m, BinaryConv2d))
    assert manifest["parameters"]["binary_weight_bits"] == binary


@pytest.mark.slow
def test_cli_exports_and_checks_csim(trained, data_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = [str(trained), "--out", str(out), "--images", "20", "--data-dir", str(data_dir), "--check", "csim"]
    assert export_main(argv) == 0
    printed = capsys.readouterr().out
    assert "test vectors: 20 synthetic images" in printed and "C-simulation: 0 of 200 logits differ" in printed
    manifest = read_manifest(out)
    assert manifest["source"]["checkpoint"] == str(trained) and len(manifest["source"]["sha256"]) == 64


def test_the_cost_model_counts_the_loops_the_csim_runs(rung):
    """Every pipelined loop entry, modelled == counted by the C-simulation's counting build: its trips, and per
    on-chip memory it touches the most accesses to one bank in one iteration, its ports and any dependence carried
    through it; and every loop's II == the one the counted port pressure and the model's stated bounds imply."""
    from fracbnn_lib.hw.cifar10.cost import accelerator_loops
    from fracbnn_lib.hw.cifar10.csim import loop_counts
    from fracbnn_lib.hw.cost_model import implied_iis, loop_log, unstated_dependences

    modelled = accelerator_loops()
    counted = loop_counts(rung["export"], rung["packed"][0])
    assert counted == loop_log(modelled)
    assert loop_counts(rung["export"], rung["packed"][-1]) == counted  # the schedule does not depend on data
    assert {loop.loop: loop.ii for loop in modelled} == implied_iis(counted, modelled)
    assert unstated_dependences(counted, modelled) == []  # DEPENDENCE inter false holds: nothing carried
    pressure = {record.loop: record.port_use for record in counted}
    assert ("fmap", 5, 2) in pressure["POOL"] and all(use.ii == 1 for use in pressure["PG_PIXELS"])
    assert {loop.loop: loop.ii for loop in modelled if loop.ii != 1} == {"POOL": 3}


def test_the_synthesised_cpp_has_no_counting_and_passes_the_front_ends(random_rung, tmp_path):
    """Outside the counting build the counting macros are the bare accesses: no counter survives the preprocessor,
    each storage declaration is its pragmas; and the sources pass the syntax check of a synthesis front end
    (``__SYNTHESIS__``, C++11 and C++0x) and of Vivado HLS 2019.2's C simulation (C++0x), ``-pedantic``."""
    folder, export = source_dir(), random_rung["export"]
    includes = [f"-I{export}", f"-I{folder}", f"-I{folder.parent / 'common'}", "-isystem", str(ap_types_dir())]
    expanded = subprocess.run(
        [compiler(), "-E", "-std=c++11", *includes, str(folder / "fracnet.cc")], capture_output=True, text=True
    ).stdout
    code = "\n".join(line for line in expanded.splitlines() if not line.startswith("#"))
    assert "void FracNet_T" in code and "fracnet_" not in code and "Fracnet" not in code
    pragmas = {line for line in expanded.splitlines() if line.startswith("#pragma HLS")}
    assert "#pragma HLS ARRAY_PARTITION variable = pg_weight complete dim = 2" in pragmas
    assert "#pragma HLS RESOURCE variable = pg_weight core = ROM_1P_BRAM" in pragmas
    assert "#pragma HLS RESOURCE variable = fmap core = RAM_T2P_BRAM" in pragmas
    assert front_end_complaints(folder, export, tmp_path) == dict.fromkeys(
        ("synthesis c++11", "synthesis c++0x", "csim c++0x"), ""
    )


def test_the_accelerator_reads_any_input_word_as_its_level_count(rung):
    """Words that are not thermometer codes: csim == reference bit for bit, and == the code of the same count."""
    rng = np.random.default_rng(SEED)
    words = rng.integers(0, 2**63, size=(8, 3, 32, 32), dtype=np.uint64) << np.uint64(1)
    words &= ~np.uint64(0) << np.uint64(32)  # only the 32 level bits may be set (fracnet.h)
    counts = np.unpackbits(words.view(np.uint8), axis=-1).reshape(*words.shape, 64).sum(-1)
    codes = np.where(counts > 0, (~np.uint64(0) << (np.uint64(64) - counts.astype(np.uint64))), 0).astype(np.uint64)
    assert not np.array_equal(words, codes)
    simulated = csim_predict(rung["export"], words)
    assert np.array_equal(simulated.view(np.uint32), reference_predict(rung["export"], words).view(np.uint32))
    assert np.array_equal(simulated, csim_predict(rung["export"], codes))
