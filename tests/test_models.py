"""Model builders: parameter counts, official state-dict layout, shapes and stage defaults."""

from pathlib import Path

import pytest
import torch

from fracbnn_lib import BinaryConv2d, PGBinaryConv2d, fracbnn_reactnet, fracbnn_resnet20
from fracbnn_lib.models import FracBNNReActNet, FracBNNResNet20

# The release's CIFAR-10 state-dict keys, in order (without encoder.placeholder).
OFFICIAL_KEYS = Path(__file__).with_name("data") / "official_cifar10_state_dict_keys.txt"


def _official_keys() -> list[str]:
    return OFFICIAL_KEYS.read_text().split()


def test_resnet20_parameter_count_and_official_keys_in_order():
    model = fracbnn_resnet20()
    assert sum(p.numel() for p in model.parameters()) == 287_146
    assert list(model.state_dict()) == _official_keys()
    assert len(_official_keys()) == 278


def test_resnet20_forward_any_batch_and_defaults():
    model = fracbnn_resnet20()
    assert all(m.binary_weights for m in model.modules() if isinstance(m, BinaryConv2d))
    assert all(m.gating for m in model.modules() if isinstance(m, PGBinaryConv2d))
    for n in (1, 3):
        assert model(torch.rand(n, 3, 32, 32)).shape == (n, 10)
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(5, 3, 32, 32)).shape == (5, 10)
    assert fracbnn_resnet20(num_classes=100).linear.out_features == 100


def test_resnet20_thresholds_start_at_minus_one():
    model = fracbnn_resnet20()
    thresholds = [p for n, p in model.named_parameters() if n.endswith("threshold")]
    assert len(thresholds) == 18 and all(torch.all(t == -1.0) for t in thresholds)


def test_reactnet_layout_forward_backward():
    model = fracbnn_reactnet(num_classes=7)
    keys = list(model.state_dict())
    assert keys[0] == "model.0.0.weight" and keys[-1] == "fc.bias"
    assert "model.1.conv3x3.0.threshold" in keys and "model.13.pointwise.0.weight" in keys
    assert not any(k.startswith(("teacher", "img_")) for k in keys)
    pgs = [m for m in model.modules() if isinstance(m, PGBinaryConv2d)]
    assert len(pgs) == 26
    x = torch.randn(2, 3, 224, 224)
    out = model(x)
    assert out.shape == (2, 7)
    out.sum().backward()
    assert model.fc.weight.grad is not None and pgs[0].weight.grad.abs().sum() > 0


def test_a_given_checkpoint_must_hold_the_data_sets_network_with_its_classes(tmp_path):
    """Notebooks 03-05's ``checkpoint`` (and the pipeline's check of it): another network or class count is refused
    in one line that names both; the data set's own network loads as :func:`load_trained_model` loads it."""
    from fracbnn_lib import CheckpointError, atomic_save
    from fracbnn_lib.models import trained_model_for
    from fracbnn_lib.pipeline import PipelineError, check_checkpoint

    torch.manual_seed(0)
    resnet = atomic_save({"model": fracbnn_resnet20().state_dict()}, tmp_path / "resnet.pt")
    reactnet = atomic_save({"model": fracbnn_reactnet(num_classes=10).state_dict()}, tmp_path / "reactnet.pt")
    model = trained_model_for("synthetic", resnet)
    assert isinstance(model, FracBNNResNet20) and not model.training
    assert isinstance(trained_model_for("imagenet-tiny", reactnet), FracBNNReActNet)
    with pytest.raises(CheckpointError, match="holds a FracBNNReActNet of 10 classes .* data set cifar10 runs") as err:
        trained_model_for("cifar10", reactnet)
    assert len(str(err.value).splitlines()) == 1
    with pytest.raises(CheckpointError, match="of 10 classes .* data set imagenet runs the imagenet .* with 1000"):
        trained_model_for("imagenet", reactnet)
    check_checkpoint("synthetic", "")  # none given: nothing to check
    check_checkpoint("synthetic", str(resnet))
    with pytest.raises(PipelineError, match="parameter checkpoint: .* holds a FracBNNResNet20"):
        check_checkpoint("imagenet-tiny", str(resnet))
    with pytest.raises(PipelineError, match="checkpoint .*absent.pt not found"):
        check_checkpoint("synthetic", str(tmp_path / "absent.pt"))
