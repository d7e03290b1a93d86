"""The staged recipe on a small synthetic set: learning, binary weights, gating, checkpoints, exact resume."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from fracbnn_lib import fracbnn_resnet20, measure_gating, set_gating
from fracbnn_lib.checkpoint import CheckpointError, load_checkpoint, read_checkpoint
from fracbnn_lib.data import make_dataset, make_loaders, write_synthetic_cifar10
from fracbnn_lib.layers import PGBinaryConv2d
from fracbnn_lib.training import (
    HISTORY_COLUMNS,
    Stage,
    evaluate,
    evaluate_with_gating,
    gating_penalty,
    recipe,
    start_checkpoint,
    train_stage,
)

TRAIN_PER_CLASS, TEST_PER_CLASS, BATCH, EPOCHS, SEED = 60, 13, 64, 2, 0
TEST_IMAGES = 10 * TEST_PER_CLASS  # 130: not a multiple of the batch size


class ConvSpy:
    """Wraps ``F.conv2d`` and records, per call, whether every weight value is exactly +-1."""

    def __init__(self):
        self.calls: list[bool] = []
        self.conv2d = F.conv2d

    def __call__(self, input, weight, *args, **kwargs):
        self.calls.append(bool(weight.detach().abs().eq(1).all()))
        return self.conv2d(input, weight, *args, **kwargs)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Stages 1 -> 2 -> 3 of the paper's recipe, 2 epochs each, with every conv call recorded."""
    root = tmp_path_factory.mktemp("staged")
    write_synthetic_cifar10(root / "data", train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS)
    train_loader, test_loader = make_loaders("synthetic", root / "data", batch_size=BATCH, workers=0, seed=SEED)
    torch.manual_seed(SEED)
    model = fracbnn_resnet20()
    results, binary_calls, previous = {}, {}, None
    for stage in recipe("synthetic", epochs=EPOCHS):
        spy = ConvSpy()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(F, "conv2d", spy)
            result = train_stage(
                model,
                stage,
                train_loader,
                test_loader,
                out_dir=root / "ckpt",
                seed=SEED,
                init_from=previous,
                progress=False,
            )
        results[stage.name], binary_calls[stage.name], previous = result, spy.calls, result.checkpoint
    return {
        "root": root,
        "model": model,
        "results": results,
        "binary_calls": binary_calls,
        "loaders": (train_loader, test_loader),
    }


def test_openmp_spinning_is_bounded_unless_the_user_chose_otherwise():
    from fracbnn_lib.environment import OPENMP_SPIN, bound_openmp_spinning

    assert bound_openmp_spinning({}) == OPENMP_SPIN == {"GOMP_SPINCOUNT": "10000"}
    assert bound_openmp_spinning({"GOMP_SPINCOUNT": "300000"}) == {"GOMP_SPINCOUNT": "300000"}


def test_each_stage_declares_where_its_weights_come_from(tmp_path):
    paper, release = recipe("cifar10"), recipe("cifar10", "release")
    assert [s.init_from for s in paper] == ["", "stage1", "stage2"] and [s.init_from for s in release] == ["", "stage1"]
    assert start_checkpoint(paper[0], tmp_path) is None
    with pytest.raises(CheckpointError, match="stage2 starts from stage1's checkpoint .*: train stage1 first"):
        start_checkpoint(paper[1], tmp_path)
    (tmp_path / "stage1.pt").write_bytes(b"")
    assert start_checkpoint(paper[1], tmp_path) == tmp_path / "stage1.pt"
    assert start_checkpoint(paper[2], tmp_path, init_from="elsewhere.pt") == Path("elsewhere.pt")


