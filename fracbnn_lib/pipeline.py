"""The papermill pipeline: notebooks 01 -> 05 for one params file, into ``runs/<name>/``.

``python -m fracbnn_lib pipeline --params params/synthetic.yaml [--data-dir D] [--run-name N]
[--set key=value ...] [--only 01,02]`` executes the notebooks in order with the ``python3``
kernel and the notebooks' folder as working directory, writes each executed notebook into the
run directory, records the ``run`` section of ``metrics.json`` and prints the run's numbers
beside the paper's.

A params file is a YAML mapping of notebook parameters (each notebook receives only the names
its ``parameters`` cell declares) plus an optional ``pipeline`` mapping with ``run_name`` and
``cell_timeout`` (seconds; ``null`` for none). Relative paths in :data:`PATH_PARAMETERS` (from the
file or ``--set``) are relative to the project root (the notebooks folder's parent);
``--data-dir`` is relative to the current directory. Everything is checked before the first
notebook starts: the run name (one plain folder name under ``--runs-dir``), unknown parameter
names, values whose type does not match the notebook's default or that are out of range
(:data:`PARAMETER_RULES`), a device this machine lacks, and a missing real data set fail with a
one-line error. While it runs, the run folder is locked against a second pipeline. The data set's accelerator
(:func:`fracbnn_lib.accelerators.for_dataset`) picks notebook 04's variant; notebook 05 serves both.
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .cli import OneLineParser
from .environment import bound_openmp_spinning, environment_info
from .files import FolderBusyError, FolderError, FolderLock, check_writable
from .run_files import read_metrics, update_metrics

SLOTS: dict[str, str] = {
    "01": "thermometer encoding",
    "02": "stage 1 training",
    "03": "stages 2-3 and gating analysis",
    "04": "HLS export and C-simulation",
    "05": "board evaluation",
}
"""Notebook slots in execution order: ``notebooks/<slot>_*.ipynb``."""

KERNEL_NAME = "python3"
PIPELINE_KEYS = ("run_name", "cell_timeout")
PATH_PARAMETERS = ("data_dir", "teacher_weights", "export_dir", "bitstream", "checkpoint")
"""Parameters holding paths: relative values (params file, ``--set``) are taken from the project root."""


RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
"""A run name is one plain folder name: no path separator, not ``.`` or ``..``, not hidden."""


QUIET_KERNELS = {"TQDM_DISABLE": "1"}
"""Set for the notebook kernels the pipeline starts (they inherit its environment), unless the user set them.

A headless executor (papermill, nbclient, nbconvert) stores every refresh of a progress bar as a stream
output of its own, carriage returns and all: a training cell of an executed notebook held one chunk per
refresh. JupyterLab merges them in the browser, so a bar is worth having there; in a batch run nobody
watches the kernel, and the pipeline shows its own per-cell bar instead.
"""


def kernel_progress(environ: MutableMapping[str, str] | None = None) -> bool | dict[str, Any]:
    """Silence the notebooks' progress bars in the kernels to come (:data:`QUIET_KERNELS`, where unset in
    ``environ``, default ``os.environ``); returns papermill's ``progress_bar`` argument for the pipeline's own
    per-cell bar: on, unless the user's ``TQDM_DISABLE`` asks for no bars at all."""
    environ = os.environ if environ is None else environ
    asked_quiet = environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")
    for name, value in QUIET_KERNELS.items():
        environ.setdefault(name, value)
    return False if asked_quiet else {"disable": False}  # tqdm reads TQDM_DISABLE as its default: overrule it


