"""Export side of the accelerator: packing and bit order, folding (L1), parameters, refusals, headers, CLI errors."""

import re
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from fracbnn_lib import (
    atomic_save,
    fracbnn_reactnet,
    fracbnn_resnet20,
    pack_thermometer,
    set_binary_weights,
    set_gating,
    thermometer_encode,
)
from fracbnn_lib.export import main as export_main
from fracbnn_lib.hw.bits import pack_bits, unpack_bits
from fracbnn_lib.hw.cifar10.csim import source_dir
from fracbnn_lib.hw.cifar10.export import export_accelerator
from fracbnn_lib.hw.cifar10.fold import fold_model, fold_to_module
from fracbnn_lib.hw.cifar10.headers import config_header, weights_header
from fracbnn_lib.hw.cifar10.layout import BLOCKS, PARAM_ARRAYS, PG_LAYERS, PG_TILES, layout_string
from fracbnn_lib.hw.cifar10.params import AcceleratorParams, quantize_params
from fracbnn_lib.hw.export_folder import ExportError
from fracbnn_lib.hw.fixed_point import SUM_MIN, resolve_formats
from fracbnn_lib.hw.folding import gate_threshold, stem_level_dots, weight_bits
from fracbnn_lib.models.cifar10 import BasicBlock


def _model(seed: int = 0) -> nn.Module:
    """A random final FracBNN with non-trivial BN statistics, PReLU slopes, biases and thresholds."""
    torch.manual_seed(seed)
    model = fracbnn_resnet20()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-20, 20)
                module.running_var.uniform_(50, 400)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
        for name, param in model.named_parameters():
            if name.endswith(("shift_x.bias", "shift_y.bias")):
                param.uniform_(-0.2, 0.2)
            elif name.endswith("threshold"):
                param.uniform_(-3, 1)
    return model.eval()


def test_pack_unpack_round_trip_and_bit_order():
    rng = np.random.default_rng(0)
    for k in (1, 16, 32, 64):
        bits = rng.random((5, 7, k)) > 0.5
        words = pack_bits(bits)
        assert words.dtype == np.uint64 and words.shape == (5, 7)
        assert np.array_equal(unpack_bits(words, k), bits)
    first = np.zeros(64, dtype=bool)
    first[0] = True
    assert int(pack_bits(first)) == 1 << 63  # channel 0 is the most significant bit
    assert int(pack_bits(np.ones(16, dtype=bool))) == 0xFFFF << 48  # unused low bits stay 0
    with pytest.raises(ValueError, match="64-bit word"):
        pack_bits(np.ones(65, dtype=bool))


def test_hardware_binarisation_maps_zero_to_minus_one():
    weight = torch.tensor([0.5, 0.0, -0.0, -2.0, 1e-30])
    assert weight_bits(weight).tolist() == [True, False, False, False, True]
    model = _model()
    with torch.no_grad():
        model.layer1[0].conv1.weight[0, 0, 1, 1] = 0.0
    folded = fold_to_module(model)
    assert folded.pg0_weight[0, 0, 1, 1] == -1.0  # torch.sign(0) = 0 in the training model; the hardware says -1


def test_packed_weights_unpack_to_the_binarised_tensors():
    model = _model()
    with torch.no_grad():
        model.layer2[1].conv2.weight[3, 5] = 0.0  # exact zeros are bit 0
    params = quantize_params(fold_model(model), resolve_formats("default"))
    words = params.arrays["pg_weight"]
    assert words.shape == (PG_TILES, 16, 9)
    for layer in PG_LAYERS:
        block = getattr(model, layer.block.split(".")[0])[int(layer.block.split(".")[1])]
        weight = getattr(block, f"conv{layer.half}").weight.detach()
        tile_words = words[layer.tile : layer.tile + layer.tiles].reshape(layer.cout, 9)  # tile-major output channels
        bits = unpack_bits(tile_words, layer.cin)  # cout x 9 taps x cin, channel k at bit 63 - k
        assert np.array_equal(bits.transpose(0, 2, 1), (weight > 0).reshape(layer.cout, layer.cin, 9).numpy())
    stem = params.arrays["conv1_weight"]  # 16 x 3 colours x 9 taps, level b at bit 63 - b
    expected = (model.conv1.weight.detach() > 0).reshape(16, 3, 32, 9).permute(0, 1, 3, 2).numpy()
    assert np.array_equal(unpack_bits(stem, 32), expected)


