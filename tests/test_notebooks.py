"""The committed notebooks follow the conventions that keep them runnable in JupyterLab, papermill and nbval.

The static checks here are fast. :func:`test_notebooks_reproduce_their_committed_outputs` then
re-executes every notebook under nbval and compares its outputs, in the session's copy of the repository
(``tests/conftest.py``) after its ``make reproduce``: the notebooks' default ``run_dir``
(``../runs/default``) is that run, so the training stages resume from their finished checkpoints (cells
whose outputs are the trained model's numbers are not compared anyway) and every other cell runs and is
compared. Nothing lands in the repository's ``runs/`` and ``data/``, where a JupyterLab user keeps work.
"""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("0[1-5]_*.ipynb") if not p.stem.endswith("_imagenet"))
"""The embedded default's notebooks, which nbval re-executes here."""
IMAGENET_NOTEBOOKS = sorted((ROOT / "notebooks").glob("0[1-5]_*_imagenet.ipynb"))
"""Slot variants for ImageNet-format data sets (executed by the imagenet-tiny run of tests/test_readme.py)."""
SHARED = {
    "dataset": "synthetic",
    "data_dir": "../data/synthetic",
    "run_dir": "../runs/default",
    "seed": 0,
    "device": "cpu",
}
IMAGENET_SHARED = {
    **SHARED,
    "dataset": "imagenet-tiny",
    "data_dir": "../data/imagenet-tiny",
    "run_dir": "../runs/imagenet-tiny",
}
# Seeded CPU training is reproducible on one machine but not across CPU generations (AVX2 and AVX-512
# kernels round differently; a few epochs amplify it): the cells that show the trained model's numbers
# carry the `nbval-ignore-output` tag, and tests/test_pipeline.py asserts their invariants instead
# (above chance, sparsity in (0, 1), C-simulation bit-exact, notebook 05 equal to notebook 04). The
# list is explicit, in order, so that it cannot grow silently; every other output is compared.
NOT_COMPARED = {
    "01": [],
    "02": ["run_stage(", "result.test_accuracy"],
    "03": [
        "result2 = run_stage(",
        "result3 = run_stage(",
        "evaluate_with_gating(final",
        "sparsity_table(stats)",
        "threshold_table(final)",
        "gating_sweep(",
        "plot_accuracy_vs_size(points",
    ],
    "04": [
        "L.ladder_table(",
        "L.photograph_table(",
        "H.format_sweep(",
        "hardware.layer_error_table(",
        "L.hardware_sparsity_table(",
        "H.gate_sharing_table(",
        'update_metrics(run_dir, "hls", hls)',
    ],
    "05": ["accel.run(vectors.images)", "board.comparison_text(metrics"],
}
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:home|tmp|work|root|Users|private|var)/")
PROGRESS_BAR = re.compile(r"\r|\d+%\|[^|\n]*\|\s*\d+/\d+")
"""A progress bar's trace in a stream output: a carriage return, or tqdm's ``42%|####      | 21/50``."""


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _outputs_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(p if isinstance(p, str) else "".join(p) for p in parts)