class PipelineError(RuntimeError):
    """A problem found before or while running the pipeline (its message is one line)."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(low: int) -> tuple[Any, str]:
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low), f"an integer >= {low}"


def _known_format(value: Any) -> bool:
    from .hw.fixed_point import FORMAT_PRESETS

    return value in FORMAT_PRESETS


PARAMETER_RULES: dict[str, tuple[Any, str]] = {
    "seed": ((lambda v: isinstance(v, int) and 0 <= v < 2**32), "an integer in 0..2**32 - 1"),
    "device": (
        (lambda v: isinstance(v, str) and re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v) is not None),
        "auto, cpu, mps, cuda or cuda:N",
    ),
    "resolution": ((lambda v: isinstance(v, int) and 1 <= v <= 255), "an integer in 1..255"),
    "resolutions": (
        (lambda v: isinstance(v, list) and v and all(isinstance(r, int) and 1 <= r <= 255 for r in v)),
        "a non-empty list of integers in 1..255",
    ),
    "n_images": _count(1),
    "image_index": _count(0),
    "batch_size": _count(1),
    "workers": _count(0),
    "stage1_epochs": _count(1),
    "stage2_epochs": _count(1),
    "stage3_epochs": _count(1),
    "sweep_epochs": _count(0),  # 0 (or no targets): no sweep
    "lr": ((lambda v: v is None or (_number(v) and v > 0)), "null (the recipe's) or a positive number"),
    "binary_lr": ((lambda v: v is None or (_number(v) and v > 0)), "null (lr's) or a positive number"),
    "gating_target": (_number, "a finite number"),
    "gating_reg": ((lambda v: _number(v) and v >= 0), "a number >= 0"),
    "threshold_lr_scale": ((lambda v: _number(v) and v > 0), "a positive number"),
    "sweep_targets": (
        (lambda v: isinstance(v, list) and all(_number(t) for t in v)),
        "a list of finite numbers",
    ),
    "test_vectors": _count(1),
    "error_images": _count(1),
    "max_images": _count(0),
    "formats": (_known_format, "a format preset: default or paper"),
    "target": ((lambda v: v in ("auto", "pynq", "csim")), "auto, pynq or csim"),
}
"""Value ranges of the notebooks' parameters, checked before the first notebook runs (after the types)."""


@dataclass(frozen=True)
class Notebook:
    """One present notebook: its slot, file and declared parameters (name -> papermill's description)."""

    slot: str
    path: Path
    parameters: Mapping[str, Mapping[str, Any]]

    @property
    def name(self) -> str:
        return self.path.stem