def test_recipe_paper_release_and_imagenet():
    paper = recipe("cifar10")
    assert [(s.name, s.binary_weights, s.gating) for s in paper] == [
        ("stage1", False, False),
        ("stage2", True, False),
        ("stage3", True, True),
    ]
    s1, s2, s3 = paper
    assert (s1.lr, s1.weight_decay, s1.schedule, s1.epochs) == (1e-3, 1e-5, "linear", 250)
    assert (s2.lr, s2.weight_decay, s2.schedule, s2.milestones, s2.gamma) == (
        1e-3,
        0.0,
        "multistep",
        (100, 150, 200),
        0.1,
    )
    assert s3.gating_reg == 0.5e-5 and s3.gating_target == 0.0 and not s3.kd
    assert recipe("synthetic") == paper
    release = recipe("cifar10", "release")
    assert [(s.name, s.binary_weights, s.gating) for s in release] == [("stage1", False, True), ("stage2", True, True)]
    imagenet = recipe("imagenet")
    assert all(s.kd and s.lr == 5e-4 and s.epochs == 120 and s.schedule == "linear" for s in imagenet)
    assert [s.weight_decay for s in imagenet] == [1e-5, 0.0, 0.0]
    short = recipe("cifar10", epochs=3, lr=2e-3, weight_decay=1e-4, gating_target=0.5)
    assert short[1].milestones == (2, 2, 3) and recipe("cifar10", epochs=300)[1].milestones == (100, 150, 200)
    assert all(s.epochs == 3 and s.lr == 2e-3 and s.weight_decay == 1e-4 and s.gating_target == 0.5 for s in short)
    assert recipe("imagenet-tiny", epochs=1) == recipe("imagenet", epochs=1)
    with pytest.raises(ValueError, match="variant"):
        recipe("cifar10", "other")
    with pytest.raises(ValueError, match="epochs"):
        Stage("stage1", False, False, epochs=0, lr=1e-3, weight_decay=0.0)


def test_stages_learn_well_above_chance(run):
    results = run["results"]
    stage1, stage3 = results["stage1"].history, results["stage3"].history
    assert stage1["train_loss"].iloc[-1] < stage1["train_loss"].iloc[0]
    assert stage3["train_loss"].iloc[-1] < stage1["train_loss"].iloc[0] - 0.2
    assert results["stage3"].test_accuracy > 0.25, results["stage3"].history
    assert results["stage3"].metrics() == {
        "epochs": EPOCHS,
        "test_accuracy": results["stage3"].test_accuracy,
        "best_test_accuracy": stage3["test_accuracy"].max(),
        "final_train_loss": stage3["train_loss"].iloc[-1],
    }


def test_stages_2_and_3_convolve_with_binary_weights_only(run):
    calls = run["binary_calls"]
    assert calls["stage1"] and not all(calls["stage1"])  # the spy sees float weights in stage 1
    for name in ("stage2", "stage3"):
        assert len(calls[name]) > 100 and all(calls[name]), name


def test_gate_off_gates_nothing_gate_on_gates_some(run):
    results = run["results"]
    assert (results["stage1"].history["sparsity"] == 0).all()
    assert (results["stage2"].history["sparsity"] == 0).all()
    assert ((results["stage3"].history["sparsity"] > 0) & (results["stage3"].history["sparsity"] < 1)).all()
    model, (_, test_loader) = run["model"], run["loaders"]
    _, stats = evaluate_with_gating(model, test_loader)
    assert 0 < stats.sparsity < 1 and stats.sparsity == pytest.approx(results["stage3"].history["sparsity"].iloc[-1])
    set_gating(model, False)
    try:
        with measure_gating(model.eval()) as off:
            model(next(iter(test_loader))[0])
        assert off.sparsity == 0.0
    finally:
        set_gating(model, True)


def test_accuracy_counts_every_test_image(run):
    model, (_, test_loader) = run["model"], run["loaders"]
    test_set = make_dataset("synthetic", run["root"] / "data", train=False)
    images = torch.stack([test_set[i][0] for i in range(len(test_set))])
    labels = torch.tensor(test_set.targets)
    model.eval()
    with torch.no_grad():
        expected = (model(images).argmax(1) == labels).sum().item() / TEST_IMAGES
    assert len(test_set) == TEST_IMAGES and TEST_IMAGES % BATCH
    assert evaluate(model, test_loader) == pytest.approx(expected)
    for result in run["results"].values():
        counts = result.history["test_accuracy"] * TEST_IMAGES
        assert ((counts - counts.round()).abs() < 1e-9).all()


