"""``fracbnn import-release``: the release's testbench header and ``.pt`` checkpoints as our checkpoint.

Nothing of the release is used here: the tests write their own ``weights_tb.h`` (the release's format:
``const float`` C arrays named after the state-dict keys, BN folded into scale/shift, binarised PG-conv
weights) and their own ``.pt`` (the release's bare, ``module.``-prefixed state dict with the encoder's
placeholder) from random values, and compute the release's network from those raw values in float64
with the release's formulation (``tb.cc``'s ``FracNet_sw``, the release model's forward). The imported
checkpoint, loaded into our ``fracbnn_resnet20`` and run in float64, must give the same logits; mapping
mistakes (a transposed kernel, swapped in/out channels, the thermometer channels in the wrong order,
two arrays swapped) are shown to change the logits, so the comparison would catch them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fracbnn_lib import cli, fracbnn_reactnet, fracbnn_resnet20, load_checkpoint, set_binary_weights, set_gating
from fracbnn_lib.release import parse_c_arrays

OFFICIAL_KEYS = Path(__file__).with_name("data") / "official_cifar10_state_dict_keys.txt"
BLOCKS = [(layer, block, 16 << (layer - 1)) for layer in (1, 2, 3) for block in range(3)]
PREFIX = "fracbnn import-release: error: "


# ---------------------------------------------------------------------------------------------------------------------
# The release's formats, written from random values


def _in_planes(layer: int, block: int, planes: int) -> int:
    return planes // 2 if layer > 1 and block == 0 else planes


def random_header_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """The arrays of a ``weights_tb.h``, in the header's order, float32, scaled so activations use every level.

    BN is the folded ``(scale, shift)`` pair; PG-conv weights are ±1; a few input-layer weights are
    exactly 0 (the testbench counts them as -1).
    """
    rng = np.random.default_rng(seed)

    def normal(*shape: int, std: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def uniform(low: float, high: float, n: int) -> np.ndarray:
        return rng.uniform(low, high, n).astype(np.float32)

    arrays: dict[str, np.ndarray] = {}
    conv1 = normal(16, 96, 3, 3)
    conv1.reshape(-1)[rng.choice(conv1.size, 40, replace=False)] = 0.0
    arrays["conv1_weight"] = conv1
    arrays["bn1_weight"], arrays["bn1_bias"] = uniform(0.5, 1.5, 16) / 40, normal(16, std=0.4)
    for layer, block, planes in BLOCKS:
        pre = f"layer{layer}_{block}_"
        for k in (1, 2):
            arrays[f"{pre}rprelu{k}_shift_x_bias"] = normal(planes, std=0.3)
            arrays[f"{pre}rprelu{k}_shift_y_bias"] = normal(planes, std=0.3)
            arrays[f"{pre}rprelu{k}_prelu_weight"] = uniform(-0.3, 0.6, planes)
        for k in (1, 2):
            fan_in = (_in_planes(layer, block, planes) if k == 1 else planes) * 9
            arrays[f"{pre}conv{k}_weight"] = np.where(normal(planes, fan_in // 9, 3, 3) > 0, 1.0, -1.0).astype(
                np.float32
            )
            arrays[f"{pre}conv{k}_threshold"] = normal(planes, std=0.4 * fan_in**0.5)
            arrays[f"{pre}bn{k}_weight"] = uniform(0.5, 1.5, planes) / (0.75 * fan_in**0.5)
            arrays[f"{pre}bn{k}_bias"] = normal(planes, std=0.3)
        for k in (3, 4):
            arrays[f"{pre}bn{k}_weight"], arrays[f"{pre}bn{k}_bias"] = (
                uniform(0.4, 0.9, planes),
                normal(planes, std=0.3),
            )
    arrays["linear_weight"], arrays["linear_bias"] = normal(10, 64, std=0.5), normal(10, std=0.1)
    return arrays


def _c_initialiser(values: np.ndarray) -> str:
    if values.ndim == 1:
        return "{" + ", ".join(str(np.float32(v)) for v in values) + "}"
    return "{" + ",\n ".join(_c_initialiser(v) for v in values) + "}"


def header_text(arrays: Mapping[str, np.ndarray]) -> str:
    """``const float NAME[d0][d1]... = {...};`` per array (shortest float32 literals), then the empty placeholder."""
    parts = []
    for name, values in arrays.items():
        dims = "".join(f"[{d}]" for d in values.shape)
        parts.append(f"const float {name}{dims} = {_c_initialiser(values)};\n")
    parts.append("const float encoder_placeholder[1] = {\n};\n")
    return "\n".join(parts)


def random_release_state_dict(seed: int = 1) -> dict[str, torch.Tensor]:
    """A state dict in the release's layout: its keys (in order), ``module.``, the encoder's placeholder buffer.

    Latent float weights everywhere, BN with running statistics, shapes of the release's ResNet-20.
    """
    keys = OFFICIAL_KEYS.read_text().split()
    shapes = {k: v.shape for k, v in fracbnn_resnet20().state_dict().items()}
    assert list(shapes) == keys
    generator = torch.Generator().manual_seed(seed)
    header = random_header_arrays(seed)  # the same scales, for the conv-fed BNs

    def rand(shape: torch.Size, low: float, high: float) -> torch.Tensor:
        return torch.rand(shape, generator=generator) * (high - low) + low

    state: dict[str, torch.Tensor] = {}
    for key in keys:
        shape, (owner, leaf) = shapes[key], key.rsplit(".", 1)
        if owner.split(".")[-1].startswith("bn"):
            if leaf == "weight":  # a whole BN at once: gamma / sqrt(var + eps) is the header's scale
                scale = torch.from_numpy(header[owner.replace(".", "_") + "_weight"]).double()
                var = rand(shape, 0.5, 2.0).double()
                state[key] = scale * (var + 1e-5).sqrt()
                state[f"{owner}.bias"] = torch.randn(shape, generator=generator) * 0.3
                state[f"{owner}.running_mean"] = rand(shape, -0.5, 0.5) / scale
                state[f"{owner}.running_var"] = var
                state[f"{owner}.num_batches_tracked"] = torch.tensor(1000)
        elif leaf == "threshold":
            state[key] = torch.from_numpy(header[key.replace(".", "_")]).reshape(shape)
        elif "prelu" in key:
            state[key] = rand(shape, -0.3, 0.6)
        elif "shift" in key:
            state[key] = torch.randn(shape, generator=generator) * 0.3
        else:
            state[key] = torch.randn(shape, generator=generator) * (0.5 if key.startswith("linear") else 1.0)
    state = {key: state[key] for key in keys}  # the release's order
    official = {"module." + k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    placeholder = torch.arange(32.0).view(1, 1, 32, 1, 1).expand(2, 3, 32, 32, 32).contiguous()
    official["module.encoder.placeholder"] = placeholder  # the release's buffer (batch 2 here, 128 there)
    return official


# ---------------------------------------------------------------------------------------------------------------------
# The release's network, from the raw values (float64)


@dataclass(frozen=True)
class Formulation:
    """Where the release's two forms differ: BN (folded or with statistics), the 2-bit quantiser, conv1's sign."""

    bn: Callable[[str, torch.Tensor], torch.Tensor]
    quant: Callable[[torch.Tensor], torch.Tensor]
    sign1: Callable[[torch.Tensor], torch.Tensor]
    weight: Callable[[torch.Tensor], torch.Tensor]


def _channel(v: torch.Tensor) -> torch.Tensor:
    return v.reshape(1, -1, 1, 1)


def tb_formulation(p: Mapping[str, torch.Tensor]) -> Formulation:
    """``tb.cc``: ``bn`` is ``x * w + b``; ``quant_sign`` by thresholds; conv1 counts ``w <= 0`` as -1."""

    def quant(x: torch.Tensor) -> torch.Tensor:  # x > 2/3: 1; 0 <= x <= 2/3: 1/3; -2/3 <= x < 0: -1/3; else -1
        levels = torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0], dtype=torch.float64)
        return levels[(x > 2 / 3).long() + (x >= 0).long() + (x >= -2 / 3).long()]

    return Formulation(
        bn=lambda name, x: x * _channel(p[f"{name}_weight"]) + _channel(p[f"{name}_bias"]),
        quant=quant,
        sign1=lambda w: torch.where(w > 0, 1.0, -1.0).double(),
        weight=lambda w: w,  # the testbench multiplies with the stored (binarised) values
    )


def pytorch_formulation(s: Mapping[str, torch.Tensor]) -> Formulation:
    """The release model's eval forward: BN with running statistics, ``QuantSign``, ``FastSign`` weights."""

    def bn(name: str, x: torch.Tensor) -> torch.Tensor:
        key = name.replace("_", ".")
        mean, var = _channel(s[f"{key}.running_mean"]), _channel(s[f"{key}.running_var"])
        return (x - mean) / torch.sqrt(var + 1e-5) * _channel(s[f"{key}.weight"]) + _channel(s[f"{key}.bias"])

    def quant(x: torch.Tensor) -> torch.Tensor:
        delta = 2.0 / 3.0
        return torch.round((x.clamp(-1.0, 1.0) + 1.0) / delta) * delta - 1.0

    return Formulation(bn=bn, quant=quant, sign1=torch.sign, weight=torch.sign)