def find_notebooks(folder: Path, slots: Sequence[str], dataset: str = "synthetic") -> tuple[list[Notebook], list[str]]:
    """Present notebooks for ``slots`` (in order) and the slots with no notebook.

    Where a slot has variants for the accelerators (a file ending in an
    :attr:`~fracbnn_lib.accelerators.Accelerator.notebook_variant`, ``04_hls_export_imagenet.ipynb``), the data
    set's accelerator (:func:`~fracbnn_lib.accelerators.for_dataset`) picks its own. Raises
    :class:`PipelineError` if a slot matches more than one file.
    """
    import papermill

    from .accelerators import ACCELERATORS, UnknownAcceleratorError, dataset_names, for_dataset

    suffixes = {a.notebook_variant for a in ACCELERATORS if a.notebook_variant}
    try:
        wanted = for_dataset(dataset).notebook_variant
    except UnknownAcceleratorError:
        raise PipelineError(f"unknown dataset {dataset!r}; choose one of {', '.join(dataset_names())}") from None

    def variant(path: Path) -> str:
        return next((suffix for suffix in suffixes if path.stem.endswith(suffix)), "")

    present, missing = [], []
    for slot in slots:
        matches = sorted(folder.glob(f"{slot}_*.ipynb"))
        if any(variant(p) for p in matches):
            matches = [p for p in matches if variant(p) == wanted]
        if len(matches) > 1:
            raise PipelineError(f"several notebooks for slot {slot} in {folder}: {', '.join(p.name for p in matches)}")
        if not matches:
            missing.append(slot)
            continue
        present.append(Notebook(slot, matches[0], papermill.inspect_notebook(str(matches[0]))))
    return present, missing


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict, each value parsed as YAML (``epochs=3`` is an int, ``tag=a`` a string)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PipelineError(f"--set expects key=value, got {item!r}")
        try:
            overrides[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            raise PipelineError(f"--set {key.strip()}: cannot parse {value!r} as a YAML value") from None
    return overrides


def load_params(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a params file: (notebook parameters, pipeline settings)."""
    if not path.is_file():
        raise PipelineError(f"params file not found: {path} (see params/ for one per data set)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise PipelineError(f"params file {path} is not valid YAML{line}") from None
    if not isinstance(data, dict):
        raise PipelineError(f"params file {path} must hold a mapping of parameter names to values")
    settings = data.pop("pipeline", None) or {}
    unknown = sorted(set(settings) - set(PIPELINE_KEYS))
    if unknown:
        raise PipelineError(
            f"unknown pipeline setting(s) {', '.join(unknown)} in {path}; known: {', '.join(PIPELINE_KEYS)}"
        )
    return data, settings


def _default_value(info: Mapping[str, Any]) -> Any:
    """The literal default of a declared parameter (papermill gives its source text), or None."""
    try:
        return ast.literal_eval(str(info.get("default", "None")))
    except (ValueError, SyntaxError):
        return None


def _type_matches(value: Any, default: Any) -> bool:
    """Whether ``value`` may replace ``default`` (ints pass for floats; a ``None`` default takes anything)."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def check_parameters(params: Mapping[str, Any], notebooks: Sequence[Notebook], missing: Sequence[str]) -> None:
    """Every name must be declared by some present notebook, with a value of its default's type."""
    declared: dict[str, Mapping[str, Any]] = {}
    for nb in notebooks:
        for name, info in nb.parameters.items():
            declared.setdefault(name, info)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        absent = f" (notebooks {', '.join(missing)} are missing)" if missing else ""
        raise PipelineError(
            f"unknown parameter(s) {', '.join(unknown)}: no notebook declares them{absent}; "
            f"known: {', '.join(sorted(declared))}"
        )
    for name, value in params.items():
        default = _default_value(declared[name])
        if not _type_matches(value, default):
            raise PipelineError(
                f"parameter {name} expects {type(default).__name__} (notebook default {declared[name]['default']}), "
                f"got {type(value).__name__} {value!r}"
            )
        valid, need = PARAMETER_RULES.get(name, (None, ""))
        if valid is not None and not valid(value):
            raise PipelineError(f"parameter {name} must be {need}, got {value!r}")


def check_device(device: str) -> None:
    """The device the notebooks train on must exist on this machine (e.g. no ``cuda`` without a GPU)."""
    from .training import DeviceError, resolve_device

    try:
        resolve_device(device)
    except DeviceError as err:
        raise PipelineError(f"{err} (parameter device)") from None


def check_data(dataset: str, data_dir: str | None) -> None:
    """A real data set must be in place before anything runs (the generated ones are made by notebook 01)."""
    from .data import DATASETS, GENERATED_DATASETS, DatasetNotFoundError, prepare_dataset

    if dataset not in DATASETS:
        raise PipelineError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if dataset in GENERATED_DATASETS:
        return
    if data_dir is None:
        raise PipelineError(f"dataset {dataset} needs its folder: pass --data-dir (or set data_dir in the params file)")
    try:
        prepare_dataset(dataset, Path(data_dir))
    except DatasetNotFoundError as err:
        raise PipelineError(str(err).strip().splitlines()[0]) from None


def check_teacher(dataset: str, teacher_weights: Any, notebooks: Sequence[Notebook]) -> None:
    """The teacher of the training notebooks that will run (those declaring ``teacher_weights``): the rule of
    ``fracbnn train`` (:func:`~fracbnn_lib.training.teacher_problem`), and for ImageNet its file must exist."""
    from .training import teacher_problem

    if not any("teacher_weights" in nb.parameters for nb in notebooks):
        return
    problem = teacher_problem(dataset, teacher_weights or None, "teacher_weights")
    if problem:
        raise PipelineError(problem)
    if dataset == "imagenet" and not Path(teacher_weights).is_file():
        raise PipelineError(
            f"teacher weights not found at {teacher_weights} (parameter teacher_weights): save torchvision's "
            "ResNet-50 state dict there (e.g. torchvision.models.resnet50(weights='IMAGENET1K_V1').state_dict())"
        )


def check_checkpoint(dataset: str, checkpoint: Any) -> None:
    """A given ``checkpoint`` (notebooks 03-05 run on it instead of the run's own) must exist and hold the data
    set's network with its classes (:func:`fracbnn_lib.models.trained_model_for`)."""
    if not checkpoint:
        return
    if not Path(checkpoint).is_file():
        raise PipelineError(
            f"checkpoint {checkpoint} not found (parameter checkpoint): pass a checkpoint file, e.g. the one "
            "fracbnn import-release writes"
        )
    from .checkpoint import CheckpointError
    from .models import trained_model_for

    try:
        trained_model_for(dataset, checkpoint)
    except CheckpointError as err:
        raise PipelineError(f"parameter checkpoint: {str(err).splitlines()[0]}") from None


def _format_value(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if float(value).is_integer() and abs(value) >= 100:
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3f}"


def summary_text(metrics: Mapping[str, Any], dataset: str) -> str:
    """The run's numbers beside the paper's (each with what it was measured on), and the wall time per notebook."""
    from .paper import run_vs_paper

    table = run_vs_paper(metrics, dataset)
    width = max(len(q) for q in table["quantity"])
    on_width = max(len(str(on)) for on in table["measured_on"])
    lines = [f"{'quantity':<{width}} {'run':>10}  {'measured on':<{on_width}} {'paper':>10}  paper source"]
    for row in table.itertuples():
        run, reported = _format_value(row.run), _format_value(row.paper)
        lines.append(
            f"{row.quantity:<{width}} {run:>10}  {row.measured_on:<{on_width}} {reported:>10}  {row.paper_source}"
        )
    wall = metrics.get("run", {}).get("wall_s", {})
    if wall:
        lines.append("")
        lines += [f"{name:<32} {seconds:8.1f} s" for name, seconds in wall.items()]
        lines.append(f"{'total':<32} {sum(wall.values()):8.1f} s")
    return "\n".join(line.rstrip() for line in lines)


def _seconds(text: str) -> int:
    """A cell timeout: a whole number of seconds >= 1 (papermill takes integers)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of seconds, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="fracbnn pipeline",
        description="Run notebooks 01 -> 05 with papermill for one params file into runs/<name>/.",
    )
    parser.add_argument("--params", type=Path, default=Path("params/synthetic.yaml"), help="params YAML file")
    parser.add_argument("--data-dir", type=Path, help="data set folder (overrides data_dir of the params file)")
    parser.add_argument("--run-name", help="run folder name under --runs-dir (default: the params file's name)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a notebook parameter (repeatable; value parsed as YAML)")  # fmt: skip
    parser.add_argument("--only", help="comma-separated notebook slots to run, e.g. 01,02")
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="notebooks folder")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="folder holding the run folders")
    parser.add_argument(
        "--cell-timeout", type=_seconds, help="seconds per cell (default: the params file's, else none)"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start over: move the run folder aside, delete it once the new run succeeds",
    )
    parser.add_argument("--log-output", action="store_true", help="stream the notebooks' output while they run")
    return parser


def _resolve_slots(only: str | None) -> list[str]:
    if only is None:
        return list(SLOTS)
    slots = [s.strip().zfill(2) for s in only.split(",") if s.strip()]
    if not slots:
        raise PipelineError(f"--only names no notebook slot; give some of {', '.join(SLOTS)} (e.g. --only 01,02)")
    unknown = [s for s in slots if s not in SLOTS]
    if unknown:
        raise PipelineError(f"unknown notebook slot(s) {', '.join(unknown)} in --only; slots are {', '.join(SLOTS)}")
    return [s for s in SLOTS if s in slots]


@dataclass(frozen=True)
class Plan:
    """What a pipeline run will do, fully checked: notebooks in order, missing slots, parameters, run dir."""

    notebooks: list[Notebook]
    missing: list[str]
    params: dict[str, Any]
    run_dir: Path
    cell_timeout: float | None


def plan(args: argparse.Namespace) -> Plan:
    """Resolve and check everything before a notebook runs; raises :class:`PipelineError`."""
    notebooks_dir = args.notebooks.resolve()
    if not notebooks_dir.is_dir():
        raise PipelineError(f"notebooks folder not found: {args.notebooks} (run from the repository root)")
    params, settings = load_params(args.params)
    params.update(parse_overrides(args.overrides))
    if "run_dir" in params:
        raise PipelineError("the run folder is chosen with --run-name and --runs-dir, not with a run_dir parameter")
    for name in PATH_PARAMETERS:
        if params.get(name):
            params[name] = str((notebooks_dir.parent / str(params[name])).resolve())
    if args.data_dir is not None:
        params["data_dir"] = str(args.data_dir.resolve())
    name = args.run_name if args.run_name is not None else settings.get("run_name") or args.params.stem
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
        raise PipelineError(
            f"run name {name!r} must be one plain folder name (letters, digits and . _ + -, not starting with '.'); "
            "choose the folder that holds runs with --runs-dir"
        )
    run_dir = (args.runs_dir / name).resolve()
    params["run_dir"] = str(run_dir)

    present, missing = find_notebooks(notebooks_dir, list(SLOTS), str(params.get("dataset", "synthetic")))
    if not present:
        raise PipelineError(f"no notebooks found in {args.notebooks} (expected 01_*.ipynb ... 05_*.ipynb)")
    check_parameters(params, present, missing)
    slots = _resolve_slots(args.only)
    problems = []  # what this machine lacks, all of it at once: a missing GPU does not hide missing data
    for check, value in (
        (check_device, (str(params.get("device", "cpu")),)),
        (check_data, (str(params.get("dataset", "synthetic")), params.get("data_dir"))),
        (check_checkpoint, (str(params.get("dataset", "synthetic")), params.get("checkpoint"))),
        (
            check_teacher,
            (
                str(params.get("dataset", "synthetic")),
                params.get("teacher_weights"),
                [nb for nb in present if nb.slot in slots],
            ),
        ),
    ):
        try:
            check(*value)
        except PipelineError as err:
            problems.append(str(err))
    if problems:
        raise PipelineError("\n".join(problems))
    timeout = args.cell_timeout if args.cell_timeout is not None else settings.get("cell_timeout")
    if timeout is not None and not (isinstance(timeout, int) and not isinstance(timeout, bool) and timeout >= 1):
        raise PipelineError(f"cell_timeout must be a whole number of seconds >= 1 or null, got {timeout!r}")
    return Plan(
        notebooks=[nb for nb in present if nb.slot in slots],
        missing=[s for s in missing if s in slots],
        params=params,
        run_dir=run_dir,
        cell_timeout=timeout,
    )


def _run_section(name: str, params: Mapping[str, Any], wall: Mapping[str, float]) -> dict[str, Any]:
    env = environment_info()
    return {
        "name": name,
        "dataset": params.get("dataset", "synthetic"),
        "seed": params.get("seed", 0),
        **env,
        "wall_s": dict(wall),
    }


def _first_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failing_line(source: str, traceback: Sequence[str]) -> str:
    """The line of the cell ``source`` that raised, from IPython's ``Cell In[n], line k`` in ``traceback``.

    The cell's first line that is not a magic, an import or blank when the traceback does not say.
    """
    for entry in traceback:
        found = re.search(r"Cell In\[\d+\], line (\d+)", ANSI.sub("", entry))
        lines = source.splitlines()
        if found and 1 <= int(found.group(1)) <= len(lines):
            return f"line {found.group(1)}: {lines[int(found.group(1)) - 1].strip()}"
    meaningful = [line.strip() for line in source.splitlines() if line.strip()]
    plain = [line for line in meaningful if not line.startswith(("%", "import ", "from ", "#"))]
    return (plain or meaningful or [""])[0]


def _last_started_cell(executed: Path) -> tuple[int, int | None, str] | None:
    """(index, execution count, source) of the last cell papermill started in ``executed``, if any."""
    import nbformat

    if not executed.is_file():
        return None
    cells = nbformat.read(executed, as_version=4).cells
    started = [i for i, c in enumerate(cells) if c.metadata.get("papermill", {}).get("start_time")]
    if not started:
        return None
    cell = cells[started[-1]]
    return started[-1], cell.get("execution_count"), cell.source


def _shown(path: Path) -> Path:
    """``path`` relative to the current directory when inside it (for messages)."""
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the pipeline; returns the process exit status (0 ok, 1 a notebook failed, 2 bad input, 130 interrupted).

    The run folder is held (:class:`~fracbnn_lib.files.FolderLock`) while the notebooks write it: a
    second pipeline on the same folder is refused. ``--fresh`` moves an existing run folder aside
    (``.<name>.previous`` beside it) and deletes it once the new run has finished; if the new run
    fails, the previous one stays there and the message says so.
    """
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    bound_openmp_spinning()  # the notebook kernels inherit it (a busy machine: environment.OPENMP_SPIN)
    try:
        run = plan(args)
        check_writable(run.run_dir, "run folder")
        with FolderLock(run.run_dir, "run folder"):
            previous = _move_aside(run.run_dir) if args.fresh else None
            run.run_dir.mkdir(parents=True, exist_ok=True)
            try:
                status = _execute(run, args)
            except KeyboardInterrupt:
                print(f"pipeline: interrupted; the run so far is in {_shown(run.run_dir)}", file=sys.stderr)
                status = 130
            if previous is not None and status == 0:
                shutil.rmtree(previous, ignore_errors=True)
            elif previous is not None:
                print(f"the previous run is kept in {_shown(previous)} (move it back to restore it)", file=sys.stderr)
            return status
    except (PipelineError, FolderBusyError, FolderError) as err:
        for problem in str(err).splitlines():
            print(f"error: {problem}", file=sys.stderr)
        return 2


def _move_aside(run_dir: Path) -> Path | None:
    """Rename an existing ``run_dir`` to ``.<name>.previous`` beside it (replacing an older one); its new path."""
    if not run_dir.exists():
        return None
    aside = run_dir.with_name(f".{run_dir.name}.previous")
    if aside.exists():
        shutil.rmtree(aside)
    os.replace(run_dir, aside)
    return aside


def _execute(run: Plan, args: argparse.Namespace) -> int:
    """Execute the planned notebooks into ``run.run_dir`` and print the summary; the exit status."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    for slot in run.missing:
        print(f"notebook {slot} ({SLOTS[slot]}) not found in {args.notebooks}: skipped")
    dataset = str(run.params.get("dataset", "synthetic"))
    print(f"pipeline: {len(run.notebooks)} notebook(s) -> {_shown(run.run_dir)} (dataset {dataset})")

    progress = kernel_progress()
    wall: dict[str, float] = dict(read_metrics(run.run_dir).get("run", {}).get("wall_s", {}))
    update_metrics(run.run_dir, "run", _run_section(run.run_dir.name, run.params, wall))
    for i, nb in enumerate(run.notebooks, 1):
        out = run.run_dir / nb.path.name
        print(f"[{i}/{len(run.notebooks)}] {nb.path.name} ({SLOTS[nb.slot]}) ...", flush=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(nb.path),
                str(out),
                parameters={k: v for k, v in run.params.items() if k in nb.parameters},
                kernel_name=KERNEL_NAME,
                cwd=str(nb.path.parent),
                progress_bar=progress,
                coalesce_streams=True,  # one output per stream and cell, carriage returns applied (as JupyterLab)
                log_output=args.log_output,
                execution_timeout=run.cell_timeout,
            )
        except Exception as err:  # a failing cell, a cell timeout or a dead kernel: name the cell, keep the notebook
            if isinstance(err, PapermillExecutionError):
                where = (err.cell_index, err.exec_count, _failing_line(err.source, err.traceback or []))
                what = f"{err.ename}: {err.evalue}"
            else:
                started = _last_started_cell(out)
                where = (started[0], started[1], _failing_line(started[2], [])) if started else None
                what = f"{type(err).__name__}: {_first_line(str(err))}"
            cell = f"cell {where[0]} (In [{where[1]}], {where[2]})" if where else "before its first cell"
            print(
                f"error: {nb.path.name} failed after {time.perf_counter() - start:.1f} s in {cell}: {what}; "
                f"the partially executed notebook is {_shown(out)}",
                file=sys.stderr,
            )
            return 1
        wall[nb.name] = round(time.perf_counter() - start, 1)
        print(f"[{i}/{len(run.notebooks)}] {nb.path.name} done in {wall[nb.name]:.1f} s", flush=True)
        update_metrics(run.run_dir, "run", {"wall_s": wall})

    print()
    print(summary_text(read_metrics(run.run_dir), dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