def test_all_five_notebooks_are_committed():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]
    assert [p.name for p in IMAGENET_NOTEBOOKS] == ["04_hls_export_imagenet.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS + IMAGENET_NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_and_parameters_cell(path):
    nb = _read(path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    values = {}
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, "plain assignments only"
        values[node.targets[0].id] = ast.literal_eval(node.value)  # raises on anything but a literal
    for name, default in (IMAGENET_SHARED if path in IMAGENET_NOTEBOOKS else SHARED).items():
        assert values.get(name) == default, f"shared parameter {name}"


@pytest.mark.parametrize("path", NOTEBOOKS + IMAGENET_NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_are_from_one_clean_run(path):
    nb = _read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "executed top to bottom once, counts kept for nbval"
    assert any(c.outputs for c in code), "outputs committed"
    for cell in code:
        assert "execution" not in cell.metadata, "no per-cell timing metadata (make notebooks leaves none)"
        text = _outputs_text(cell)
        assert not any(o.output_type == "error" for o in cell.outputs), "no errors"
        assert not ABSOLUTE_PATH.search(text), f"absolute path in the output of: {cell.source[:60]!r}"
        assert not any(o.get("name") == "stderr" for o in cell.outputs), "no stderr (warnings, progress bars)"


@pytest.mark.parametrize("path", NOTEBOOKS + IMAGENET_NOTEBOOKS, ids=lambda p: p.name)
def test_no_progress_bar_is_committed(path):
    """A headless run stores each refresh of a progress bar as a stream output of its own (carriage returns
    included): ``make notebooks`` turns the bars off and coalesces each cell's streams, and so does the
    pipeline (``pipeline.kernel_progress``, papermill's ``coalesce_streams``)."""
    for cell in (c for c in _read(path).cells if c.cell_type == "code"):
        for out in cell.outputs:
            if out.output_type == "stream":
                text = out.text if isinstance(out.text, str) else "".join(out.text)
                assert not PROGRESS_BAR.search(text), f"a progress bar in the output of: {cell.source[:60]!r}"


def test_the_progress_bar_pattern_finds_a_stored_bar():
    stored = ["\rstage1 1/1:  17%|█▋        | 1/6 [00:02<00:13,  2.70s/it, loss=2.313]", "\r      \r"]
    assert all(PROGRESS_BAR.search(chunk) for chunk in stored)
    assert not PROGRESS_BAR.search(" epoch   lr  train_loss\n     1 1e-3       1.882\nsparsity 42%\n")


@pytest.mark.parametrize("path", NOTEBOOKS + IMAGENET_NOTEBOOKS, ids=lambda p: p.name)
def test_no_sys_path_hacks(path):
    source = "\n".join(c.source for c in _read(path).cells if c.cell_type == "code")
    assert "sys.path" not in source and "os.chdir" not in source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_the_trained_models_numbers_escape_comparison(path):
    code = [c for c in _read(path).cells if c.cell_type == "code"]
    ignored = [c.source for c in code if "nbval-ignore-output" in c.metadata.get("tags", [])]
    expected = NOT_COMPARED[path.name[:2]]
    assert len(ignored) == len(expected), f"cells not compared by nbval: {[s.splitlines()[0] for s in ignored]}"
    for source, marker in zip(ignored, expected, strict=True):
        assert marker in source, f"a cell without {marker!r} is not compared by nbval"
    compared = [c for c in code if c.outputs and "nbval-ignore-output" not in c.metadata.get("tags", [])]
    assert compared, "every notebook has compared outputs"
    assert not any({"nbval-skip", "raises-exception"} & set(c.metadata.get("tags", [])) for c in code)


NBVAL_OPTIONS = ("--nbval", "--nbval-cell-timeout=900", "--nbval-kernel-name=python3", "-p", "no:cacheprovider")


@pytest.mark.slow
def test_notebooks_reproduce_their_committed_outputs(repo_copy, embedded_run):
    """nbval on the session copy's notebooks (sanitised as tests/nbval_sanitize.cfg says); this checkout's runs/
    untouched.

    The embedded default's five notebooks only: ImageNet's notebook 04 needs an imagenet-tiny run (its outputs
    are checked statically above, and it runs in the session's imagenet-tiny pipeline, tests/conftest.py).
    """
    runs_before = sorted(p.relative_to(ROOT) for p in (ROOT / "runs").rglob("*")) if (ROOT / "runs").is_dir() else []
    notebooks = [f"notebooks/{path.name}" for path in NOTEBOOKS]  # the embedded default's, in order
    command = [sys.executable, "-m", "pytest", "-q", *NBVAL_OPTIONS, "--nbval-sanitize-with",
               str(ROOT / "tests" / "nbval_sanitize.cfg"), *notebooks]  # fmt: skip
    env = {**os.environ, "TQDM_DISABLE": "1"}
    done = subprocess.run(command, cwd=repo_copy, env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout.splitlines()[-1]
    assert embedded_run.run_dir == repo_copy / "runs" / "default"  # the run the notebooks resumed
    runs_after = sorted(p.relative_to(ROOT) for p in (ROOT / "runs").rglob("*")) if (ROOT / "runs").is_dir() else []
    assert runs_after == runs_before, "the notebooks wrote into the repository's runs/"


@pytest.mark.slow
def test_notebooks_03_to_05_run_on_a_given_checkpoint(repo_copy, embedded_run):
    """The parameter ``checkpoint`` (the README's chain from ``fracbnn import-release``): notebook 03 analyses the
    checkpoint instead of training, 04 exports it and runs the photographs, 05 checks the export came from it."""
    import json
    import shutil

    from session_runs import run_command, user_environment

    given = repo_copy / "given" / "authors.pt"
    given.parent.mkdir()
    shutil.copy(embedded_run.run_dir / "checkpoints" / "final.pt", given)
    command = (
        "python -m fracbnn_lib pipeline --params params/synthetic.yaml --run-name given --only 03,04,05 "
        "--set checkpoint=given/authors.pt --set test_vectors=40"
    )
    done = run_command(command, repo_copy, user_environment(repo_copy))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = repo_copy / "runs" / "given"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "stage2" not in metrics and "stage3" not in metrics  # nothing trained
    assert metrics["final"]["checkpoint"] == "authors.pt" and metrics["final"]["test_accuracy"] > 0.1  # chance 0.1
    assert (run_dir / "checkpoints" / "final.pt").read_bytes() == given.read_bytes()
    assert metrics["final"]["test_accuracy"] == embedded_run.metrics["final"]["test_accuracy"]  # the same network
    assert 0 < metrics["gating"]["sparsity"] < 1 and metrics["gating"]["per_layer"]
    assert "sweep" not in metrics["gating"]
    manifest = json.loads((run_dir / "export" / "manifest.json").read_text())
    assert manifest["source"]["checkpoint"].endswith("given/authors.pt")
    assert metrics["hls"]["csim_reference_mismatched_outputs"] == 0 and metrics["hls"]["images"] == 40
    assert metrics["board"]["accuracy"] == metrics["hls"]["accuracy_csim"]
    executed = nbformat.read(run_dir / "04_hls_export.ipynb", as_version=4)
    photographs = [c for c in executed.cells if "L.photograph_table(" in c.source]
    assert "C-simulation equal to the reference on every photograph: True" in _outputs_text(photographs[0])
    executed = nbformat.read(run_dir / "05_board_eval.ipynb", as_version=4)
    setup = [c for c in executed.cells if "board.check_vectors_source(" in c.source]
    assert "test vectors exported from authors.pt" in _outputs_text(setup[0])