def thermometer_bits(images: np.ndarray) -> np.ndarray:
    """uint8 N x 3 x 32 x 32 -> {0, 1} N x 96 x 32 x 32: channel ``colour * 32 + level``, on iff level < round(k/8)."""
    count = np.round(images.astype(np.float64) / 8.0)  # half to even, as torch.round
    bits = np.arange(32).reshape(1, 1, 32, 1, 1) < count[:, :, None]
    return bits.reshape(len(images), 96, 32, 32)


def release_logits(
    p: Mapping[str, torch.Tensor], form: Formulation, images: np.ndarray, *, level_major: bool = False
) -> torch.Tensor:
    """The release's ResNet-20 (``FracNet_sw``) on uint8 images from the header-named values ``p`` (float64).

    ``level_major``: feed the thermometer code with its channels in the wrong order (a mapping mistake).
    """
    bits = thermometer_bits(images)
    if level_major:
        bits = bits.reshape(-1, 3, 32, 32, 32).transpose(0, 2, 1, 3, 4).reshape(-1, 96, 32, 32)
    x = torch.from_numpy(bits).double() * 2 - 1
    out = form.bn("bn1", F.conv2d(x, form.sign1(p["conv1_weight"]), padding=1))

    def pgconv(x: torch.Tensor, name: str, stride: int) -> torch.Tensor:
        w = form.weight(p[f"{name}_weight"])
        msb = F.conv2d(torch.where(x >= 0, 1.0, -1.0).double(), w, stride=stride, padding=1) * 2.0 / 3.0
        full = F.conv2d(x, w, stride=stride, padding=1)
        return torch.where(torch.sigmoid(5 * (msb - _channel(p[f"{name}_threshold"]))) > 0.5, full, msb)

    def rprelu(x: torch.Tensor, name: str) -> torch.Tensor:
        t = x + _channel(p[f"{name}_shift_x_bias"])
        return torch.where(t < 0, _channel(p[f"{name}_prelu_weight"]) * t, t) + _channel(p[f"{name}_shift_y_bias"])

    for layer, block, _ in BLOCKS:
        pre = f"layer{layer}_{block}_"
        stride = 2 if layer > 1 and block == 0 else 1
        shortcut = out if stride == 1 else torch.cat([F.avg_pool2d(out, 2)] * 2, dim=1)
        h = rprelu(form.bn(f"{pre}bn1", pgconv(form.quant(out), f"{pre}conv1", stride)), f"{pre}rprelu1")
        mid = form.bn(f"{pre}bn3", h + shortcut)
        h = rprelu(form.bn(f"{pre}bn2", pgconv(form.quant(mid), f"{pre}conv2", 1)), f"{pre}rprelu2")
        out = form.bn(f"{pre}bn4", h + mid)
    return out.mean(dim=(2, 3)) @ p["linear_weight"].T + p["linear_bias"]