def test_thermometer_words_carry_level_b_at_bit_63_minus_b():
    image = torch.full((1, 3, 32, 32), 0.0)
    image[0, 1, 4, 5] = 40 / 255  # round(40 / 8) = 5 levels on in the green channel
    words = pack_thermometer(thermometer_encode(image))
    assert int(words[0, 1, 4, 5]) == sum(1 << (63 - b) for b in range(5)) and int(words[0, 0, 0, 0]) == 0


def test_gate_threshold_is_exact_for_integer_sums():
    thetas = torch.tensor([-3.0, -1.0, -0.97, -0.6667, 0.0, 0.3333, 0.5, 1.2, 7.0])
    t = gate_threshold(thetas.view(1, -1, 1, 1), True, len(thetas))
    for theta, threshold in zip(thetas.tolist(), t.tolist(), strict=True):
        for m in range(-60, 61):
            assert (Fraction(2, 3) * m > Fraction(theta)) == (m > threshold)
    assert gate_threshold(thetas, False, 4).tolist() == [SUM_MIN] * 4


def test_folded_model_equals_the_training_model_in_float64():
    """L1 vs L0: BN folding, RPReLU shifts and the integer gate give the same logits (1e-4 relative)."""
    model = _model().double()
    images = torch.rand(6, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        expected = model(images)
        folded = fold_to_module(model)(images)
    assert (folded - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_params_blob_round_trip_and_headers():
    formats = resolve_formats("paper")
    params = quantize_params(fold_model(_model()), formats)
    again = AcceleratorParams.from_blob(params.to_blob(), formats, 32)
    assert all(np.array_equal(again.arrays[a.name], params.arrays[a.name]) for a in PARAM_ARRAYS)
    header = weights_header(params, "test")
    for array in PARAM_ARRAYS:
        line = next(li for li in header.splitlines() if f" {array.name}[" in li)
        assert line.count(",") + 1 == array.size
    assert "#define FRACNET_FM_W 16" in config_header(formats, 32) and "#define FRACNET_LEVELS 32" in config_header(
        formats, 32
    )
    assert sum(params.memory_bits().values()) > params.used_weight_bits()
    with pytest.raises(ValueError, match="params.bin has"):
        AcceleratorParams.from_blob(b"\0" * 8, formats, 32)
    assert layout_string().startswith("conv1_weight:word:432;")
    table = next(li for li in header.splitlines() if " conv1_level_dot[" in li)
    assert table.count(",") + 1 == 16 * 9 * 3 * 33


def test_the_layer_table_is_written_once_and_generated_into_the_cpp():
    header = config_header(resolve_formats("default"), 32)
    generated = re.search(r"#define FRACNET_BLOCKS \{(.*)\}$", header, re.M).group(1)
    rows = [tuple(int(v) for v in row.split(",")) for row in re.findall(r"\{([^{}]*)\}", generated)]
    assert rows == [(cin, cout, h, s) for _, cin, cout, h, s in BLOCKS]
    assert f"#define FRACNET_PG_TILES {PG_TILES}" in header and f"#define FRACNET_NUM_BLOCKS {len(BLOCKS)}" in header
    sources = "".join(path.read_text() for path in source_dir().glob("*.[ch]*"))
    assert "{16, 16, 32, 1}" not in sources and "PG_TILES = 42" not in sources and "= FRACNET_BLOCKS;" in sources


def test_stem_tables_hold_the_dot_products_with_every_thermometer_code():
    """stem_level_dots[k, tap, c * (L+1) + v] == L - 2 popcount(code(v) XOR w), for every v = 0..L."""
    levels = 32
    rng = np.random.default_rng(0)
    bits = rng.random((16, 3, 9, levels)) < 0.5
    words = pack_bits(bits)
    table = stem_level_dots(words, levels)
    assert table.shape == (16, 9, 3 * (levels + 1))
    for v in range(levels + 1):
        code = np.arange(levels) < v
        expected = levels - 2 * (bits != code).sum(-1)  # 16 x 3 x 9
        assert np.array_equal(table[:, :, v :: levels + 1], expected.transpose(0, 2, 1))


def test_saturated_parameters_are_counted():
    model = _model()
    with torch.no_grad():
        model.linear.bias.fill_(100.0)  # param <12,4> spans [-8, 8)
    params = quantize_params(fold_model(model), resolve_formats("paper"))
    assert params.saturated["fc_bias"] == 10 and params.saturated["pg_slope"] == 0


def _wide_model() -> nn.Module:
    model = fracbnn_resnet20()
    model.layer3 = nn.Sequential(BasicBlock(32, 64, 2), BasicBlock(64, 64), BasicBlock(64, 128, 2))
    model.linear = nn.Linear(128, 10)
    return model.eval()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: fracbnn_reactnet(num_classes=10).eval(), "is not the CIFAR-10 FracBNN ResNet-20"),
        (_wide_model, "at most 64 channels into one 64-bit word"),
        (lambda: set_binary_weights(fracbnn_resnet20(), False).eval(), "float weights"),
        (lambda: fracbnn_resnet20(num_classes=100).eval(), "Linear(64, 10)"),
    ],
)
def test_export_refuses_what_the_accelerator_cannot_run(build, message, tmp_path):
    out = tmp_path / "export"
    with pytest.raises(ExportError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        export_accelerator(build(), out)
    assert "\n" not in str(err.value) and not out.exists()  # nothing written


def test_export_checks_test_vectors_before_writing(tmp_path):
    model = _model()
    with pytest.raises(ExportError, match="labels were given without images"):
        export_accelerator(model, tmp_path / "a", labels=[1, 2])
    with pytest.raises(ExportError, match="N x 3 x 32 x 32"):
        export_accelerator(model, tmp_path / "b", torch.rand(2, 3, 16, 16))
    with pytest.raises(ExportError, match="labels must be N = 2 integers"):
        export_accelerator(model, tmp_path / "c", torch.rand(2, 3, 32, 32), [1, 2, 3])
    assert not any((tmp_path / name).exists() for name in "abc")


def test_export_without_images_writes_headers_and_removes_stale_vectors(tmp_path):
    model = _model()
    export_accelerator(model, tmp_path, torch.rand(3, 3, 32, 32), [0, 1, 2], formats={"fm": (20, 8)})
    assert (tmp_path / "images.npy").is_file()
    export_accelerator(model, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["fracnet_config.h", "manifest.json", "params.bin", "weights.h"]


def test_stage2_checkpoint_exports_with_the_gate_off(tmp_path):
    from fracbnn_lib.models import load_trained_model

    model = set_gating(_model(), False)
    atomic_save(
        {"model": model.state_dict(), "config": {"stage": {"binary_weights": True, "gating": False}}},
        tmp_path / "s2.pt",
    )
    loaded = load_trained_model(tmp_path / "s2.pt")
    assert not any(m.gating for m in loaded.modules() if hasattr(m, "gating"))
    params = quantize_params(fold_model(loaded), resolve_formats("default"))
    assert (params.arrays["pg_threshold"] == SUM_MIN).all()


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "other.pt"
    atomic_save(torch.nn.Linear(3, 2).state_dict(), bad)  # neither FracBNN
    assert export_main([str(bad), "--out", str(tmp_path / "e"), "--images", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: checkpoint from") and "is it a checkpoint of this architecture?" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "e").exists()
    assert export_main([str(tmp_path / "missing.pt"), "--images", "0"]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    stage1 = tmp_path / "stage1.pt"
    atomic_save({"model": fracbnn_resnet20().state_dict(), "config": {"stage": {"binary_weights": False}}}, stage1)
    assert export_main([str(stage1), "--out", str(tmp_path / "s1"), "--images", "0"]) == 1
    assert "float weights (stage 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        export_main([str(stage1), "--format", "fm=abc"])
    assert exit_.value.code == 2
    float_imagenet = tmp_path / "imagenet-stage1.pt"
    model = fracbnn_reactnet(num_classes=10)
    atomic_save({"model": model.state_dict(), "config": {"stage": {"binary_weights": False}}}, float_imagenet)
    assert export_main([str(float_imagenet), "--out", str(tmp_path / "i1"), "--images", "0"]) == 1
    assert "float weights (stage 1)" in capsys.readouterr().err and not (tmp_path / "i1").exists()


def test_cli_exports_a_checkpoint_without_test_vectors(tmp_path, capsys):
    checkpoint = tmp_path / "run" / "checkpoints" / "final.pt"
    atomic_save(_model().state_dict(), checkpoint)  # the release's layout: a bare state dict
    assert export_main([str(checkpoint), "--images", "0", "--format", "fm=20,8"]) == 0
    out = tmp_path / "run" / "export"
    assert (out / "manifest.json").is_file() and "fm <20,8>" in capsys.readouterr().out
    assert "#define FRACNET_FM_W 20" in (out / "fracnet_config.h").read_text()
