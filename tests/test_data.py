"""Data sets: the synthetic set in CIFAR-10's exact layout, local CIFAR-10 (folder or archive), loaders."""

import colorsys
import json
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from fracbnn_lib.data import (
    CIFAR10_CLASSES,
    COLOUR_CLASSES,
    DATASETS,
    IMAGENET_PCA_EIGVAL,
    IMAGENET_PCA_EIGVEC,
    SYNTHETIC_CLASSES,
    TINY_IMAGENET,
    TINY_MARK,
    CIFAR10Batches,
    DatasetNotFoundError,
    Lighting,
    ShardSampler,
    colour_image,
    load_test_images,
    make_dataset,
    make_loaders,
    prepare_dataset,
    synthetic_split,
    write_synthetic_cifar10,
    write_synthetic_imagefolder,
)

TRAIN_PER_CLASS, TEST_PER_CLASS = 6, 3
CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic_cifar10(root, train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS, seed=3)
    return root


def _entries(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))


def test_public_names():
    assert DATASETS == ("synthetic", "cifar10", "imagenet", "imagenet-tiny")
    assert len(CIFAR10_CLASSES) == 10 and CIFAR10_CLASSES[0] == "airplane" and CIFAR10_CLASSES[9] == "truck"
    assert len(SYNTHETIC_CLASSES) == 10


def test_synthetic_files_follow_the_cifar10_pickle_layout(synthetic_root):
    folder = synthetic_root / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted((*CIFAR_FILES, "batches.meta", "synthetic.json"))
    labels = []
    for name in CIFAR_FILES[:5]:
        with open(folder / name, "rb") as handle:
            batch = pickle.load(handle, encoding="latin1")
        assert set(batch) == {"batch_label", "labels", "data", "filenames"}
        assert batch["data"].dtype == np.uint8 and batch["data"].shape == (len(batch["labels"]), 3072)
        assert len(batch["filenames"]) == len(batch["labels"])
        assert batch["batch_label"].startswith("training batch")
        labels += batch["labels"]
    assert np.bincount(labels).tolist() == [TRAIN_PER_CLASS] * 10
    with open(folder / "batches.meta", "rb") as handle:
        meta = pickle.load(handle, encoding="latin1")
    assert meta["label_names"] == list(SYNTHETIC_CLASSES)
    assert not [p for p in synthetic_root.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_the_cifar10_reader_reads_the_synthetic_set(synthetic_root):
    train = make_dataset("synthetic", synthetic_root, train=True, augment=False)
    test = make_dataset("synthetic", synthetic_root, train=False)
    assert isinstance(train, CIFAR10Batches) and isinstance(test, CIFAR10Batches)
    assert (len(train), len(test)) == (10 * TRAIN_PER_CLASS, 10 * TEST_PER_CLASS)
    assert train.classes == list(SYNTHETIC_CLASSES)
    image, label = test[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert label == test.targets[0]
    # the plane layout round-trips: the HWC array (as torchvision's) equals the generated images in order
    expected, labels = synthetic_split(TRAIN_PER_CLASS, np.random.default_rng([3, 0]))
    np.testing.assert_array_equal(train.data, expected)
    assert train.targets == labels.tolist()


def test_generation_is_deterministic_and_seeded(tmp_path, synthetic_root):
    again = write_synthetic_cifar10(
        tmp_path / "a", train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS, seed=3
    )
    other = write_synthetic_cifar10(
        tmp_path / "b", train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS, seed=4
    )
    for name in CIFAR_FILES:
        original = (synthetic_root / "cifar-10-batches-py" / name).read_bytes()
        assert (again / name).read_bytes() == original
        assert (other / name).read_bytes() != original


def test_classes_differ_in_colour_and_shape():
    images, labels = synthetic_split(20, np.random.default_rng(0))
    pixels = images.reshape(len(images), -1, 3).astype(np.float32)
    per_class = np.stack([pixels[labels == k].mean(axis=(0, 1)) for k in range(10)])
    assert np.ptp(per_class, axis=0).max() > 20  # mean colours differ between classes
    assert images.std() > 30  # not flat images


def test_corrupt_synthetic_file_fails_the_integrity_check(tmp_path):
    folder = write_synthetic_cifar10(tmp_path, train_per_class=2, test_per_class=1)
    batch = folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-10])
    with pytest.raises(DatasetNotFoundError, match="integrity check"):
        make_dataset("synthetic", tmp_path, train=True)


