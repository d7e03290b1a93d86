"""Checkpoint saving and strict loading, in our layout and the release's."""

import pytest
import torch

from fracbnn_lib import CheckpointError, atomic_save, fracbnn_resnet20, load_checkpoint


def _perturbed_model():
    torch.manual_seed(0)
    model = fracbnn_resnet20()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    return model


def _same_state(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_own_layout_round_trip(tmp_path):
    source = _perturbed_model()
    path = atomic_save({"model": source.state_dict(), "config": {"stage": "stage3"}, "epoch": 3}, tmp_path / "c.pt")
    target = fracbnn_resnet20()
    checkpoint = load_checkpoint(path, target)
    assert checkpoint["epoch"] == 3 and checkpoint["config"] == {"stage": "stage3"}
    assert _same_state(source, target)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_official_layout_with_prefix_and_placeholder_loads_strictly(tmp_path):
    source = _perturbed_model()
    official = {"module." + k: v for k, v in source.state_dict().items()}
    official["module.encoder.placeholder"] = torch.ones(128, 3, 32, 32, 32)
    torch.save(official, tmp_path / "official.pth")
    target = fracbnn_resnet20()
    load_checkpoint(tmp_path / "official.pth", target)
    assert torch.equal(target.layer3[2].conv2.threshold, source.layer3[2].conv2.threshold)
    assert _same_state(source, target)


def test_foreign_state_dict_is_a_clear_error_and_leaves_the_model_untouched():
    target = fracbnn_resnet20()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    state = _perturbed_model().state_dict()
    del state["linear.bias"]
    state["fc.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match=r"missing keys: linear\.bias.*unexpected keys: fc\.weight"):
        load_checkpoint(state, target)
    wrong_shape = fracbnn_resnet20(num_classes=100).state_dict()
    with pytest.raises(CheckpointError, match=r"shape mismatches: linear\.weight \(100, 64\) vs \(10, 64\)"):
        load_checkpoint(wrong_shape, target)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_corrupt_missing_and_unsafe_files(tmp_path):
    model = fracbnn_resnet20()
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "corrupt.pt", model)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "absent.pt", model)
    torch.save({"model": {"x": object()}}, tmp_path / "pickle.pt")  # not loadable with weights_only=True
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "pickle.pt", model)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_checkpoint(tmp_path / "list.pt", model)


def test_atomic_save_leaves_nothing_on_failure(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_save({"x": Unpicklable()}, tmp_path / "c.pt")
    assert list(tmp_path.iterdir()) == []


def test_release_imagenet_extras_are_dropped():
    from fracbnn_lib import fracbnn_reactnet

    source = fracbnn_reactnet(num_classes=5)
    official = dict(source.state_dict())
    official["teacher.conv1.weight"] = torch.zeros(64, 3, 7, 7)
    official["img_mean"] = torch.zeros(1, 3, 1, 1)
    official["img_std"] = torch.ones(1, 3, 1, 1)
    official["encoder.placeholder"] = torch.zeros(1)
    target = fracbnn_reactnet(num_classes=5)
    load_checkpoint(official, target)
    assert torch.equal(target.fc.weight, source.fc.weight)
