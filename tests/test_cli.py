"""The ``fracbnn`` command line: data, train, test, the release's checkpoints, one-line errors."""

import subprocess
import sys

import pytest
import torch

from fracbnn_lib import cli, fracbnn_resnet20


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "synthetic"
    assert cli.main(["data", "synth", "--out", str(out), "--train-per-class", "4", "--test-per-class", "3"]) == 0
    return out


def _one_line_error(capsys, prefix: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(prefix) and len(err.splitlines()) == 1, err
    return err


def test_data_synth_writes_the_cifar10_layout(data_dir, capsys):
    files = sorted(p.name for p in (data_dir / "cifar-10-batches-py").iterdir())
    assert files[:6] == ["batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    assert "test_batch" in files


def test_train_one_stage_then_test_its_checkpoint(data_dir, tmp_path, capsys):
    save = tmp_path / "ckpt"
    common = ["--data-dir", str(data_dir), "--batch-size", "16", "--workers", "0", "--device", "cpu"]
    assert cli.main(["train", "--stage", "1", "--epochs", "1", "--save-dir", str(save), "--no-progress", *common]) == 0
    out = capsys.readouterr().out
    assert "stage1: test accuracy" in out and "final model" not in out  # final.pt only after the last stage
    assert sorted(p.name for p in save.iterdir()) == ["stage1.pt", "stage1_history.csv", "stage1_last.pt"]
    assert cli.main(["test", "--checkpoint", str(save / "stage1.pt"), *common]) == 0
    assert "on 30 images" in capsys.readouterr().out
    # stage 2 finds stage 1's checkpoint in the save folder; stage 3 without stage 2's is a clear error
    assert cli.main(["train", "--stage", "3", "--epochs", "1", "--save-dir", str(save), *common]) == 1
    assert "run --stage 2 first or pass --init-from" in _one_line_error(capsys, "fracbnn train: error:")


def test_test_loads_a_checkpoint_in_the_release_layout(data_dir, tmp_path, capsys):
    torch.manual_seed(0)
    state = {f"module.{k}": v for k, v in fracbnn_resnet20().state_dict().items()}
    state["module.encoder.placeholder"] = torch.zeros(1)  # what the release's fixed-batch encoder saves
    torch.save(state, tmp_path / "release.pt")
    assert cli.main(["test", "--checkpoint", str(tmp_path / "release.pt"), "--data-dir", str(data_dir)]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_a_foreign_checkpoint_is_a_one_line_error(data_dir, tmp_path, capsys):
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pt")
    assert cli.main(["test", "--checkpoint", str(tmp_path / "other.pt"), "--data-dir", str(data_dir)]) == 1
    _one_line_error(capsys, "fracbnn test: error:")


def test_a_missing_data_set_is_a_one_line_error(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert (
        cli.main(["train", "--dataset", "cifar10", "--data-dir", str(missing), "--save-dir", str(tmp_path / "c")]) == 1
    )
    assert str(missing) in _one_line_error(capsys, "fracbnn train: error:")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--epochs", "0"], "--epochs must be at least 1"),
        (["train", "--variant", "release", "--stage", "3"], "the release variant has stages 1 and 2"),
        (["train", "--dataset", "imagenet"], "pass --teacher PATH"),
    ],
)
def test_usage_errors_exit_2_before_anything_is_written(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    assert message in _one_line_error(capsys, "fracbnn train: error:")
    assert not any(tmp_path.iterdir())


def test_unknown_option_is_one_line_and_help_maps_the_release_options():
    done = subprocess.run(
        [sys.executable, "-m", "fracbnn_lib", "train", "--num_epoch", "3"], capture_output=True, text=True
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "--num_epoch" in done.stderr
    shown = subprocess.run([sys.executable, "-m", "fracbnn_lib", "--help"], capture_output=True, text=True).stdout
    assert "--num_epoch -> --epochs" in shown and "--gtarget -> --gating-target" in shown