def test_missing_cifar10_is_a_clear_error_and_writes_nothing(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as err:
        prepare_dataset("cifar10", root)
    message = str(err.value)
    assert "\n" not in message
    assert str(root / "cifar-10-batches-py") in message and "download" in message
    assert not root.exists()
    with pytest.raises(DatasetNotFoundError):
        make_loaders("cifar10", root, batch_size=4)
    assert not root.exists()


def test_imagenet_tiny_is_generated_as_jpeg_imagefolders_and_read_by_the_real_loaders(tmp_path):
    root = tmp_path / "imagenet-tiny"
    assert prepare_dataset("imagenet-tiny", root) == root and (root / TINY_MARK).is_file()
    files = sorted((root / "val").rglob("*"))
    jpegs = [p for p in files if p.is_file()]
    assert len(jpegs) == TINY_IMAGENET["classes"] * TINY_IMAGENET["val_per_class"]
    assert all(p.suffix == ".jpg" and p.read_bytes()[:3] == b"\xff\xd8\xff" for p in jpegs)  # JPEG files
    train_loader, test_loader = make_loaders("imagenet-tiny", root, batch_size=4, workers=0, seed=0)
    images, labels = next(iter(test_loader))
    assert images.shape == (4, 3, 224, 224)
    assert len(train_loader.dataset) == TINY_IMAGENET["classes"] * TINY_IMAGENET["per_class"] == 160
    assert len(test_loader.dataset) == 40 and train_loader.dataset.classes == [f"class_{k}" for k in range(10)]
    raw, _ = load_test_images("imagenet-tiny", root, 2)
    assert 0.0 <= float(raw.min()) and float(raw.max()) <= 1.0  # not normalised: the accelerator's input
    foreign = tmp_path / "other"
    (foreign / "train").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="not the generated imagenet-tiny"):
        prepare_dataset("imagenet-tiny", foreign)


def test_imagenet_tiny_made_by_other_settings_is_generated_again_and_a_foreign_set_is_left_alone(tmp_path):
    root = prepare_dataset("imagenet-tiny", tmp_path / "tiny")
    first = (root / "val" / "class_0" / "0000.jpg").read_bytes()
    mark = json.loads((root / TINY_MARK).read_text())
    (root / TINY_MARK).write_text(json.dumps({**mark, "per_class": 6}))  # an earlier version's set
    shutil.rmtree(root / "train" / "class_9")
    assert prepare_dataset("imagenet-tiny", root) == root
    assert json.loads((root / TINY_MARK).read_text()) == mark
    assert len(list((root / "train" / "class_9").iterdir())) == TINY_IMAGENET["per_class"]
    assert (root / "val" / "class_0" / "0000.jpg").read_bytes() == first  # same seed, same images
    assert (
        prepare_dataset("imagenet-tiny", root, seed=1) == root
        and json.loads((root / TINY_MARK).read_text())["seed"] == 1
    )
    assert (root / "val" / "class_0" / "0000.jpg").read_bytes() != first
    assert sorted(p.name for p in root.iterdir()) == [TINY_MARK, "train", "val"]


def test_colour_classes_differ_by_hue_or_brightness():
    """imagenet-tiny's classes: hue (k mod 5) / 5, light for k < 5, dark otherwise (the shape is no cue)."""
    rng = np.random.default_rng(0)
    for k in range(len(COLOUR_CLASSES)):
        hsv = np.array(
            [colorsys.rgb_to_hsv(*(colour_image(k, rng, 32).reshape(-1, 3).mean(0) / 255)) for _ in range(8)]
        )
        hue_error = np.abs((hsv[:, 0] - (k % 5) / 5 + 0.5) % 1.0 - 0.5)
        assert hue_error.max() < 0.1, (COLOUR_CLASSES[k], hue_error)
        assert (hsv[:, 2].min() > 0.6) if k < 5 else (hsv[:, 2].max() < 0.55), (COLOUR_CLASSES[k], hsv[:, 2])
    with pytest.raises(ValueError, match="0..9"):
        colour_image(10, rng)
    with pytest.raises(ValueError, match="kind must be"):
        write_synthetic_imagefolder(Path("unused"), kind="texture")


def test_missing_imagenet_is_a_clear_error(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetNotFoundError) as err:
        prepare_dataset("imagenet", tmp_path)
    assert "\n" not in str(err.value) and str(tmp_path / "val") in str(err.value)
    assert _entries(tmp_path) == ["train"]


def test_incomplete_cifar10_folder_names_the_missing_files(tmp_path):
    folder = write_synthetic_cifar10(tmp_path, train_per_class=1, test_per_class=1)
    (folder / "test_batch").unlink()
    with pytest.raises(DatasetNotFoundError, match="missing test_batch"):
        prepare_dataset("cifar10", tmp_path)


