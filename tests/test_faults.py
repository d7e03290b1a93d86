"""Bad input and faults: one clear line, nothing touched outside the target, no partial artefact left.

One test per class of failure (the inputs are examples of their class): paths that escape their
folder, data folders that try to run code (and image files that cannot be read), writes that fail
half-way (a full disk under a checkpoint), values that make no sense (ImageNet without its teacher, an
export handed to the other network's accelerator), problems of the file system and the machine, a
damaged build cache, late refusals, and two writers of one folder. The ImageNet path is held to the
CIFAR-10 path's standard.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fracbnn_lib import cli, fracbnn_resnet20, pipeline
from fracbnn_lib.checkpoint import CheckpointError, CheckpointWriteError, atomic_save, load_checkpoint, read_checkpoint
from fracbnn_lib.data import (
    CIFAR_FOLDER,
    BadImageError,
    DatasetNotFoundError,
    make_dataset,
    make_loaders,
    prepare_dataset,
    write_synthetic_cifar10,
    write_synthetic_imagefolder,
)
from fracbnn_lib.files import FolderBusyError, FolderLock, atomic_write, file_mode
from fracbnn_lib.training import Stage, TrainingError, recipe, train_stage

REPO = Path(__file__).resolve().parents[1]


def _one_line(text: str, start: str) -> str:
    text = text.strip()
    assert text.startswith(start) and len(text.splitlines()) == 1 and "Traceback" not in text, text
    return text


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content (to show that nothing changed)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "synthetic"
    write_synthetic_cifar10(out, train_per_class=3, test_per_class=2)
    return out


def _copy_data(data_dir: Path, to: Path) -> Path:
    folder = to / CIFAR_FOLDER
    folder.mkdir(parents=True)
    for path in (data_dir / CIFAR_FOLDER).iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def _set_batch(folder: Path, name: str, payload: bytes) -> None:
    """Replace one batch file and record its MD5 in the manifest, as a crafted folder would."""
    (folder / name).write_bytes(payload)
    manifest = json.loads((folder / "synthetic.json").read_text())
    manifest["md5"][name] = hashlib.md5(payload).hexdigest()
    (folder / "synthetic.json").write_text(json.dumps(manifest))


# --------------------------------------------------------------------------- 1. paths that escape their folder


@pytest.mark.parametrize("name", ["../victim", "/", "", ".", "..", ".hidden", "a/b", "a\\b"])
def test_a_run_name_is_one_plain_folder_name(tmp_path, capsys, name):
    runs, victim = tmp_path / "runs", tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    runs.mkdir()
    argv = ["--params", str(REPO / "params/synthetic.yaml"), "--notebooks", str(REPO / "notebooks")]
    status = pipeline.main([*argv, "--runs-dir", str(runs), "--run-name", name, "--fresh"])
    assert status == 2
    assert "must be one plain folder name" in _one_line(capsys.readouterr().err, "error:")
    assert (victim / "precious.txt").read_text() == "keep me" and list(runs.iterdir()) == []


# --------------------------------------------------------------------------- 2. data folders that try to run code


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_data_folder_cannot_run_code_even_with_matching_checksums(data_dir, tmp_path, capsys):
    folder = _copy_data(data_dir, tmp_path / "crafted")
    marker = tmp_path / "pwned"
    _set_batch(folder, "data_batch_1", pickle.dumps({"data": _Exploit(marker), "labels": [0]}, protocol=2))
    with pytest.raises(DatasetNotFoundError, match="refused to load posix.system"):
        make_dataset("synthetic", folder.parent, train=True)
    save = tmp_path / "ckpt"
    argv = ["train", "--data-dir", str(folder.parent), "--save-dir", str(save), "--workers", "0", "--epochs", "1"]
    assert cli.main(argv) == 1
    assert "data_batch_1 is not a readable CIFAR-10 batch" in _one_line(capsys.readouterr().err, "fracbnn train: error")
    assert not marker.exists()


def test_batches_and_manifests_are_checked_before_use(data_dir, tmp_path):
    def crafted(name: str) -> Path:
        return _copy_data(data_dir, tmp_path / name)

    train = np.zeros((5, 3072), np.uint8)
    cases = {
        "shape": ({"data": np.zeros((5, 100), np.uint8), "labels": [0] * 5}, "must be uint8 N x 3072"),
        "dtype": ({"data": train.astype(np.float32), "labels": [0] * 5}, "must be uint8 N x 3072"),
        "label": ({"data": train, "labels": [0, 1, 2, 3, 10]}, "labels must be 0..9, found 10"),
        "count": ({"data": train, "labels": [0, 1]}, "expected 5 labels for 5 images"),
    }
    for case, (batch, message) in cases.items():
        folder = crafted(case)
        _set_batch(folder, "data_batch_2", pickle.dumps(batch, protocol=2))
        with pytest.raises(DatasetNotFoundError, match=message):
            make_dataset("synthetic", folder.parent, train=True)
    folder = crafted("truncated")
    _set_batch(folder, "data_batch_3", (folder / "data_batch_3").read_bytes()[:500])
    with pytest.raises(DatasetNotFoundError, match="data_batch_3 is not a readable CIFAR-10 batch"):
        make_dataset("synthetic", folder.parent, train=True)
    folder = crafted("tampered")
    (folder / "test_batch").write_bytes((folder / "test_batch").read_bytes()[:-1] + b"\0")
    with pytest.raises(DatasetNotFoundError, match="failed its integrity check"):
        make_dataset("synthetic", folder.parent, train=False)
    folder = crafted("manifest")
    (folder / "synthetic.json").write_text("{not json")
    with pytest.raises(DatasetNotFoundError, match="synthetic.json is not a synthetic-set manifest"):
        make_dataset("synthetic", folder.parent, train=False)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(DatasetNotFoundError, match="a-file is a file: pass the folder"):
        make_dataset("synthetic", tmp_path / "a-file", train=False)


def test_the_safe_reader_yields_what_torchvision_yields(data_dir):
    from torchvision.datasets import CIFAR10

    ours = make_dataset("synthetic", data_dir, train=True, augment=False)
    manifest = json.loads((data_dir / CIFAR_FOLDER / "synthetic.json").read_text())["md5"]
    theirs = CIFAR10.__new__(CIFAR10)
    theirs.train_list = [[f"data_batch_{i}", manifest[f"data_batch_{i}"]] for i in range(1, 6)]
    theirs.test_list = [["test_batch", manifest["test_batch"]]]
    theirs.meta = {**CIFAR10.meta, "md5": manifest["batches.meta"]}
    theirs.__init__(str(data_dir), train=True, transform=ours.transform)
    assert len(ours) == len(theirs) and ours.classes == theirs.classes and ours.targets == theirs.targets
    for i in range(len(ours)):
        assert torch.equal(ours[i][0], theirs[i][0]) and ours[i][1] == theirs[i][1]


def _imagefolder_with_bad_files(root: Path) -> tuple[Path, Path, Path]:
    """A generated ImageNet-layout set with a truncated training JPEG, a CMYK one and a validation file that is
    not an image; returns (root, truncated, not an image)."""
    from PIL import Image

    write_synthetic_imagefolder(root, classes=2, per_class=3, val_per_class=2, size=32, suffix=".jpg")
    truncated = root / "train" / "class_1" / "0001.jpg"
    truncated.write_bytes(truncated.read_bytes()[:400])  # a copy cut short
    Image.new("CMYK", (32, 32), (0, 128, 255, 0)).save(root / "train" / "class_0" / "0002.jpg")  # readable
    not_an_image = root / "val" / "class_0" / "0001.jpg"
    not_an_image.write_text("<html>404 Not Found</html>")  # what a failed download leaves
    return root, truncated, not_an_image


class _Mean(torch.nn.Module):
    """A model as small as they come (mean colour -> class), so that a whole stage runs in no time at 224 x 224."""

    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, classes)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


def test_an_unreadable_image_file_is_named_or_skipped_and_counted(tmp_path, capsys):
    root, truncated, not_an_image = _imagefolder_with_bad_files(tmp_path / "imagenet")
    data = _tree(root)
    for workers in (0, 1):  # a worker process's error comes back as the same one line
        train_loader, _ = make_loaders("imagenet", root, batch_size=4, workers=workers)
        with pytest.raises(BadImageError) as info:
            for _ in train_loader:
                pass
        message = str(info.value)
        assert message.startswith(f"{truncated} is not a readable image (") and "\n" not in message
        assert "runcated" in message, "Pillow's reason: 'Truncated File Read' or 'image file is truncated ...'"
        assert (
            "replace or delete it, or skip and count such files when training or testing with --skip-bad-images"
            in message
        )
    stage = Stage("stage1", binary_weights=False, gating=False, epochs=1, lr=1e-3, weight_decay=0.0)
    train_loader, test_loader = make_loaders("imagenet", root, batch_size=4, workers=0)
    with pytest.raises(BadImageError, match="is not a readable image"):
        train_stage(_Mean(), stage, train_loader, test_loader, out_dir=tmp_path / "ckpt", progress=False)
    assert not (tmp_path / "ckpt").exists() or list((tmp_path / "ckpt").iterdir()) == [], "nothing partial"
    capsys.readouterr()

    train_loader, test_loader = make_loaders("imagenet", root, batch_size=4, workers=0, skip_bad_images=True)
    result = train_stage(_Mean(), stage, train_loader, test_loader, out_dir=tmp_path / "ckpt", progress=False)
    assert train_loader.skipped == [str(truncated)] and test_loader.skipped == [str(not_an_image)]
    assert result.test_accuracy in (0.0, 1 / 3, 2 / 3, 1.0), "the three readable validation images are counted"
    err = capsys.readouterr().err.splitlines()
    assert f"skipped 1 unreadable image file(s) of 6 in {root / 'train'} (skip_bad_images): {truncated}" in err
    assert f"skipped 1 unreadable image file(s) of 4 in {root / 'val'} (skip_bad_images): {not_an_image}" in err
    assert _tree(root) == data, "the data set is read, never changed"

    tiny = tmp_path / "tiny"  # the same through `fracbnn test` on the ImageNet-format default
    prepare_dataset("imagenet-tiny", tiny)
    bad = tiny / "val" / "class_3" / "0000.jpg"
    bad.write_bytes(bad.read_bytes()[:1000])
    from fracbnn_lib.models import model_builder

    atomic_save({"model": model_builder("imagenet-tiny")().state_dict()}, tmp_path / "tiny.pt")
    argv = ["test", "--dataset", "imagenet-tiny", "--data-dir", str(tiny), "--checkpoint", str(tmp_path / "tiny.pt")]
    assert cli.main([*argv, "--workers", "0"]) == 1
    message = _one_line(capsys.readouterr().err, "fracbnn test: error:")
    assert f"{bad} is not a readable image" in message and "--skip-bad-images" in message
    assert cli.main([*argv, "--workers", "0", "--skip-bad-images"]) == 0
    out, err = capsys.readouterr()
    assert "on 39 images (1 unreadable skipped)" in out and f"(skip_bad_images): {bad}" in err


def test_imagenet_class_folders_are_checked_before_use(tmp_path):
    from PIL import Image

    def imagefolder(name: str) -> Path:
        return write_synthetic_imagefolder(tmp_path / name, classes=2, per_class=1, val_per_class=1, size=8)

    empty = imagefolder("empty")
    for path in (empty / "train").rglob("*.png"):
        path.unlink()
    for path in (empty / "train").iterdir():
        path.rmdir()
    with pytest.raises(DatasetNotFoundError, match=r"train holds no class folders: ImageFolder expects train/<class>"):
        make_dataset("imagenet", empty, train=True)
    other = imagefolder("other")  # val/ sorted into other class folders: its labels would silently differ
    (other / "val" / "class_1").rename(other / "val" / "n01440764")
    with pytest.raises(DatasetNotFoundError) as info:
        make_dataset("imagenet", other, train=False)
    assert "train/ and val/ hold different class folders (1 only in train/ (class_1); 1 only in val/ (n01440764))" in (
        str(info.value)
    )
    hollow = imagefolder("hollow")
    (hollow / "train" / "class_1" / "0000.png").unlink()
    with pytest.raises(
        DatasetNotFoundError, match=r"train: Found no valid file for the classes class_1\. .*at least one"
    ):
        make_dataset("imagenet", hollow, train=True)
    Image.new("L", (8, 8)).save(hollow / "val" / "class_0" / "0000.png")  # grayscale: converted, as torchvision does
    assert make_dataset("imagenet", hollow, train=False)[0][0].shape == (3, 224, 224)


# --------------------------------------------------------------------------- 3. writes that fail half-way


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from fracbnn_lib.hw.cifar10.export import export_accelerator

    torch.manual_seed(0)
    model = fracbnn_resnet20().eval()
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    folder = tmp_path_factory.mktemp("export") / "export"
    export_accelerator(model, folder, images=images, labels=[1, 2])
    return model, images, folder


def test_a_failed_export_leaves_the_previous_one_intact(exported, tmp_path, monkeypatch):
    from fracbnn_lib.hw.cifar10.export import export_accelerator
    from fracbnn_lib.hw.export_folder import ExportError

    model, images, original = exported
    folder = tmp_path / "run" / "export"
    folder.parent.mkdir()
    (folder).mkdir()
    for path in original.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "fracnet_prj").mkdir()  # a build output of `make hls`: the user's, kept across exports
    (folder / "fracnet_prj" / "report.xml").write_text("<report/>")
    before = _tree(folder)
    writes = {"n": 0}
    real_write = Path.write_bytes

    def disk_fills_up(self, data):
        writes["n"] += 1
        if writes["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", disk_fills_up)
    with pytest.raises(ExportError, match=r"No space left on device\); .* is unchanged"):
        export_accelerator(model, folder, images=images[:1], labels=[1])
    monkeypatch.undo()
    assert _tree(folder) == before
    beside = sorted(p.name for p in folder.parent.iterdir() if p.name != ".export.lock")
    assert beside == ["export"], "no temporary left beside the export"
    export_accelerator(model, folder, images=images[:1], labels=[1])
    after = _tree(folder)
    assert after["fracnet_prj/report.xml"] == b"<report/>" and after["images.npy"] != before["images.npy"]
    assert oct(folder.stat().st_mode & 0o777) == oct(0o777 & ~_umask())
    assert oct((folder / "manifest.json").stat().st_mode & 0o777) == oct(file_mode())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_export_output_problems_are_one_line(exported, tmp_path, capsys, monkeypatch):
    from fracbnn_lib import export, files

    model, _, _ = exported
    checkpoint = tmp_path / "final.pt"
    atomic_save({"model": model.state_dict()}, checkpoint)
    (tmp_path / "a-file").write_text("x")
    assert export.main([str(checkpoint), "--out", str(tmp_path / "a-file"), "--images", "0"]) == 1
    assert "is a file: choose a folder" in _one_line(capsys.readouterr().err, "error:")
    assert (tmp_path / "a-file").read_text() == "x"

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(files, "staging_folder", read_only)  # the export folder's writer takes it from files
    assert export.main([str(checkpoint), "--out", str(tmp_path / "ro" / "export"), "--images", "0"]) == 1
    assert "Permission denied): choose a writable folder" in _one_line(capsys.readouterr().err, "error:")
    monkeypatch.undo()
    with pytest.raises(SystemExit) as info:
        export.main([str(checkpoint), "--out", str(tmp_path / "x"), "--images", "-5"])
    assert info.value.code == 2 and "--images must be 0" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_file_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write(target, "old")

    def fails(handle):
        handle.write("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write(target, fails, text=True)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "shared.pt", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.pt").stat().st_mode & 0o777 == 0o640, "the umask decides, not mkstemp's 0600"


class _FillsUp:
    """A file handle on a disk that fills up after ``room`` bytes: its writes then fail with ENOSPC."""

    def __init__(self, handle, room: int) -> None:
        self.handle, self.room = handle, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def test_a_full_disk_under_a_checkpoint_is_one_line_and_keeps_the_previous_one(data_dir, tmp_path, monkeypatch):
    from fracbnn_lib import files

    state = {"model": fracbnn_resnet20().state_dict()}
    target = tmp_path / "ckpt" / "stage1.pt"
    atomic_save({"model": {"w": torch.ones(3)}}, target)
    before = _tree(target.parent)
    real_fdopen = os.fdopen
    monkeypatch.setattr(files.os, "fdopen", lambda *args, **kwargs: _FillsUp(real_fdopen(*args, **kwargs), 100_000))
    with pytest.raises(CheckpointWriteError) as info:  # torch's writer meets the full disk: its RuntimeError
        atomic_save(state, target)
    monkeypatch.undo()
    message = str(info.value)
    assert message == (
        f"cannot write checkpoint stage1.pt into {target.parent} (No space left on device): free space there or "
        "choose another folder (--save-dir); the previous stage1.pt is unchanged"
    )
    assert isinstance(info.value, OSError) and _tree(target.parent) == before, "no temporary, the old file intact"

    # the real failure: `fracbnn train` under a file-size limit, torch's own writer failing in a child process
    save = tmp_path / "run"
    common = ["train", "--data-dir", str(data_dir), "--save-dir", str(save), "--workers", "0", "--epochs", "1"]
    common += ["--stage", "1", "--no-progress"]
    assert cli.main(common) == 0
    before = _tree(save)
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, resource.RLIM_INFINITY)); "
        f"from fracbnn_lib import cli; sys.exit(cli.main({[*common, '--no-resume']!r}))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    message = _one_line(done.stderr, "fracbnn train: error: cannot write checkpoint stage1.pt into")
    assert "(File too large): raise the file-size limit (ulimit -f) or choose another folder (--save-dir)" in message
    assert message.endswith("the previous stage1.pt is unchanged")
    assert _tree(save) == before, "the previous checkpoints intact, no temporary left"


# --------------------------------------------------------------------------- 4. values that make no sense


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr", "0"], "--lr must be a positive number, got 0.0"),
        (["--lr", "-1"], "--lr must be a positive number"),
        (["--lr", "nan"], "--lr must be a positive number, got nan"),
        (["--weight-decay", "-1"], "--weight-decay must be a number >= 0"),
        (["--gating-target", "nan"], "--gating-target must be a finite number"),
        (["--seed", "-1"], "--seed must be in 0..4294967295"),
        (["--epochs", "0"], "--epochs must be at least 1"),
    ],
)
def test_train_refuses_nonsense_values_before_any_work(tmp_path, capsys, argv, message):
    save = tmp_path / "ckpt"
    assert cli.main(["train", "--data-dir", str(tmp_path / "data"), "--save-dir", str(save), *argv]) == 2
    assert message in _one_line(capsys.readouterr().err, "fracbnn train: error:")
    assert not save.exists() and not (tmp_path / "data").exists()


def test_the_recipe_refuses_nonsense_values():
    for kwargs, message in (
        ({"lr": 0.0}, "learning rate must be a positive number"),
        ({"lr": float("nan")}, "learning rate must be a positive number"),
        ({"weight_decay": -1e-5}, "weight decay must be a number >= 0"),
        ({"gating_target": float("inf")}, "gating_target must be a finite number"),
    ):
        with pytest.raises(ValueError, match=message):
            recipe("synthetic", epochs=1, **kwargs)


def test_imagenet_without_a_teacher_is_refused_and_imagenet_tiny_trains_on_the_labels(tmp_path, capsys, monkeypatch):
    import fracbnn_lib.training as training
    from fracbnn_lib.training import NO_TEACHER

    save, data = tmp_path / "ckpt", tmp_path / "data"
    cases = (
        (
            ["--dataset", "imagenet"],
            "ImageNet trains by knowledge distillation (the paper's recipe): pass --teacher PATH",
        ),
        (["--dataset", "imagenet-tiny", "--teacher", "t.pth"], "--teacher does not fit imagenet-tiny"),
        (["--dataset", "cifar10", "--teacher", "t.pth"], "--teacher is for ImageNet's knowledge distillation"),
    )
    for argv, message in cases:
        assert cli.main(["train", "--data-dir", str(data), "--save-dir", str(save), *argv]) == 2
        assert message in _one_line(capsys.readouterr().err, "fracbnn train: error:")
    assert not save.exists() and not data.exists()

    runs, imagenet = tmp_path / "runs", write_synthetic_imagefolder(tmp_path / "imagenet", classes=2, size=8)
    base = ["--notebooks", str(REPO / "notebooks"), "--runs-dir", str(runs), "--set", "device=cpu"]
    real = ["--params", str(REPO / "params/imagenet.yaml"), "--data-dir", str(imagenet), *base]
    for argv, message in (
        ([*real, "--set", 'teacher_weights=""'], "knowledge distillation (the paper's recipe): set teacher_weights to"),
        ([*real, "--set", f"teacher_weights={tmp_path / 'absent.pth'}"], "teacher weights not found at"),
        (
            [*base, "--params", str(REPO / "params/imagenet-tiny.yaml"), "--set", "teacher_weights=t.pth"],
            "fit imagenet-tiny",
        ),
    ):
        assert pipeline.main(argv) == 2
        assert message in _one_line(capsys.readouterr().err, "error:")
    assert not runs.exists()

    seen = {}
    monkeypatch.setattr(
        training, "run_recipe", lambda model, stages, *args, **kwargs: seen.update(kwargs, stages=stages)
    )
    argv = ["train", "--dataset", "imagenet-tiny", "--data-dir", str(data), "--save-dir", str(save), "--workers", "0"]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[0] == NO_TEACHER, "the pipeline's line, said once"
    assert not any(stage.kd for stage in seen["stages"]) and seen["teacher"] is None and len(seen["stages"]) == 3


def test_an_accelerator_refuses_the_other_networks_export_and_writes_nothing(exported, tmp_path):
    _, _, original = exported
    cifar = tmp_path / "cifar-export"
    cifar.mkdir()
    for path in original.iterdir():
        (cifar / path.name).write_bytes(path.read_bytes())
    imagenet = tmp_path / "imagenet-export"  # the manifest is what is checked, before anything else
    imagenet.mkdir()
    (imagenet / "manifest.json").write_text(json.dumps({"network": "fracbnn_reactnet_imagenet", "manifest_version": 1}))
    damaged = tmp_path / "damaged-export"
    damaged.mkdir()
    (damaged / "manifest.json").write_text('{"network": ')
    before = {folder: _tree(folder) for folder in (cifar, imagenet, damaged)}
    sources = {name: _tree(REPO / "hls" / name) for name in ("cifar10", "imagenet")}

    def make(folder: str, target: str, export: Path) -> str:
        done = subprocess.run(
            ["make", "-C", str(REPO / "hls" / folder), target, f"EXPORT={export}"], capture_output=True, text=True
        )
        assert done.returncode != 0 and "Traceback" not in done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "g++" not in done.stdout, done.stdout + done.stderr
        return errors[0]

    for target in ("csim", "hls", "hls-csim", "vivado", "clean"):
        assert make("imagenet", target, cifar) == (
            f"error: {cifar} is an export of fracbnn_resnet20_cifar10, not of hls/imagenet's "
            f"fracbnn_reactnet_imagenet: use hls/cifar10 (make -C hls/cifar10 {target} EXPORT={cifar})"
        )
    message = make("cifar10", "csim", imagenet)
    assert "is an export of fracbnn_reactnet_imagenet" in message and "use hls/imagenet" in message
    assert (
        make("imagenet", "csim", damaged)
        == f"error: {damaged}/manifest.json is damaged (not JSON): export the checkpoint again"
    )
    assert {folder: _tree(folder) for folder in before} == before, "no build/ in the export, nothing removed"
    assert {name: _tree(REPO / "hls" / name) for name in sources} == sources, "nothing in the source folders"


def test_a_diverging_stage_stops_with_a_clear_message_and_saves_nothing(data_dir, tmp_path):
    train_loader, test_loader = make_loaders("synthetic", data_dir, batch_size=16, workers=0)
    model = fracbnn_resnet20()
    with torch.no_grad():
        model.linear.bias[0] = float("nan")
    stage = Stage("stage1", binary_weights=False, gating=False, epochs=2, lr=1e-3, weight_decay=0.0)
    with pytest.raises(TrainingError, match=r"stage1 diverged in epoch 1 \(the training loss became nan\)"):
        train_stage(model, stage, train_loader, test_loader, out_dir=tmp_path / "ckpt", progress=False)
    assert not (tmp_path / "ckpt").exists()


def test_a_non_finite_checkpoint_is_refused_everywhere(data_dir, tmp_path, capsys):
    state = fracbnn_resnet20().state_dict()
    state["layer1.0.conv1.weight"] = torch.full_like(state["layer1.0.conv1.weight"], float("nan"))
    atomic_save({"model": state}, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=r"holds NaN or infinite values \(in layer1.0.conv1.weight\)"):
        load_checkpoint(tmp_path / "nan.pt", fracbnn_resnet20())
    assert cli.main(["test", "--checkpoint", str(tmp_path / "nan.pt"), "--data-dir", str(data_dir)]) == 1
    assert "diverged" in _one_line(capsys.readouterr().err, "fracbnn test: error:")


def test_a_refused_pickle_gives_no_unsafe_advice(tmp_path):
    torch.save({"model": {}, "extra": _Exploit(tmp_path / "pwned")}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(tmp_path / "evil.pt")
    message = str(info.value)
    assert "never loaded (loading them could run code)" in message and "weights_only=False" not in message
    assert "\n" not in message and not (tmp_path / "pwned").exists()


# --------------------------------------------------------------------------- 5. the file system and the machine


def test_machine_and_file_system_problems_are_one_line(data_dir, tmp_path, capsys, monkeypatch):
    common = ["train", "--data-dir", str(data_dir), "--workers", "0", "--epochs", "1", "--no-progress"]
    for device, message in (("foo", "unknown device 'foo'"), ("cuda:0", "CUDA is not available here")):
        if device.startswith("cuda") and torch.cuda.is_available():
            continue
        assert cli.main([*common, "--device", device, "--save-dir", str(tmp_path / "c")]) == 1
        assert message in _one_line(capsys.readouterr().err, "fracbnn train: error:")
    (tmp_path / "a-file").write_text("x")
    assert cli.main([*common, "--save-dir", str(tmp_path / "a-file")]) == 1
    assert "is a file, not a folder" in _one_line(capsys.readouterr().err, "fracbnn train: error:")
    assert cli.main([*common, "--save-dir", str(tmp_path / "a-file" / "ckpt")]) == 1
    assert "its parent" in _one_line(capsys.readouterr().err, "fracbnn train: error:")
    assert (tmp_path / "a-file").read_text() == "x"

    import fracbnn_lib.files as files

    def read_only(*args, **kwargs):  # root writes anywhere, so a read-only folder is imitated
        raise PermissionError(errno.EROFS, "Read-only file system")

    with monkeypatch.context() as patch:
        patch.setattr(files.tempfile, "mkstemp", read_only)
        assert cli.main([*common, "--save-dir", str(tmp_path / "ro")]) == 1
    assert "cannot write into checkpoint folder" in _one_line(capsys.readouterr().err, "fracbnn train: error:")
    assert not (tmp_path / "ro").exists()

    import fracbnn_lib.checkpoint as checkpoint

    def disk_full(obj, handle):
        handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", disk_full)
    save = tmp_path / "full"
    assert cli.main([*common, "--save-dir", str(save)]) == 1
    assert "No space left on device" in _one_line(capsys.readouterr().err, "fracbnn train: error:")
    assert [p.name for p in save.iterdir()] == [], "no partial checkpoint and no temporary"


def test_teacher_and_resume_files_that_cannot_serve(data_dir, tmp_path, capsys):
    from fracbnn_lib.models.imagenet import load_teacher

    (tmp_path / "teacher.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load_teacher(tmp_path / "teacher.pth")
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "teacher.pth")
    with pytest.raises(CheckpointError, match="does not fit ResNet"):
        load_teacher(tmp_path / "teacher.pth")

    train_loader, test_loader = make_loaders("synthetic", data_dir, batch_size=16, workers=0)
    stage = recipe("synthetic", epochs=1)[0]
    model = fracbnn_resnet20()
    result = train_stage(model, stage, train_loader, test_loader, out_dir=tmp_path / "ckpt", progress=False)
    last = read_checkpoint(result.last_checkpoint)
    del last["optimizer"]
    atomic_save(last, result.last_checkpoint)
    with pytest.raises(CheckpointError, match=r"cannot resume stage1 \(it has no optimizer\)"):
        train_stage(model, stage, train_loader, test_loader, out_dir=tmp_path / "ckpt", progress=False)


def test_a_damaged_export_manifest_stops_the_deploy_with_one_line(exported, tmp_path, capsys):
    from fracbnn_lib import deploy

    _, _, original = exported
    folder = tmp_path / "export"
    folder.mkdir()
    for path in original.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "manifest.json").write_text('{"cut": ')
    assert deploy.main(["--export-dir", str(folder), "--out-dir", str(tmp_path / "deploy")]) == 1
    assert "manifest.json is damaged" in _one_line(capsys.readouterr().err, "fracbnn deploy: error:")
    assert not (tmp_path / "deploy").exists() or list((tmp_path / "deploy").iterdir()) == []


def test_an_interrupted_training_says_how_to_resume(data_dir, tmp_path):
    save = tmp_path / "ckpt"
    argv = [sys.executable, "-m", "fracbnn_lib", "train", "--data-dir", str(data_dir), "--save-dir", str(save)]
    argv += ["--workers", "0", "--epochs", "1000", "--batch-size", "8", "--stage", "1", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not (save / "stage1_last.pt").is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert _one_line(err, "fracbnn train: interrupted; rerun the same command to resume")
    assert not any(p.name.endswith(".tmp") for p in save.iterdir())


# --------------------------------------------------------------------------- 6. a damaged build cache


def test_a_damaged_cached_library_is_rebuilt_not_loaded(tmp_path, monkeypatch):
    from fracbnn_lib.kernels import native

    monkeypatch.setenv("FRACBNN_CACHE_DIR", str(tmp_path / "cache"))
    builds = []

    def command(work: Path, target: Path) -> list[str]:
        builds.append(target)
        return [sys.executable, "-c", f"open({str(target)!r}, 'wb').write(b'\\x7fELF' + bytes(4096))"]

    library = native.build_cached("libdemo.so", command, "demo library")
    assert native.intact(library) and len(builds) == 1
    assert native.build_cached("libdemo.so", command, "demo library") == library and len(builds) == 1
    library.write_bytes(library.read_bytes()[:100])  # cut short, as a full disk or a killed copy leaves it
    assert not native.intact(library)
    assert native.build_cached("libdemo.so", command, "demo library") == library and len(builds) == 2
    assert library.stat().st_size == 4100 and native.intact(library)


# --------------------------------------------------------------------------- 7. late refusals


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "stage1_epochs=-1"], "parameter stage1_epochs must be an integer >= 1, got -1"),
        (["--set", "batch_size=0"], "parameter batch_size must be an integer >= 1, got 0"),
        (["--set", "lr=abc"], "parameter lr must be null (the recipe's) or a positive number, got 'abc'"),
        (["--set", "lr=0"], "parameter lr must be null"),
        (["--set", "binary_lr=-0.5"], "parameter binary_lr must be null (lr's) or a positive number, got -0.5"),
        (["--set", "checkpoint=nowhere.pt"], "nowhere.pt not found (parameter checkpoint)"),
        (["--set", "device=foo"], "parameter device must be auto, cpu, mps, cuda or cuda:N, got 'foo'"),
        (["--set", "device=cuda:7"], "(parameter device)"),
        (["--set", "gating_target=.nan"], "parameter gating_target must be a finite number"),
        (["--set", "sweep_targets=[0.5, .inf]"], "parameter sweep_targets must be a list of finite numbers"),
        (["--set", "sweep_epochs=-1"], "parameter sweep_epochs must be an integer >= 0"),
        (["--set", "formats=wide"], "parameter formats must be a format preset"),
        (["--only", ""], "--only names no notebook slot"),
        (["--only", " , "], "--only names no notebook slot"),
    ],
)
def test_the_pipeline_refuses_bad_values_before_any_notebook(tmp_path, capsys, argv, message):
    runs = tmp_path / "runs"
    base = ["--params", str(REPO / "params/synthetic.yaml"), "--notebooks", str(REPO / "notebooks")]
    assert pipeline.main([*base, "--runs-dir", str(runs), *argv]) == 2
    assert message in _one_line(capsys.readouterr().err, "error:")
    assert not runs.exists()


@pytest.mark.parametrize("value", ["2.5", "0", "-3", "soon"])
def test_a_cell_timeout_is_a_whole_number_of_seconds(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as info:
        pipeline.main(["--runs-dir", str(tmp_path), f"--cell-timeout={value}"])
    assert info.value.code == 2 and "--cell-timeout" in capsys.readouterr().err


# --------------------------------------------------------------------------- 8. two writers of one folder


def test_a_second_writer_of_a_run_folder_is_refused_naming_the_first(tmp_path, capsys):
    runs = tmp_path / "runs"
    base = ["--params", str(REPO / "params/synthetic.yaml"), "--notebooks", str(REPO / "notebooks")]
    with FolderLock(runs / "busy", "run folder"):
        assert pipeline.main([*base, "--runs-dir", str(runs), "--run-name", "busy", "--only", "01"]) == 2
    message = _one_line(capsys.readouterr().err, "error: run folder")
    assert f"is being written by pid {os.getpid()}" in message and "wait for it to finish" in message
    assert not (runs / "busy").exists()


def test_a_second_training_in_one_folder_is_refused_and_stale_temporaries_go(data_dir, tmp_path):
    train_loader, test_loader = make_loaders("synthetic", data_dir, batch_size=16, workers=0)
    stage = recipe("synthetic", epochs=1)[0]
    save = tmp_path / "ckpt"
    save.mkdir()
    (save / ".stage1_last.pt.k3j2.tmp").write_bytes(b"")  # what a kill -9 during a checkpoint write leaves
    with FolderLock(save, "checkpoint folder"):
        with pytest.raises(FolderBusyError, match=f"checkpoint folder {save} is being written by pid {os.getpid()}"):
            train_stage(fracbnn_resnet20(), stage, train_loader, test_loader, out_dir=save, progress=False)
    train_stage(fracbnn_resnet20(), stage, train_loader, test_loader, out_dir=save, progress=False)
    assert sorted(p.name for p in save.iterdir()) == ["stage1.pt", "stage1_history.csv", "stage1_last.pt"]


def test_a_lock_is_released_when_its_holder_dies(tmp_path):
    code = (
        "import os, sys; from fracbnn_lib.files import FolderLock; "
        f"FolderLock({str(tmp_path / 'run')!r}).__enter__(); print('held', flush=True); os.kill(os.getpid(), 9)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "held" and out.returncode == -9
    with FolderLock(tmp_path / "run"):
        pass


def _tiny_notebook(folder: Path, body: str) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('run_dir = ""')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(body)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(exist_ok=True)
    nbformat.write(notebook, folder / "01_tiny.ipynb")
    return folder


def test_fresh_keeps_the_previous_run_until_the_new_one_succeeds(tmp_path, capsys):
    runs, params = tmp_path / "runs", tmp_path / "tiny.yaml"
    params.write_text("{}\n")
    (runs / "r").mkdir(parents=True)
    (runs / "r" / "old.txt").write_text("previous results")
    argv = ["--params", str(params), "--runs-dir", str(runs), "--run-name", "r", "--fresh", "--only", "01"]
    failing = _tiny_notebook(tmp_path / "failing", 'raise ValueError("boom")')
    assert pipeline.main([*argv, "--notebooks", str(failing)]) == 1
    assert "the previous run is kept in" in capsys.readouterr().err
    assert (runs / ".r.previous" / "old.txt").read_text() == "previous results" and (runs / "r").is_dir()
    working = _tiny_notebook(tmp_path / "working", "from pathlib import Path; Path(run_dir, 'new.txt').write_text('x')")
    assert pipeline.main([*argv, "--notebooks", str(working)]) == 0
    assert (runs / "r" / "new.txt").is_file() and not (runs / "r" / "old.txt").exists()
    assert sorted(p.name for p in runs.iterdir()) == [".r.lock", "r"], "the previous run is gone once replaced"
