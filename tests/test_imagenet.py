"""The ImageNet path: ImageFolder loaders, ReActNet-style FracBNN, knowledge distillation from a local teacher."""

import pytest
import torch
from torchvision.models import resnet50

from fracbnn_lib import fracbnn_reactnet
from fracbnn_lib.checkpoint import read_checkpoint
from fracbnn_lib.data import make_loaders, write_synthetic_imagefolder
from fracbnn_lib.models.imagenet import load_teacher
from fracbnn_lib.training import distillation_loss, recipe, train_stage


@pytest.fixture(scope="module")
def imagenet_dir(tmp_path_factory):
    return write_synthetic_imagefolder(tmp_path_factory.mktemp("imagenet"), classes=3, per_class=2, val_per_class=2)


def test_loaders_read_the_imagefolder_tree_at_224(imagenet_dir):
    train, test = make_loaders("imagenet", imagenet_dir, batch_size=5, workers=0)
    assert len(train.dataset) == 6 and len(test.dataset) == 6
    images, labels = next(iter(test))
    assert images.shape == (5, 3, 224, 224) and labels.tolist() == [0, 0, 1, 1, 2]


def test_distillation_loss_is_the_kl_divergence_to_the_teacher():
    student = torch.tensor([[2.0, 0.0, -1.0]])
    assert distillation_loss(student, student.clone()).item() == pytest.approx(0.0, abs=1e-7)
    teacher = torch.tensor([[0.0, 3.0, 0.0]])
    p = teacher.softmax(1)
    expected = (p * (p.log() - student.log_softmax(1))).sum()
    assert distillation_loss(student, teacher).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.slow
def test_a_kd_stage_trains_the_student_and_leaves_the_teacher_alone(imagenet_dir, tmp_path):
    torch.manual_seed(0)
    torch.save(resnet50().state_dict(), tmp_path / "teacher.pth")
    teacher = load_teacher(tmp_path / "teacher.pth")
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = fracbnn_reactnet()
    student_before = {k: v.clone() for k, v in student.state_dict().items()}
    train, test = make_loaders("imagenet", imagenet_dir, batch_size=3, workers=0)
    stage = recipe("imagenet", epochs=1)[0]
    assert stage.kd and not stage.binary_weights and not stage.gating

    result = train_stage(student, stage, train, test, out_dir=tmp_path / "ckpt", teacher=teacher, progress=False)

    assert torch.isfinite(torch.tensor(result.final_train_loss)) and result.final_train_loss > 0
    assert not teacher.training
    assert all(torch.equal(v, teacher_before[k]) for k, v in teacher.state_dict().items())
    changed = [
        k for k, v in student.state_dict().items() if v.is_floating_point() and not torch.equal(v, student_before[k])
    ]
    assert any(k.endswith("conv.weight") or "weight" in k for k in changed)
    saved = read_checkpoint(result.checkpoint)
    assert not any(k.startswith("teacher") for k in saved["model"])  # the teacher is not part of the student


def test_a_missing_teacher_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="teacher weights not found at .*nope.pth"):
        load_teacher(tmp_path / "nope.pth")