def test_cifar10_archive_is_extracted_atomically(tmp_path, synthetic_root):
    root = tmp_path / "cifar"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(synthetic_root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    folder = prepare_dataset("cifar10", root)
    assert folder == root / "cifar-10-batches-py"
    for name in CIFAR_FILES:
        assert (folder / name).read_bytes() == (synthetic_root / "cifar-10-batches-py" / name).read_bytes()
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    assert len(make_dataset("synthetic", root, train=False)) == 10 * TEST_PER_CLASS  # readable by torchvision


def test_corrupt_archive_is_a_clear_error_and_leaves_nothing(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DatasetNotFoundError, match="cannot extract"):
        prepare_dataset("cifar10", tmp_path)
    assert _entries(tmp_path) == ["cifar-10-python.tar.gz"]


def test_synthetic_is_generated_once_and_a_foreign_folder_is_refused(tmp_path):
    folder = prepare_dataset("synthetic", tmp_path / "gen")
    manifest = (folder / "synthetic.json").stat().st_mtime_ns
    assert prepare_dataset("synthetic", tmp_path / "gen") == folder
    assert (folder / "synthetic.json").stat().st_mtime_ns == manifest
    (folder / "synthetic.json").unlink()
    with pytest.raises(DatasetNotFoundError, match="not the synthetic set"):
        prepare_dataset("synthetic", tmp_path / "gen")


def test_loaders_count_every_test_image_and_shuffle_reproducibly(synthetic_root):
    batch = 7  # 30 test images: the last batch is partial
    train, test = make_loaders("synthetic", synthetic_root, batch_size=batch, workers=0, seed=1)
    sizes = [len(labels) for _, labels in test]
    assert sum(sizes) == 10 * TEST_PER_CLASS and sizes[-1] == 10 * TEST_PER_CLASS % batch
    assert sum(len(labels) for _, labels in train) == 10 * TRAIN_PER_CLASS
    images, _ = next(iter(train))
    assert images.shape == (batch, 3, 32, 32) and 0 <= images.min() and images.max() <= 1

    def first_labels(seed):
        torch.manual_seed(0)
        return next(iter(make_loaders("synthetic", synthetic_root, batch_size=batch, workers=0, seed=seed)[0]))[1]

    assert torch.equal(first_labels(1), first_labels(1))
    assert not torch.equal(first_labels(1), first_labels(2))


def test_training_augmentation_crops_and_flips(synthetic_root):
    plain = make_dataset("synthetic", synthetic_root, train=True, augment=False)
    augmented = make_dataset("synthetic", synthetic_root, train=True)
    torch.manual_seed(0)
    draws = torch.stack([augmented[0][0] for _ in range(8)])
    assert not all(torch.equal(d, plain[0][0]) for d in draws)
    assert draws.shape == (8, 3, 32, 32)


def test_load_test_images(synthetic_root):
    images, labels = load_test_images("synthetic", synthetic_root, 5)
    test = make_dataset("synthetic", synthetic_root, train=False)
    assert images.shape == (5, 3, 32, 32) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == test.targets[:5]
    assert torch.equal(images[2], test[2][0])
    assert len(load_test_images("synthetic", synthetic_root, 1000)[0]) == 10 * TEST_PER_CLASS


def test_lighting_adds_one_pca_offset_per_image():
    image = torch.rand(3, 8, 8)
    assert torch.equal(Lighting(0.0)(image), image)
    torch.manual_seed(5)
    out = Lighting(0.1)(image)
    torch.manual_seed(5)
    alpha = torch.randn(3) * 0.1
    offset = torch.tensor(IMAGENET_PCA_EIGVEC) @ (alpha * torch.tensor(IMAGENET_PCA_EIGVAL))
    torch.testing.assert_close(out - image, offset.view(3, 1, 1).expand(3, 8, 8))


def test_shard_sampler_covers_every_index_once():
    shards = [list(ShardSampler(11, rank, 3)) for rank in range(3)]
    assert sorted(sum(shards, [])) == list(range(11))
    assert [len(ShardSampler(11, rank, 3)) for rank in range(3)] == [4, 4, 3]


def test_the_missing_cifar10_hint_names_a_command_that_exists(tmp_path):
    import re

    from fracbnn_lib.cli import build_parser
    from fracbnn_lib.data import DatasetNotFoundError, prepare_dataset

    with pytest.raises(DatasetNotFoundError) as err:
        prepare_dataset("cifar10", tmp_path)
    command = re.search(r"'fracbnn (train [^']*)'", str(err.value)).group(1).split()
    args = build_parser().parse_args(command)  # an unknown option would exit here
    assert args.download and args.dataset == "cifar10" and str(args.data_dir) == str(tmp_path)
