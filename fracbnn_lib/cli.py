"""Command line: ``python -m fracbnn_lib <command>`` or the ``fracbnn`` console script.

Commands:

- ``train``: the staged recipe (:mod:`fracbnn_lib.training`) on a data set; multi-GPU with
  ``torchrun --nproc_per_node N -m fracbnn_lib train ...``.
- ``test``: accuracy and gating sparsity of a checkpoint on the test set.
- ``data synth``: write the synthetic data set (CIFAR-10 layout, or a tiny ImageFolder tree).
- ``pipeline``, ``export``, ``deploy``, ``hls-report``, ``import-release``: forward their arguments to
  ``fracbnn_lib.pipeline``, ``fracbnn_lib.export``, ``fracbnn_lib.deploy``, ``fracbnn_lib.hls_report`` and
  ``fracbnn_lib.release`` (imported only when used).

The release's script options and ours: :data:`RELEASE_OPTIONS` (shown by ``fracbnn --help``).
Errors in the input are one line: usage errors exit with 2 (nothing written), a missing data set
or a checkpoint that does not fit the model exits with 1.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

DELEGATES = {
    "pipeline": ("fracbnn_lib.pipeline", "run notebooks 01-05 with papermill into runs/<name>/"),
    "export": ("fracbnn_lib.export", "export a trained FracBNN (CIFAR-10 or ImageNet) to its accelerator"),
    "deploy": ("fracbnn_lib.deploy", "write the PYNQ deploy bundle (notebook 05, driver, test vectors)"),
    "hls-report": ("fracbnn_lib.hls_report", "print a Vivado/Vitis HLS csynth report beside the cost model"),
    "import-release": ("fracbnn_lib.release", "write the authors' trained model (release weights_tb.h or .pt) as ours"),
}
DEFAULT_BATCH = {"synthetic": 128, "cifar10": 128, "imagenet": 256, "imagenet-tiny": 10}
RELEASE_OPTIONS = """\
the release's cifar10.py options, here:
  --test -> fracbnn test --checkpoint PATH      --resume PATH -> train --init-from PATH
  --finetune -> train --stage 2 (or 3)          --gtarget -> --gating-target
  --init_lr -> --lr    --num_epoch -> --epochs  --batch_size, --weight_decay, --data_dir -> dashed names
  --last_epoch/--load_states -> automatic exact resume from <stage>_last.pt (--no-resume to start over)
  --which_gpus -> --device, or torchrun --nproc_per_node N -m fracbnn_lib train ..."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``<prog>: error: <message> (see <prog> --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _data_options(parser: argparse.ArgumentParser) -> None:
    from .data import DATASETS

    parser.add_argument("--dataset", choices=DATASETS, default="synthetic", help="data set (default: synthetic)")
    parser.add_argument("--data-dir", type=Path, help="data set folder (default: data/<dataset>)")
    parser.add_argument("--download", action="store_true", help="let torchvision download CIFAR-10 if missing")
    parser.add_argument("--batch-size", type=int, help="batch size (default: 128, ImageNet 256, imagenet-tiny 10)")
    parser.add_argument("--workers", type=int, default=2, help="data-loader worker processes (default: 2)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="ImageNet layout: skip image files that cannot be read (truncated, not an image) and count them, "
        "instead of stopping at the first",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``fracbnn`` argument parser (delegating commands are listed but parsed by their modules)."""
    parser = OneLineParser(
        prog="fracbnn",
        description="FracBNN companion: train, test, data, pipeline, export, deploy.",
        epilog=RELEASE_OPTIONS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)

    train = commands.add_parser("train", help="train the staged recipe (paper: 3 stages; release: 2)")
    _data_options(train)
    train.add_argument("--variant", choices=("paper", "release"), default="paper", help="recipe (default: paper)")
    train.add_argument("--stage", choices=("all", "1", "2", "3"), default="all", help="stage(s) to run (default: all)")
    train.add_argument(
        "--init-from", type=Path, help="checkpoint to start the first stage from (the release's --resume)"
    )
    train.add_argument("--no-resume", action="store_true", help="ignore <stage>_last.pt and start the stage over")
    train.add_argument("--epochs", type=int, help="epochs of every stage (default: 250 CIFAR-10, 120 ImageNet)")
    train.add_argument("--lr", type=float, help="learning rate of every stage (default: recipe's)")
    train.add_argument("--weight-decay", type=float, help="Adam's coupled weight decay of every stage")
    train.add_argument("--gating-target", type=float, default=0.0, help="gating target g (default: 0)")
    train.add_argument("--save-dir", type=Path, help="checkpoint folder (default: runs/train-<dataset>/checkpoints)")
    train.add_argument(
        "--teacher",
        type=Path,
        help="ImageNet: ResNet-50 state dict (.pth) for distillation (required; imagenet-tiny trains on the labels)",
    )
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")

    test = commands.add_parser("test", help="test accuracy and gating sparsity of a checkpoint")
    _data_options(test)
    test.add_argument("--checkpoint", type=Path, required=True, help="ours or the release's checkpoint")

    data = commands.add_parser("data", help="data sets")
    data_commands = data.add_subparsers(
        dest="data_command", required=True, metavar="ACTION", parser_class=OneLineParser
    )
    synth = data_commands.add_parser("synth", help="write the synthetic data set")
    synth.add_argument("--out", type=Path, required=True, help="folder to write into")
    synth.add_argument("--layout", choices=("cifar10", "imagefolder"), default="cifar10", help="default: cifar10")
    synth.add_argument("--train-per-class", type=int, help="training images per class (default: 250; imagefolder 4)")
    synth.add_argument("--test-per-class", type=int, help="test images per class (default: 50; imagefolder 2)")
    synth.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")

    for name, (_, summary) in DELEGATES.items():
        commands.add_parser(name, help=f"{summary} (options: fracbnn {name} --help)", add_help=False)
    return parser


def _usage_problem(args: argparse.Namespace) -> str | None:
    """Cross-option checks (usage errors, found before anything is written); None if all is well."""
    minimum = {"epochs": 1, "batch_size": 1, "workers": 0, "train_per_class": 1, "test_per_class": 1}
    for name, low in minimum.items():
        value = getattr(args, name, None)
        if value is not None and value < low:
            return f"--{name.replace('_', '-')} must be at least {low}, got {value}"
    if args.command == "train":
        checks = (
            ("lr", args.lr, lambda v: v > 0, "a positive number"),
            ("weight-decay", args.weight_decay, lambda v: v >= 0, "a number >= 0"),
            ("gating-target", args.gating_target, lambda v: True, "a finite number"),
        )
        for name, value, ok, need in checks:
            if value is not None and not (math.isfinite(value) and ok(value)):
                return f"--{name} must be {need}, got {value}"
    if getattr(args, "seed", None) is not None and not 0 <= args.seed < 2**32:
        return f"--seed must be in 0..{2**32 - 1}, got {args.seed}"
    if args.command == "train" and args.variant == "release" and args.stage == "3":
        return "the release variant has stages 1 and 2 (--stage 3 needs --variant paper)"
    if args.command == "train":
        from .training.recipe import teacher_problem

        return teacher_problem(args.dataset, args.teacher and str(args.teacher), "--teacher")
    return None


def _train(args: argparse.Namespace) -> int:
    import torch

    from .checkpoint import CheckpointError
    from .data import make_loaders
    from .files import check_writable
    from .models import model_builder
    from .models.imagenet import load_teacher
    from .training import (
        FINAL_CHECKPOINT,
        Stage,
        StageResult,
        init_distributed,
        recipe,
        resolve_device,
        run_recipe,
        start_checkpoint,
        without_missing_teacher,
    )

    resolve_device(args.device)
    rank, world_size = init_distributed()
    data_dir = args.data_dir or Path("data") / args.dataset
    save_dir = args.save_dir or Path("runs") / f"train-{args.dataset}" / "checkpoints"
    if rank == 0:
        check_writable(save_dir, "checkpoint folder (--save-dir)")
    stages = recipe(
        args.dataset,
        args.variant,
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        gating_target=args.gating_target,
    )
    stages, distillation_note = without_missing_teacher(stages, args.teacher and str(args.teacher))
    if distillation_note and rank == 0:
        print(distillation_note)  # imagenet-tiny: the pipeline's choice, said in the same line
    first = 0 if args.stage == "all" else int(args.stage) - 1
    selected = stages if args.stage == "all" else [stages[first]]
    try:  # a missing previous stage stops here, before any work
        start_checkpoint(selected[0], save_dir, args.init_from)
    except CheckpointError:
        raise CheckpointError(
            f"{selected[0].name} starts from {selected[0].init_from}'s checkpoint in {save_dir}: "
            f"run --stage {first} first or pass --init-from"
        ) from None
    teacher = load_teacher(args.teacher) if any(stage.kd for stage in selected) else None
    train_loader, test_loader = make_loaders(
        args.dataset,
        data_dir,
        batch_size=args.batch_size or DEFAULT_BATCH[args.dataset],
        workers=args.workers,
        distributed=world_size > 1,
        seed=args.seed,
        download=args.download,
        skip_bad_images=args.skip_bad_images,
    )
    torch.manual_seed(args.seed)

    def report(stage: Stage, result: StageResult) -> None:
        if rank == 0:
            print(
                f"{stage.name}: test accuracy {result.test_accuracy:.3f} (best {result.best_test_accuracy:.3f}), "
                f"train loss {result.final_train_loss:.3f}, sparsity {result.history.iloc[-1]['sparsity']:.3f} "
                f"-> {result.checkpoint}"
            )

    promote = selected[-1] == stages[-1]
    run_recipe(
        model_builder(args.dataset)(),
        selected,
        train_loader,
        test_loader,
        out_dir=save_dir,
        init_from=args.init_from,
        promote=promote,
        after_stage=report,
        device=args.device,
        seed=args.seed,
        resume=not args.no_resume,
        teacher=teacher,
        progress=not args.no_progress,
    )
    if promote and rank == 0:
        print(f"final model: {save_dir / FINAL_CHECKPOINT}")
    _report_skipped(train_loader, test_loader)
    return 0


def _report_skipped(*loaders) -> None:
    """The run's count of unreadable image files skipped (--skip-bad-images), each loader also says it per pass."""
    skipped = sorted({path for loader in loaders for path in getattr(loader, "skipped", ())})
    if skipped:
        shown = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        print(f"skipped {len(skipped)} unreadable image file(s) in all (--skip-bad-images): {shown}", file=sys.stderr)


def _test(args: argparse.Namespace) -> int:
    from torch.utils.data import DataLoader

    from .checkpoint import load_checkpoint
    from .data import SkippingLoader, make_dataset
    from .layers import set_binary_weights, set_gating
    from .models import model_builder
    from .training import evaluate_with_gating, resolve_device

    device = resolve_device(args.device)
    model = model_builder(args.dataset)()
    checkpoint = load_checkpoint(args.checkpoint, model)
    stage = (checkpoint.get("config") or {}).get("stage") or {}
    set_binary_weights(model, stage.get("binary_weights", True))
    set_gating(model, stage.get("gating", True))
    data_dir = args.data_dir or Path("data") / args.dataset
    skip = args.skip_bad_images
    test_set = make_dataset(args.dataset, data_dir, train=False, download=args.download, skip_bad_images=skip)
    batch_size = args.batch_size or DEFAULT_BATCH[args.dataset]
    test_loader = (SkippingLoader if skip else DataLoader)(test_set, batch_size=batch_size, num_workers=args.workers)
    accuracy, stats = evaluate_with_gating(model.to(device), test_loader, device)
    skipped = len(getattr(test_loader, "skipped", ()))
    read = f"{len(test_set) - skipped} images ({skipped} unreadable skipped)" if skipped else f"{len(test_set)} images"
    print(f"test accuracy {accuracy:.4f} on {read}, gating sparsity {stats.sparsity:.4f}")
    return 0


def _data(args: argparse.Namespace) -> int:
    from .data import (
        SYNTHETIC_TEST_PER_CLASS,
        SYNTHETIC_TRAIN_PER_CLASS,
        write_synthetic_cifar10,
        write_synthetic_imagefolder,
    )
    from .files import check_writable

    check_writable(args.out, "output folder (--out)")

    if args.layout == "imagefolder":
        folder = write_synthetic_imagefolder(
            args.out, per_class=args.train_per_class or 4, val_per_class=args.test_per_class or 2, seed=args.seed
        )
    else:
        folder = write_synthetic_cifar10(
            args.out,
            train_per_class=args.train_per_class or SYNTHETIC_TRAIN_PER_CLASS,
            test_per_class=args.test_per_class or SYNTHETIC_TEST_PER_CLASS,
            seed=args.seed,
        )
    print(f"synthetic data set written to {folder}")
    return 0


def _delegate(command: str, argv: list[str]) -> int:
    module_name = DELEGATES[command][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is None or not module_name.startswith(err.name):
            raise
        print(f"fracbnn {command}: error: {module_name} is not available in this installation", file=sys.stderr)
        return 1
    return int(module.main(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fracbnn`` / ``python -m fracbnn_lib``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from .environment import bound_openmp_spinning

    bound_openmp_spinning()  # before PyTorch loads its OpenMP runtime (the parser's data-set names import it)
    if argv and argv[0] in DELEGATES:
        return _delegate(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = _usage_problem(args)
    if problem:
        prog = f"fracbnn {args.command}" + (f" {args.data_command}" if args.command == "data" else "")
        print(f"{prog}: error: {problem} (see '{prog} --help')", file=sys.stderr)
        return 2

    from .checkpoint import CheckpointError
    from .data import DatasetNotFoundError
    from .files import FolderBusyError, FolderError
    from .training import DeviceError, TrainingError

    prog = f"fracbnn {args.command}"
    run = {"train": _train, "test": _test, "data": _data}[args.command]
    try:
        return run(args)
    except KeyboardInterrupt:
        again = "; rerun the same command to resume" if args.command == "train" else ""
        print(f"{prog}: interrupted{again}", file=sys.stderr)
        return 130
    except (CheckpointError, DatasetNotFoundError, DeviceError, FolderBusyError, FolderError, TrainingError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # the file system (a full disk, a vanished folder, a missing file)
        if err.strerror is None:  # raised with a message of its own (e.g. a missing teacher file)
            print(f"{prog}: error: {err}", file=sys.stderr)
            return 1
        where = f" ({err.filename})" if err.filename else ""
        print(f"{prog}: error: {err.strerror}{where}: free space or fix the path, then rerun", file=sys.stderr)
        return 1