def test_checkpoints_history_and_schedules(run):
    ckpt = run["root"] / "ckpt"
    for name, result in run["results"].items():
        assert result.checkpoint == ckpt / f"{name}.pt" and result.last_checkpoint == ckpt / f"{name}_last.pt"
        best = read_checkpoint(result.checkpoint)
        assert {"model", "config", "epoch", "optimizer", "scheduler", "metrics"} <= set(best)
        assert best["metrics"]["test_accuracy"] == result.best_test_accuracy
        assert best["config"]["stage"]["name"] == name
        last = read_checkpoint(result.last_checkpoint)
        assert last["epoch"] == EPOCHS and {"rng", "history"} <= set(last)
        csv = pd.read_csv(ckpt / f"{name}_history.csv")
        assert list(csv.columns) == list(HISTORY_COLUMNS) == list(result.history.columns)
        pd.testing.assert_frame_equal(csv, result.history, check_exact=False)
    assert not [p.name for p in ckpt.iterdir() if p.name.startswith(".")], "temporary files left behind"
    # linear decay 1e-3 -> 5e-4 over 2 epochs; multistep x0.1 at ceil(0.4 * 2) = 1
    assert run["results"]["stage1"].history["lr"].tolist() == pytest.approx([1e-3, 5e-4])
    assert run["results"]["stage2"].history["lr"].tolist() == pytest.approx([1e-3, 1e-4])
    # the best checkpoint loads strictly into a fresh model
    fresh = fracbnn_resnet20()
    load_checkpoint(run["results"]["stage3"].checkpoint, fresh)


def test_finished_stage_is_not_trained_again(run):
    result = run["results"]["stage3"]
    model = fracbnn_resnet20()
    train_loader, test_loader = run["loaders"]
    again = train_stage(
        model, result.stage, train_loader, test_loader, out_dir=run["root"] / "ckpt", seed=SEED, progress=False
    )
    pd.testing.assert_frame_equal(again.history, result.history)
    for key, value in run["model"].state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


@pytest.mark.slow
def test_resume_after_an_interruption_gives_identical_weights(run, tmp_path):
    """Stage 3 again from stage 2's checkpoint, killed in the middle of epoch 2, then resumed."""
    stage = run["results"]["stage3"].stage
    train_loader, test_loader = run["loaders"]
    batches_per_epoch = len(train_loader)
    model = fracbnn_resnet20()
    calls = []

    def crash(module, args):
        if module.training:
            calls.append(1)
            if len(calls) == batches_per_epoch + 2:
                raise KeyboardInterrupt("simulated interruption")

    handle = model.register_forward_pre_hook(crash)
    common = {"out_dir": tmp_path, "seed": SEED, "init_from": run["results"]["stage2"].checkpoint, "progress": False}
    with pytest.raises(KeyboardInterrupt):
        train_stage(model, stage, train_loader, test_loader, **common)
    handle.remove()
    assert read_checkpoint(tmp_path / "stage3_last.pt")["epoch"] == 1

    torch.manual_seed(123)  # disturb the global random state: resume must restore it
    resumed_model = fracbnn_resnet20()
    resumed = train_stage(resumed_model, stage, train_loader, test_loader, **common)
    reference = run["model"].state_dict()
    for key, value in resumed_model.state_dict().items():
        assert torch.equal(value, reference[key]), key
    columns = [c for c in HISTORY_COLUMNS if c != "time_s"]
    pd.testing.assert_frame_equal(resumed.history[columns], run["results"]["stage3"].history[columns])