def kit_logits(checkpoint: Path, images: np.ndarray) -> torch.Tensor:
    """Our ``fracbnn_resnet20`` from ``checkpoint``, its recorded stage applied, in float64 eval mode."""
    model = fracbnn_resnet20()
    stage = load_checkpoint(checkpoint, model)["config"]["stage"]
    set_binary_weights(model, stage["binary_weights"])
    set_gating(model, stage["gating"])
    with torch.no_grad():
        return model.double().eval()(torch.from_numpy(images).double() / 255.0)


def _images(n: int = 3, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


def _as_tensors(arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in arrays.items()}


def _import(capsys: pytest.CaptureFixture[str], *argv: object) -> int:
    code = cli.main(["import-release", *map(str, argv)])
    capsys.readouterr()
    return code


@pytest.fixture(scope="module")
def header_checkout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A release checkout holding only a random ``xcel-cifar10/source/weights_tb.h``."""
    root = tmp_path_factory.mktemp("release") / "FracBNN"
    arrays = random_header_arrays()
    header = root / "xcel-cifar10" / "source" / "weights_tb.h"
    header.parent.mkdir(parents=True)
    header.write_text(header_text(arrays))
    return root, arrays


# ---------------------------------------------------------------------------------------------------------------------
# Tests


def test_header_import_gives_the_testbench_network(header_checkout, tmp_path, capsys):
    root, arrays = header_checkout
    out = tmp_path / "runs" / "release" / "checkpoints" / "final.pt"
    assert cli.main(["import-release", str(root), "--out", str(out)]) == 0
    assert "testbench header" in capsys.readouterr().out
    checkpoint = torch.load(out, weights_only=True)
    assert checkpoint["config"]["stage"] == {"name": "release", "binary_weights": True, "gating": True}
    assert checkpoint["config"]["source"]["batchnorm"].startswith("folded")
    state = checkpoint["model"]
    assert list(state) == OFFICIAL_KEYS.read_text().split()  # our (and the release's) key order
    assert torch.all(state["layer2.0.bn1.running_mean"] == 0) and torch.equal(
        state["layer2.0.bn1.weight"], torch.from_numpy(arrays["layer2_0_bn1_weight"])
    )
    images = _images()
    params = _as_tensors(arrays)
    reference = release_logits(params, tb_formulation(params), images)
    ours = kit_logits(out, images)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)
    assert reference.std() > 0.1  # logits that depend on the image

    # A mapping mistake would show: each of these changes the release's logits far beyond the tolerance.
    p = params
    swaps = {
        "in/out channels of a square conv": ("layer2_1_conv1_weight", p["layer2_1_conv1_weight"].transpose(0, 1)),
        "a transposed 3x3 kernel": ("layer1_0_conv2_weight", p["layer1_0_conv2_weight"].transpose(2, 3)),
        "thresholds in reverse channel order": ("layer3_1_conv2_threshold", p["layer3_1_conv2_threshold"].flip(0)),
        "bn3 and bn4 swapped": ("layer3_0_bn3_weight", p["layer3_0_bn4_weight"]),
        "shift_x and shift_y swapped": ("layer1_2_rprelu1_shift_x_bias", p["layer1_2_rprelu1_shift_y_bias"]),
        "BN scale and shift swapped": ("layer2_2_bn2_weight", p["layer2_2_bn2_bias"]),
    }
    for what, (name, value) in swaps.items():
        wrong = {**params, name: value}
        assert (release_logits(wrong, tb_formulation(wrong), images) - ours).abs().max() > 1e-3, what
    level_major = release_logits(params, tb_formulation(params), images, level_major=True)
    assert (level_major - ours).abs().max() > 1e-3, "thermometer channels level-major"


def test_release_checkpoint_import_gives_the_release_model(tmp_path, capsys):
    official = random_release_state_dict()
    source = tmp_path / "downloads" / "model_binput-pg.pt"
    source.parent.mkdir()
    torch.save(official, source)
    out = tmp_path / "final.pt"
    assert cli.main(["import-release", str(source.parent), "--out", str(out)]) == 0  # the folder's only .pt
    assert "checkpoint" in capsys.readouterr().out
    config = torch.load(out, weights_only=True)["config"]
    assert (
        config["model"] == "FracBNNResNet20" and config["stage"]["gating"] and config["source"]["kind"] == "checkpoint"
    )
    state = {k.removeprefix("module."): v.double() for k, v in official.items()}
    params = {k.replace(".", "_"): v for k, v in state.items() if not k.split(".")[-2].startswith("bn")}
    images = _images(seed=6)
    reference = release_logits(params, pytorch_formulation(state), images)
    ours = kit_logits(out, images)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)
    assert reference.std() > 0.1
    wrong = {**params, "layer3_2_conv1_weight": params["layer3_2_conv1_weight"].transpose(0, 1)}
    assert (release_logits(wrong, pytorch_formulation(state), images) - ours).abs().max() > 1e-3


def test_imagenet_release_checkpoint_is_imported_whole(tmp_path, capsys):
    source_model = fracbnn_reactnet(num_classes=10)
    official = {"module." + k: v for k, v in source_model.state_dict().items()}
    official["module.teacher.conv1.weight"] = torch.zeros(64, 3, 7, 7)
    official["module.img_mean"], official["module.img_std"] = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
    torch.save(official, tmp_path / "imagenet.pt")
    assert _import(capsys, tmp_path / "imagenet.pt", "--out", tmp_path / "final.pt") == 0
    saved = torch.load(tmp_path / "final.pt", weights_only=True)
    assert saved["config"]["model"] == "FracBNNReActNet"
    expected = source_model.state_dict()
    assert list(saved["model"]) == list(expected)
    assert all(torch.equal(saved["model"][k], v) for k, v in expected.items())


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(PREFIX) and len(err.splitlines()) == 1, err
    return err


def _nothing_written(folder: Path) -> None:
    assert not folder.exists() or not any(folder.iterdir()), sorted(folder.iterdir())


@pytest.mark.parametrize(
    "case, expected",
    [
        ("truncated", "cut off"),
        ("missing array", "lacks the array layer2_1_bn3_bias"),
        ("latent pg weights", "values other than -1 and +1"),
        ("not a release .pt", "is not a release checkpoint"),
        ("truncated .pt", "damaged"),
        ("our own checkpoint", "already a checkpoint of this kit"),
        ("missing path", "not found"),
        ("empty folder", "holds neither"),
    ],
)
def test_bad_input_is_a_one_line_error_and_writes_nothing(case, expected, header_checkout, tmp_path, capsys):
    _, arrays = header_checkout
    text = header_text(arrays)
    source = tmp_path / "in" / "weights_tb.h"
    source.parent.mkdir()
    if case == "truncated":
        source.write_text(text[: text.index("layer2_1_conv1_weight") + 500])  # cut inside an array
    elif case == "missing array":
        source.write_text(header_text({k: v for k, v in arrays.items() if k != "layer2_1_bn3_bias"}))
    elif case == "latent pg weights":
        source.write_text(header_text({**arrays, "layer1_1_conv2_weight": arrays["layer1_1_conv2_weight"] * 0.7}))
    elif case == "not a release .pt":
        source = source.with_name("resnet.pt")
        torch.save({"fc.weight": torch.zeros(10, 512), "layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3)}, source)
    elif case == "truncated .pt":
        source = source.with_name("model_binput-pg.pt")
        torch.save(random_release_state_dict(), source)
        source.write_bytes(source.read_bytes()[:100_000])
    elif case == "our own checkpoint":
        source = source.with_name("final.pt")
        torch.save({"model": fracbnn_resnet20().state_dict(), "config": {}}, source)
    elif case == "missing path":
        source = tmp_path / "in" / "nowhere"
    else:
        source = source.parent
    out_dir = tmp_path / "out"
    assert cli.main(["import-release", str(source), "--out", str(out_dir / "final.pt")]) == 1
    err = _one_line_error(capsys)
    assert expected in err and str(source) in err, err
    _nothing_written(out_dir)


def test_an_existing_checkpoint_is_replaced_only_with_force(header_checkout, tmp_path, capsys):
    root, _ = header_checkout
    out = tmp_path / "final.pt"
    out.write_bytes(b"mine")
    assert cli.main(["import-release", str(root), "--out", str(out)]) == 1
    assert "pass --force" in _one_line_error(capsys) and out.read_bytes() == b"mine"
    assert _import(capsys, root, "--out", out, "--force") == 0
    assert "model" in torch.load(out, weights_only=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final.pt"]  # no temporaries left beside it


def test_usage_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["import-release", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--out" in _one_line_error(capsys)


def test_c_array_parser_reads_the_release_element_types():
    text = """
    #include "typedefs.h"
    typedef ap_uint<64> uint64;   // as in typedefs.h
    typedef ap_fixed<12, 4, AP_RND, AP_SAT> FIX_WT;
    /* packed sign bits */
    const uint64 packed[2][2] = {{0xfb2d94df00000000, 0x1},
                                 {0, 0xffffffffffffffff}};
    const FIX_WT scale[2][2] = {{0.03467282, -9.0}, {7.999, -0.00195}};
    static const float weights[3] = {1.5f, -2e-3, 0.1};
    const int8_t small[2] = {-3, 200};
    const float encoder_placeholder[1] = {
    };
    """
    arrays = parse_c_arrays(text)
    packed = arrays["packed"].values()
    assert packed.dtype == np.uint64 and packed.shape == (2, 2)
    assert packed[0, 0] == 0xFB2D94DF00000000 and packed[1, 1] == 2**64 - 1
    # ap_fixed<12,4,AP_RND,AP_SAT>: steps of 2^-8, round half up, saturate at [-8, 8 - 2^-8]
    assert arrays["scale"].values().tolist() == [[9 / 256, -8.0], [2047 / 256, 0.0]]
    weights = arrays["weights"].values()
    assert weights.dtype == np.float32 and weights.tolist() == np.float32([1.5, -2e-3, 0.1]).tolist()
    assert arrays["small"].values().tolist() == [-3, -56]  # wrapped to int8 as C converts
    assert arrays["encoder_placeholder"].tokens == ()
    with pytest.raises(ValueError, match="holds 0 values"):
        arrays["encoder_placeholder"].values()
    with pytest.raises(ValueError, match="packed is cut off"):
        parse_c_arrays(text[: text.index("{0, 0xff")])
