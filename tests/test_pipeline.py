"""The papermill pipeline: parameter routing and checks on throwaway notebooks (the real runs of both embedded
defaults are the session's, ``tests/conftest.py``, checked in ``tests/test_readme.py``)."""

import os
from pathlib import Path

import nbformat
import pytest

from fracbnn_lib import pipeline
from fracbnn_lib.data import write_synthetic_imagefolder
from fracbnn_lib.run_files import read_metrics

ROOT = Path(__file__).resolve().parents[1]

PARAMS_CELL = """\
dataset = "synthetic"
data_dir = "../data/synthetic"
run_dir = "../runs/default"
seed = 0
device = "cpu"
"""


def _notebook(path: Path, parameters: str, *bodies: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, *(nbformat.v4.new_code_cell(body) for body in bodies)]
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with notebooks 01 and 02 (03-05 absent) and a params file."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    record = """\
import os
from pathlib import Path
from fracbnn_lib.run_files import update_metrics
update_metrics(Path(run_dir), "{section}", {{"value": {value}, "cwd": Path.cwd().name, "seed": seed,
               "spin": os.environ.get("GOMP_SPINCOUNT")}})
"""
    _notebook(notebooks / "01_first.ipynb", PARAMS_CELL + "width = 1\n", record.format(section="first", value="width"))
    _notebook(
        notebooks / "02_second.ipynb",
        PARAMS_CELL + "depth = 2.0\nfail = False\npause = 0.0\n",
        "import time\n\ntime.sleep(pause)",
        "if fail:\n    raise ValueError('asked to fail')\n" + record.format(section="second", value="depth"),
    )
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "tiny.yaml").write_text(
        "dataset: synthetic\nseed: 3\nwidth: 4\npipeline:\n  cell_timeout: 120\n"
    )
    return tmp_path


def _run(project: Path, *extra: str) -> int:
    return pipeline.main(
        [
            "--params",
            str(project / "params" / "tiny.yaml"),
            "--notebooks",
            str(project / "notebooks"),
            "--runs-dir",
            str(project / "runs"),
            *extra,
        ]
    )


def test_runs_notebooks_in_order_with_only_their_parameters(project, capsys):
    assert _run(project, "--set", "depth=0.5", "--run-name", "r1") == 0
    out = capsys.readouterr().out
    run_dir = project / "runs" / "r1"
    metrics = read_metrics(run_dir)
    spin = os.environ.get("GOMP_SPINCOUNT", "10000")  # the kernels' OpenMP spins bounded (environment.OPENMP_SPIN)
    assert metrics["first"] == {"value": 4, "cwd": "notebooks", "seed": 3, "spin": spin}  # YAML value, cwd
    assert metrics["second"] == {"value": 0.5, "cwd": "notebooks", "seed": 3, "spin": spin}  # --set override
    run = metrics["run"]
    assert run["name"] == "r1" and run["dataset"] == "synthetic" and run["seed"] == 3
    assert {"torch", "fracbnn_lib", "git_commit", "device"} <= set(run)
    assert list(run["wall_s"]) == ["01_first", "02_second"] and all(t > 0 for t in run["wall_s"].values())
    # each notebook got only the names it declares (papermill's injected cell)
    first = nbformat.read(run_dir / "01_first.ipynb", as_version=4)
    injected = next(c for c in first.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "width = 4" in injected.source and "depth" not in injected.source and "fail" not in injected.source
    assert first.metadata["kernelspec"]["name"] == "python3"
    for slot in ("03", "04", "05"):
        assert f"notebook {slot} (" in out and "skipped" in out
    assert "02_second.ipynb done in" in out
    assert "stage 3 (final) test accuracy" in out and "0.891" in out  # the summary beside the paper


def test_imagenet_runs_take_a_slots_imagenet_notebook(project, capsys):
    """A slot with a ``*_imagenet.ipynb`` runs it for ImageNet-format data sets and its other notebook otherwise."""
    record = "from pathlib import Path\nfrom fracbnn_lib.run_files import update_metrics\n"
    notebooks = project / "notebooks"
    _notebook(notebooks / "04_hw.ipynb", PARAMS_CELL, record + "update_metrics(Path(run_dir), 'hw', {'net': 'cifar'})")
    _notebook(
        notebooks / "04_hw_imagenet.ipynb", PARAMS_CELL, record + "update_metrics(Path(run_dir), 'hw', {'net': 'in'})"
    )
    imagenet = project / "imagenet"
    write_synthetic_imagefolder(imagenet, classes=2, per_class=1, val_per_class=1, size=8)
    assert _run(project, "--set", "dataset=imagenet", "--data-dir", str(imagenet), "--run-name", "in") == 0
    assert read_metrics(project / "runs" / "in")["hw"] == {"net": "in"}
    assert (project / "runs" / "in" / "04_hw_imagenet.ipynb").exists()
    assert not (project / "runs" / "in" / "04_hw.ipynb").exists()
    assert _run(project, "--run-name", "syn") == 0
    assert read_metrics(project / "runs" / "syn")["hw"] == {"net": "cifar"}
    present, _ = pipeline.find_notebooks(notebooks, ["04"], "imagenet-tiny")
    assert [nb.path.name for nb in present] == ["04_hw_imagenet.ipynb"]


def test_only_runs_the_chosen_slots(project, capsys):
    assert _run(project, "--only", "2", "--run-name", "r2") == 0
    run_dir = project / "runs" / "r2"
    assert sorted(p.name for p in run_dir.glob("*.ipynb")) == ["02_second.ipynb"]
    assert "first" not in read_metrics(run_dir)
    assert "notebook 03" not in capsys.readouterr().out  # slots outside --only are not reported


def test_a_failing_notebook_stops_the_pipeline_and_is_kept(project, tmp_path, capsys):
    (project / "notebooks" / "03_third.ipynb").write_text((project / "notebooks" / "01_first.ipynb").read_text())
    assert _run(project, "--set", "fail=true", "--run-name", "r3") == 1
    err = capsys.readouterr().err
    assert "02_second.ipynb failed" in err and "ValueError: asked to fail" in err
    assert "], line 2: raise ValueError('asked to fail'))" in err  # the line that raised, not the cell's first
    run_dir = project / "runs" / "r3"
    partial = nbformat.read(run_dir / "02_second.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in partial.cells for o in c.get("outputs", []))
    assert not (run_dir / "03_third.ipynb").exists()
    assert list(read_metrics(run_dir)["run"]["wall_s"]) == ["01_first"]


def test_a_cell_timeout_names_the_cell(project, capsys):
    assert _run(project, "--only", "02", "--set", "pause=10", "--cell-timeout", "2", "--run-name", "r4") == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: 02_second.ipynb failed") and "cell 2 (In [3], time.sleep(pause))" in err
    assert "CellTimeoutError" in err and (project / "runs" / "r4" / "02_second.ipynb").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "widht=3"], "unknown parameter(s) widht: no notebook declares them (notebooks 03, 04, 05"),
        (["--set", "width=wide"], "parameter width expects int"),
        (["--set", "depth"], "--set expects key=value"),
        (["--set", "depth=[1,"], "--set depth: cannot parse '[1,' as a YAML value"),
        (["--set", "run_dir=/tmp/x"], "--run-name and --runs-dir"),
        (["--set", "dataset=cifar100"], "unknown dataset 'cifar100'"),
        (["--only", "07"], "unknown notebook slot(s) 07"),
    ],
)
def test_bad_input_fails_before_anything_runs(project, capsys, extra, message):
    assert _run(project, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (project / "runs").exists()


def test_a_missing_real_data_set_fails_before_anything_runs(project, capsys):
    missing = project / "no-cifar-here"
    assert _run(project, "--set", "dataset=cifar10", "--data-dir", str(missing)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "no-cifar-here" in err
    assert not (project / "runs").exists()


def test_every_missing_piece_of_the_machine_is_named_at_once(project, capsys):
    """A GPU that is not there does not hide a data set that is not there either: one line each."""
    missing = project / "no-cifar-here"
    assert _run(project, "--set", "dataset=cifar10", "--set", "device=cuda:99", "--data-dir", str(missing)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines)
    assert "cuda:99" in lines[0] and "parameter device" in lines[0] and "CIFAR-10 not found" in lines[1]
    assert not (project / "runs").exists()


def test_unknown_params_file_and_pipeline_setting(project, capsys):
    assert pipeline.main(["--params", str(project / "nope.yaml"), "--notebooks", str(project / "notebooks")]) == 2
    assert "params file not found" in capsys.readouterr().err
    bad = project / "params" / "bad.yaml"
    bad.write_text("pipeline:\n  timeout: 3\n")
    assert pipeline.main(["--params", str(bad), "--notebooks", str(project / "notebooks")]) == 2
    assert "unknown pipeline setting(s) timeout" in capsys.readouterr().err
    bad.write_text("seed: [1,\n")
    assert pipeline.main(["--params", str(bad), "--notebooks", str(project / "notebooks")]) == 2
    assert "is not valid YAML (line 2)" in capsys.readouterr().err


def test_parse_overrides_reads_yaml_values():
    assert pipeline.parse_overrides(["a=3", "b=0.5", "c=[0.0, 1.0]", "d=cpu", "e=true", "f="]) == {
        "a": 3,
        "b": 0.5,
        "c": [0.0, 1.0],
        "d": "cpu",
        "e": True,
        "f": "",
    }


def test_the_kernels_get_no_progress_bars_and_the_pipeline_keeps_its_own():
    environ: dict[str, str] = {}
    assert pipeline.kernel_progress(environ) == {"disable": False} and environ["TQDM_DISABLE"] == "1"
    asked = {"TQDM_DISABLE": "1"}  # the user wants no bars at all
    assert pipeline.kernel_progress(asked) is False and asked == {"TQDM_DISABLE": "1"}
    kept = {"TQDM_DISABLE": "0"}  # the user's choice stands
    assert pipeline.kernel_progress(kept) == {"disable": False} and kept == {"TQDM_DISABLE": "0"}


def test_summary_text_sets_the_run_beside_the_paper():
    metrics = {
        "stage3": {"test_accuracy": 0.8125, "test_images": 500},
        "model": {"parameters": 287146, "memory_bytes": 59368.0},
        "board": {"backend": "csim", "fps": 30.0, "accuracy": 0.8, "images": 200},
        "run": {"wall_s": {"01_a": 1.5, "02_b": 2.25}},
    }
    text = pipeline.summary_text(metrics, "cifar10")
    table, wall = text.split("\n\n")
    lines = table.splitlines()
    width = lines[0].index(" run") - 6
    rows = {line[:width].strip(): line[width:].split() for line in lines[1:]}
    rows |= {line.split()[0]: line.split()[1:] for line in wall.splitlines()}
    assert rows["stage 3 (final) test accuracy"] == [
        "0.812",
        "cifar10,",
        "500",
        "images",
        "0.891",
        "paper",
        "(cifar10)",
    ]
    assert rows["parameters"] == ["287,146", "the", "model", "287,146", "paper"]
    assert rows["model size (KiB)"] == ["57.977", "the", "model", "-"]
    assert rows["notebook 05 images/s (not a board figure)"][:2] == ["30.000", "200"]  # never beside the board's
    assert rows["board images/s"] == ["-", "not", "measured", "2,806.9", "as", "reported"]
    assert rows["chance accuracy (1 / classes)"] == ["0.100", "cifar10,", "10", "classes", "-"]
    assert lines[1].startswith("chance accuracy")  # read first: every accuracy below is against it
    imagenet = pipeline.summary_text({"stage3": {"test_accuracy": 0.5}}, "imagenet").splitlines()
    assert imagenet[1].split()[5:9] == ["0.001", "imagenet,", "1000", "classes"]
    assert rows["02_b"] == ["2.2", "s"] and rows["total"] == ["3.8", "s"]


@pytest.mark.parametrize("name", ["synthetic", "cifar10", "imagenet", "imagenet-tiny"])
def test_shipped_params_files_only_name_declared_parameters(name):
    params, settings = pipeline.load_params(ROOT / "params" / f"{name}.yaml")
    present, missing = pipeline.find_notebooks(ROOT / "notebooks", list(pipeline.SLOTS), params["dataset"])
    assert params["dataset"] == name and not missing
    pipeline.check_parameters({k: v for k, v in params.items() if k != "run_dir"}, present, missing)
    assert set(settings) <= set(pipeline.PIPELINE_KEYS)


def test_the_notebooks_defaults_are_the_embedded_defaults_values():
    """The committed notebooks are one run of ``params/synthetic.yaml`` (``make notebooks`` executes them with their
    own defaults): every parameter both name has the same value, paths aside (the notebooks' are relative to
    ``notebooks/``)."""
    params, _ = pipeline.load_params(ROOT / "params" / "synthetic.yaml")
    present, _ = pipeline.find_notebooks(ROOT / "notebooks", list(pipeline.SLOTS), params["dataset"])
    differing = {
        (nb.path.name, name): (pipeline._default_value(info), params[name])
        for nb in present
        for name, info in nb.parameters.items()
        if name in params and name != "data_dir" and pipeline._default_value(info) != params[name]
    }
    assert differing == {}
    shared = {name for nb in present for name in nb.parameters} & set(params)
    assert {"gating_reg", "threshold_lr_scale", "sweep_targets", "batch_size"} <= shared