def test_gating_penalty_is_the_squared_distance_to_the_target():
    model = fracbnn_resnet20()
    thresholds = [m.threshold for m in model.modules() if isinstance(m, PGBinaryConv2d)]
    with torch.no_grad():
        for i, theta in enumerate(thresholds):
            theta.fill_(0.1 * i)
    expected = sum(((0.1 * i - 0.5) ** 2) * t.numel() for i, t in enumerate(thresholds))
    penalty = gating_penalty(model, 0.5)
    assert penalty.item() == pytest.approx(expected)
    penalty.backward()
    assert thresholds[0].grad is not None and torch.allclose(thresholds[0].grad, torch.full_like(thresholds[0], -1.0))


def test_a_run_without_a_teacher_file_trains_on_the_labels_and_says_so():
    from fracbnn_lib.training import NO_TEACHER, without_missing_teacher

    stages = recipe("imagenet", epochs=1)
    kept, note = without_missing_teacher(stages, "")
    assert note == NO_TEACHER and not any(s.kd for s in kept) and len(note.splitlines()) == 1
    assert [s.name for s in kept] == [s.name for s in stages] and kept[0].lr == stages[0].lr
    assert without_missing_teacher(stages, "teacher.pth") == (stages, "")  # a given file is loaded, or fails clearly
    assert without_missing_teacher(recipe("cifar10"), "") == (recipe("cifar10"), "")  # no distillation to turn off


def test_kd_stage_needs_a_teacher(tmp_path):
    stage = recipe("imagenet", epochs=1)[0]
    with pytest.raises(ValueError, match="teacher"):
        train_stage(fracbnn_resnet20(), stage, [], [], out_dir=tmp_path)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.slow
def test_torchrun_ddp_on_cpu(run, tmp_path):
    """Two Gloo ranks train stage 3 through the CLI; only rank 0 writes; metrics cover all test images."""
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "fracbnn_lib", "train", "--data-dir", str(run["root"] / "data"), "--stage", "3"]
    command += ["--init-from", str(run["results"]["stage2"].checkpoint), "--epochs", "1", "--batch-size", "32"]
    command += ["--workers", "0", "--device", "cpu", "--save-dir", str(tmp_path / "ckpt")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("stage3: test accuracy") == 1  # printed by rank 0 only
    written = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert written == ["final.pt", "stage3.pt", "stage3_history.csv", "stage3_last.pt"]
    last = read_checkpoint(tmp_path / "ckpt" / "stage3_last.pt")
    assert last["config"]["world_size"] == 2 and len(last["rng"]) == 2
    history = pd.read_csv(tmp_path / "ckpt" / "stage3_history.csv")
    model = fracbnn_resnet20()
    load_checkpoint(tmp_path / "ckpt" / "stage3.pt", model)
    accuracy, stats = evaluate_with_gating(model, run["loaders"][1])
    assert abs(history["test_accuracy"].iloc[0] - accuracy) <= 1 / TEST_IMAGES
    assert history["sparsity"].iloc[0] == pytest.approx(stats.sparsity, abs=1e-3)
    assert 0 < stats.sparsity < 1 and not math.isnan(history["train_loss"].iloc[0])
    assert Path(tmp_path / "ckpt" / "final.pt").stat().st_size > 0


def test_a_finished_progress_bar_leaves_no_trace_in_a_notebook(monkeypatch):
    """In a Jupyter kernel the bar shares stdout with the printed table, so no (stderr) band is left behind."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    code = (
        "import time\n"
        "from fracbnn_lib.training.loop import progress_bar\n"
        "for _ in progress_bar(range(5), 'stage1 epoch 1', mininterval=0):\n"
        "    time.sleep(0.02)\n"
        "print('epoch  loss')"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # the kernel inherits this environment
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    outputs = notebook.cells[0].outputs
    assert [output.get("name") for output in outputs] and all(output.get("name") == "stdout" for output in outputs)
    text = "".join(output.text for output in outputs)
    assert "\r" in text, "the bar was not drawn at all"
    shown = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))  # what Jupyter renders
    assert shown == "epoch  loss\n"
