"""Board evaluation: test vectors, the csim backend, the report, the deploy bundle, notebook 05, the bitstream flow.

The board path's register sequence is tested against the PYNQ stand-in in ``test_board_pynq.py``;
here the stand-in serves once more, as the ``pynq`` module of a notebook kernel in which PyTorch is
blocked (the board has none). Tests that need a real export (the HLS export and C-simulation of
``fracbnn_lib.hw``) share one, built once per session.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_board_pynq import build_real_export, standin_module_source, write_fake_export, write_standin_hwh

from fracbnn_lib import board, deploy
from fracbnn_lib.board import BoardError, FracNetDriver, load_vectors

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "05_board_eval.ipynb"
BITSTREAM_FLOW = ROOT / "hls" / "common" / "bitstream"
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:home|tmp|work|root|Users|private|var)/")

BLOCK_TORCH = """\
import os
import sys


class _NoTorchOnTheBoard:
    \"\"\"PYNQ board images have no PyTorch: any import of torch/torchvision fails (and is logged).\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            log = os.environ.get("FRACBNN_BLOCKED_LOG")
            if log:
                with open(log, "a") as handle:
                    handle.write(name + "\\n")
            raise ImportError(name + " is blocked: PYNQ board images have no PyTorch")
        return None


sys.meta_path.insert(0, _NoTorchOnTheBoard())
"""


@pytest.fixture
def fake_export(tmp_path: Path) -> Path:
    return write_fake_export(tmp_path / "run" / "export")


@pytest.fixture(scope="session")
def real_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_real_export(tmp_path_factory)


def _execute(notebook: Path, out: Path, cwd: Path, **parameters) -> nbformat.NotebookNode:
    import papermill

    papermill.execute_notebook(
        str(notebook), str(out), parameters=parameters, kernel_name="python3", cwd=str(cwd), progress_bar=False
    )
    executed = nbformat.read(out, as_version=4)
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            assert output.get("name") != "stderr", f"stderr in {cell.source[:60]!r}: {output.get('text')}"
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert not ABSOLUTE_PATH.search(text), f"absolute path printed by {cell.source[:60]!r}"
    return executed


# --------------------------------------------------------------------------- portability to the board


PY39_ATTRIBUTES = {"removeprefix", "removesuffix", "is_relative_to", "with_stem", "bit_count", "cache"}
BUILTIN_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}


def _python38_problems(source: str) -> list[str]:
    """Syntax Python 3.8 rejects (``SyntaxError``) and 3.9+ runtime features used outside annotations."""
    tree = ast.parse(source, feature_version=(3, 8))
    in_annotation: set[int] = set()
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args.args + node.args.kwonlyargs + node.args.posonlyargs
            arguments += [a for a in (node.args.vararg, node.args.kwarg) if a is not None]
            annotations += [a.annotation for a in arguments if a.annotation is not None]
            annotations += [node.returns] if node.returns is not None else []
        in_annotation.update(id(sub) for a in annotations for sub in ast.walk(a))
    problems = []
    for node in ast.walk(tree):
        if id(node) in in_annotation:
            continue
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in BUILTIN_GENERICS:
            problems.append(f"line {node.lineno}: {node.value.id}[...] at run time")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            sides = (node.left, node.right)
            if any(isinstance(s, ast.Constant) and s.value is None for s in sides) or any(
                isinstance(s, ast.Name) and s.id in BUILTIN_GENERICS | {"int", "float", "str", "bool", "bytes"}
                for s in sides
            ):
                problems.append(f"line {node.lineno}: X | Y type union at run time")
        if isinstance(node, ast.Attribute) and node.attr in PY39_ATTRIBUTES:
            problems.append(f"line {node.lineno}: .{node.attr} (Python 3.9+)")
        if isinstance(node, ast.Call) and any(k.arg == "strict" for k in node.keywords):
            problems.append(f"line {node.lineno}: strict= (Python 3.10+)")
    return problems


def _notebook_code(path: Path) -> str:
    cells = nbformat.read(path, as_version=4).cells
    lines = [line for c in cells if c.cell_type == "code" for line in c.source.splitlines()]
    return "\n".join(line for line in lines if not line.lstrip().startswith("%"))


def test_the_python38_checker_catches_what_a_board_python_rejects():
    assert _python38_problems("x: list[int] = []\ndef f(a: int | None) -> dict[str, int]: ...") == []
    assert len(_python38_problems("y = list[int]\nisinstance(1, int | None)\n'a'.removeprefix('b')")) == 3
    with pytest.raises(SyntaxError):
        _python38_problems("match x:\n    case 1:\n        pass")


@pytest.mark.parametrize("name", deploy.CARRIED_MODULES)
def test_carried_modules_keep_to_python38_and_import_only_carried_modules(name):
    source = (deploy.PACKAGE_ROOT / name).read_text()
    assert _python38_problems(source) == []
    tree = ast.parse(source)
    annotated = any(isinstance(n, (ast.AnnAssign, ast.arg)) and n.annotation is not None for n in ast.walk(tree))
    lazy = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree.body)
    assert lazy or not annotated, "annotations must stay unevaluated (from __future__ import annotations)"
    folder = Path(name).parent
    for node in tree.body:  # module-level imports (functions for the repository side may import lazily)
        if isinstance(node, ast.ImportFrom) and node.level:
            base = folder.joinpath(*[".."] * (node.level - 1)) if node.level > 1 else folder
            target = os.path.normpath(base / (node.module or "").replace(".", "/"))
            carried = {
                os.path.normpath(m.removesuffix(".py").removesuffix("/__init__")) for m in deploy.CARRIED_MODULES
            }
            assert target in carried, f"{name} imports {target}, which the bundle does not carry"
    for node in tree.body:  # what importing the module needs (TYPE_CHECKING blocks and function-level imports apart)
        imported = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        imported += [node.module] if isinstance(node, ast.ImportFrom) and not node.level and node.module else []
        for module in imported:
            assert module.split(".")[0] not in ("torch", "torchvision", "fracbnn_lib", "pandas"), module


def test_notebook_05_keeps_to_python38():
    assert _python38_problems(_notebook_code(NOTEBOOK)) == []


def test_the_carried_package_imports_with_torch_blocked(tmp_path):
    for module in deploy.CARRIED_MODULES:
        (tmp_path / deploy.BUNDLE_PACKAGE / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(deploy.PACKAGE_ROOT / module, tmp_path / deploy.BUNDLE_PACKAGE / module)
    script = (
        BLOCK_TORCH
        + "from fracbnn_lib import board\nimport json\n"
        + "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
        + "print(board.resolve_target('auto', 'FracNet_T.bit'))\n"
        + "print(board.accuracy([[0.0, 1.0]], [1]), board.update_metrics('.', 'board', {'fps': 1.0}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    modules, target, used = done.stdout.strip().splitlines()
    assert not {"torch", "torchvision", "pandas"} & set(json.loads(modules))
    assert target == "csim"  # no pynq here
    assert used == "1.0 {'board': {'fps': 1.0}}" and json.loads((tmp_path / "metrics.json").read_text())


# --------------------------------------------------------------------------- test vectors


def test_vectors_load_with_a_subset(fake_export):
    vectors = load_vectors(fake_export)
    assert len(vectors) == vectors.total == 6 and vectors.images.dtype == np.uint64
    assert vectors.expected_logits.dtype == np.float32 and vectors.labels.dtype == np.int64
    first = load_vectors(fake_export, max_images=4)
    assert len(first) == 4 and first.total == 6
    np.testing.assert_array_equal(first.images, vectors.images[:4])
    assert len(load_vectors(fake_export, max_images=50)) == 6
    assert board.class_names(vectors.manifest)[3] == "class3" and board.class_names({})[3] == "3"


@pytest.mark.parametrize(
    ("file", "array", "message"),
    [
        ("images.npy", np.zeros((6, 3, 32, 32), np.int64), "expected uint64 N x 3 x 32 x 32 thermometer words"),
        ("images.npy", np.zeros((6, 3, 32, 31), np.uint64), "got uint64 (6, 3, 32, 31)"),
        ("images.npy", np.zeros((6, 96, 32, 32), np.uint64), "got uint64 (6, 96, 32, 32)"),
        ("labels.npy", np.zeros(5, np.int64), "expected 6 integer labels"),
        ("expected_logits.npy", np.zeros((6, 100), np.float32), "expected 6 x 10 logits"),
        ("labels.npy", None, "test vectors incomplete"),
    ],
)
def test_vector_shape_mismatches_are_clear_errors(fake_export, file, array, message):
    if array is None:
        (fake_export / file).unlink()
    else:
        np.save(fake_export / file, array)
    with pytest.raises(BoardError, match=re.escape(message)) as info:
        load_vectors(fake_export)
    assert "\n" not in str(info.value)


def test_vectors_are_found_from_the_parameters(tmp_path, fake_export, monkeypatch):
    run_dir = fake_export.parent
    assert board.find_vectors("", run_dir) == run_dir / "export"
    assert board.find_vectors(fake_export, "elsewhere") == fake_export
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BoardError, match="no test vectors in nowhere/export or vectors: run notebook 04"):
        board.find_vectors("", "nowhere")
    (tmp_path / "vectors").mkdir()
    assert board.find_vectors("", "nowhere") == Path("vectors")  # a deploy bundle's folder
    with pytest.raises(BoardError, match="export folder missing not found"):
        board.find_vectors("missing", run_dir)
    with pytest.raises(BoardError, match="max_images must be 0"):
        load_vectors(fake_export, max_images=-1)


def test_a_given_checkpoint_must_be_the_one_the_vectors_were_exported_from(tmp_path, fake_export):
    """Notebook 05's ``checkpoint``: the export manifest's ``source.sha256`` against the file's."""
    import dataclasses

    from fracbnn_lib.files import sha256

    checkpoint, other = tmp_path / "final.pt", tmp_path / "other.pt"
    checkpoint.write_bytes(b"the exported weights")
    other.write_bytes(b"other weights")
    source = {"checkpoint": "runs/release/checkpoints/final.pt", "sha256": sha256(checkpoint)}
    vectors = dataclasses.replace(load_vectors(fake_export), manifest={"source": source})
    board.check_vectors_source(vectors, checkpoint)  # the same bytes: accepted
    with pytest.raises(BoardError, match="exported from runs/release/checkpoints/final.pt, not from") as err:
        board.check_vectors_source(vectors, other)
    assert "run notebook 04 with this checkpoint first" in str(err.value) and len(str(err.value).splitlines()) == 1
    with pytest.raises(BoardError, match="checkpoint .*missing.pt not found"):
        board.check_vectors_source(vectors, tmp_path / "missing.pt")
    unrecorded = dataclasses.replace(vectors, manifest={})
    with pytest.raises(BoardError, match="exported from an unrecorded model"):
        board.check_vectors_source(unrecorded, checkpoint)


def test_driver_targets_and_input_checks(fake_export):
    with pytest.raises(BoardError, match="unknown target 'fpga': choose one of auto, pynq, csim"):
        FracNetDriver("fpga")
    with pytest.raises(BoardError, match="target 'csim' needs export_dir"):
        FracNetDriver("csim")
    with pytest.raises(BoardError, match="expected uint64 N x 3 x 32 x 32"):
        board.driver.check_images(np.zeros((2, 3, 32, 32), np.float32))
    with pytest.raises(BoardError, match="no images"):
        board.driver.check_images(np.zeros((0, 3, 32, 32), np.uint64))


def test_address_writes_are_32_bit_bus_writes_for_each_register_spelling():
    def regs(**layout):
        return {name: {"address_offset": offset, "size": size} for name, (offset, size) in layout.items()}

    address = 0x8_1234_5678
    writes = board.driver.address_writes
    assert writes(regs(image_1=(0x10, 32), image_2=(0x14, 32)), "image", address) == [(0x10, 0x1234_5678), (0x14, 0x8)]
    assert writes(regs(image=(0x10, 64)), "image", address) == [(0x10, 0x1234_5678), (0x14, 0x8)]
    assert writes(regs(image_V=(0x10, 32)), "image", 0x1000) == [(0x10, 0x1000)]
    assert writes(regs(output_r=(0x18, 32)), "output", 0x2000) == [(0x18, 0x2000)]
    assert writes(regs(out_r_1=(0x1C, 32)), "output", 0x2000) == [(0x1C, 0x2000)]
    with pytest.raises(BoardError, match="needs out_r_2"):
        writes(regs(out_r_1=(0x1C, 32)), "output", address)
    with pytest.raises(BoardError, match="does not fit the 32-bit register image_V"):
        writes(regs(image_V=(0x10, 32)), "image", address)


# --------------------------------------------------------------------------- the report


def test_accuracy_confusion_and_agreement():
    labels = np.array([0, 1, 2, 2])
    logits = np.eye(3, dtype=np.float32)[[0, 2, 2, 1]]
    assert board.accuracy(logits, labels) == 0.5
    np.testing.assert_array_equal(
        board.confusion_matrix(labels, logits.argmax(axis=1), 3), [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    )
    expected = logits.copy()
    expected[1, 0] = 0.5  # same arg-max, one logit differs
    expected[3] = [0.0, 0.0, 1.0]  # another arg-max
    agreement = board.logit_agreement(logits, expected)
    assert agreement == {
        "images": 4,
        "identical_images": 2,
        "mismatched_logits": 3,
        "max_abs_diff": 1.0,
        "argmax_agreement": 0.75,
    }


def test_timing_and_board_metrics():
    timing = board.Timing(np.array([0.001, 0.002, 0.003, 0.004, 0.010]), wall_s=0.025)
    assert timing.latency_ms_median == pytest.approx(3.0)
    assert timing.latency_ms_p95 == pytest.approx(8.8)  # linear interpolation between 4 and 10 ms
    assert timing.fps == pytest.approx(200.0)
    result = board.BatchResult(np.eye(10, dtype=np.float32)[[1, 2, 3, 4, 5]], timing, "csim")
    metrics = board.board_metrics(result, np.array([1, 2, 3, 4, 0]))
    assert tuple(metrics) == board.report.BOARD_KEYS
    assert metrics["backend"] == "csim" and metrics["images"] == 5 and metrics["accuracy"] == pytest.approx(0.8)
    text = board.comparison_text(metrics)
    assert "(C-simulation on the host CPU, not a board figure)" in text.splitlines()[0]
    rows = {line[:27].strip(): line for line in text.splitlines()[2:]}
    assert rows["top-1 accuracy"].split()[2] == "0.891" and rows["top-1 accuracy"].endswith(" 0.800")
    assert "2806.9 images/s" in text and "1419.2 images/s" in text and "0.70 ms" in text and "4.1 W" in text
    assert rows["latency per image, median"].endswith("3.000 ms") and rows["throughput"].endswith("200.0 images/s")
    assert "PYNQ board" in board.comparison_text({**metrics, "backend": "pynq"}).splitlines()[0]
    assert rows["chance accuracy"].endswith(" 0.100 (1 of 10 classes)")
    assert "paper (CIFAR-10, FracBNN top-1)" in rows["top-1 accuracy"] and "float" not in text
    assert "as reported (CIFAR-10, Ultra96v2)" in rows["throughput"]


def test_the_board_comparison_takes_the_paper_figures_of_the_vectors_network():
    timing = board.Timing(np.array([0.5, 0.5]), wall_s=1.0)
    result = board.BatchResult(np.eye(10, dtype=np.float32)[[1, 2]], timing, "csim")
    metrics = board.board_metrics(result, np.array([1, 0]))
    rows = {line[:27].strip(): line for line in board.comparison_text(metrics, "imagenet-tiny").splitlines()[2:]}
    assert rows["top-1 accuracy"].split()[2] == "0.718" and "paper (ImageNet, FracBNN top-1)" in rows["top-1 accuracy"]
    assert "48.1 images/s" in rows["throughput"] and "as reported (ImageNet, Ultra96v2)" in rows["throughput"]
    assert "6.1 W" in rows["power"] and "throughput, release's run" not in rows  # the release measured CIFAR-10 only
    assert rows["latency per image, median"].endswith("500.000 ms")  # measured here, with no paper figure beside it
    assert rows["chance accuracy"].endswith(" 0.100 (1 of 10 classes)")
    imagenet = {line[:27].strip(): line for line in board.comparison_text(metrics, "imagenet").splitlines()[2:]}
    assert imagenet["chance accuracy"].endswith(" 0.001 (1 of 1000 classes)")


def test_board_figures_carry_an_agg_canvas_so_old_matplotlib_lays_them_out_without_a_warning():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for fig in (board.plot_confusion(np.eye(3, dtype=np.int64), ["a", "b", "c"]), board.plot_latency(np.ones(5))):
        assert isinstance(fig.canvas, FigureCanvasAgg)


def test_metrics_merge_and_figures_are_atomic(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"hls": {"accuracy_csim": 0.5}, "board": {"old": 1}}))
    merged = board.update_metrics(tmp_path, "board", {"accuracy": 0.5, "backend": "csim"})
    assert merged == json.loads((tmp_path / "metrics.json").read_text())
    assert merged == {"hls": {"accuracy_csim": 0.5}, "board": {"old": 1, "accuracy": 0.5, "backend": "csim"}}
    matrix = board.confusion_matrix(np.arange(10), np.arange(10))
    path = board.save_figure(board.plot_confusion(matrix, [str(k) for k in range(10)], "t"), tmp_path, "cm")
    assert path == tmp_path / "figures" / "cm.png" and path.read_bytes()[:4] == b"\x89PNG"
    board.save_figure(board.plot_latency(np.array([0.001, 0.002, 0.004])), tmp_path, "lat")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cm.png", "figures", "lat.png", "metrics.json"]


# --------------------------------------------------------------------------- the C-simulation backend


def test_the_csim_backend_returns_the_exported_logits(real_export):
    from fracbnn_lib.hw import cifar10 as hw

    vectors = load_vectors(real_export)
    with FracNetDriver("csim", export_dir=real_export) as accel:
        assert accel.name == "csim" and "not a board measurement" in accel.describe()
        result = accel.run(vectors.images)
    np.testing.assert_array_equal(result.logits, vectors.expected_logits)
    np.testing.assert_array_equal(result.logits, hw.reference_predict(real_export, vectors.images))
    assert result.timing.latencies_s.shape == (len(vectors),) and result.timing.fps > 0
    one = FracNetDriver("auto", export_dir=real_export).predict(vectors.images[0])  # no pynq here: csim
    np.testing.assert_array_equal(one, result.logits[:1])


# --------------------------------------------------------------------------- the deploy bundle


def _csim_files() -> set[str]:
    """What the bundle carries for its C-simulation: the sources and the ap_types headers with their licence."""
    from fracbnn_lib.hw.cifar10.csim import SOURCES
    from fracbnn_lib.hw.csim_build import ap_types_dir
    from fracbnn_lib.hw.imagenet.csim import SOURCES as IMAGENET_SOURCES

    ap_types = ap_types_dir()
    headers = {f"hls/ap_types/{p.relative_to(ap_types).as_posix()}" for p in ap_types.rglob("*") if p.is_file()}
    sources = {f"hls/cifar10/{name}" for name in SOURCES} | {f"hls/imagenet/{name}" for name in IMAGENET_SOURCES}
    return {os.path.normpath(name) for name in sources} | headers | {"hls/ap_types/LICENSE"}


BUNDLE_FILES = {
    "05_board_eval.ipynb",
    "README.md",
    *(f"fracbnn_lib/{module}" for module in deploy.CARRIED_MODULES),
    "vectors/images.npy",
    "vectors/labels.npy",
    "vectors/expected_logits.npy",
    "vectors/manifest.json",
    *_csim_files(),
}


def test_the_bundle_is_complete(tmp_path, fake_export):
    for tree in ("fracnet_prj/solution1", "bitstream/vivado", "build"):  # what make hls / make vivado leave
        (fake_export / tree).mkdir(parents=True)
        (fake_export / tree / "big.dcp").write_bytes(b"\0" * 1000)
    out = deploy.write_bundle(fake_export, tmp_path / "deploy" / "demo", source="demo-run")
    manifest = json.loads((out / "bundle.json").read_text())
    assert set(manifest["files"]) == BUNDLE_FILES  # the export's own files only: no build trees
    assert manifest["bytes"] == sum((out / name).stat().st_size for name in BUNDLE_FILES)
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == BUNDLE_FILES | {"bundle.json"}
    for name, info in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == info["sha256"]
    assert manifest["images"] == 6 and manifest["bitstream"] is False and manifest["source"] == "demo-run"
    vectors = load_vectors(out / "vectors")
    np.testing.assert_array_equal(vectors.images, load_vectors(fake_export).images)
    for module in deploy.CARRIED_MODULES:
        assert (out / "fracbnn_lib" / module).read_text() == (deploy.PACKAGE_ROOT / module).read_text()
    readme = (out / "README.md").read_text()
    for needle in ("PYNQ 2.7 (Python 3.8)", "PYNQ 3.0", "FracNet_T.bit", "FracNet_T.hwh", "scp -r deploy/demo", "csim"):
        assert needle in readme
    notebook = nbformat.read(out / deploy.NOTEBOOK, as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    values = {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(parameters.source).body}
    assert {k: values[k] for k in deploy.BUNDLE_PARAMETERS} == deploy.BUNDLE_PARAMETERS
    assert values["dataset"] == "synthetic" and values["max_images"] == 0
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert [p.name for p in out.parent.iterdir()] == ["demo"], "no staging folder left behind"


def test_the_bundle_carries_a_bitstream_and_refuses_bad_input(tmp_path, fake_export):
    (tmp_path / "build").mkdir()
    bit = write_standin_hwh(tmp_path / "build" / "design_1_wrapper.bit", export_dir=fake_export)
    out = deploy.write_bundle(fake_export, tmp_path / "deploy" / "b", bitstream=bit)
    assert (out / "FracNet_T.bit").read_bytes() == bit.read_bytes()
    assert (out / "FracNet_T.hwh").read_text() == bit.with_suffix(".hwh").read_text()
    assert json.loads((out / "bundle.json").read_text())["bitstream"] is True
    with pytest.raises(BoardError, match="exists: pass --force"):
        deploy.write_bundle(fake_export, out)
    before = (out / "bundle.json").read_text()
    with pytest.raises(BoardError, match="other.hwh not found beside other.bit"):
        (tmp_path / "other.bit").write_bytes(b"x")
        deploy.write_bundle(fake_export, out, bitstream=tmp_path / "other.bit", overwrite=True)
    assert (out / "bundle.json").read_text() == before, "a failed write leaves the bundle as it was"
    np.save(fake_export / "images.npy", np.zeros((6, 3, 16, 16), np.uint64))
    with pytest.raises(BoardError, match=r"got uint64 \(6, 3, 16, 16\)"):
        deploy.write_bundle(fake_export, out, overwrite=True)
    write_fake_export(fake_export, n=3)
    deploy.write_bundle(fake_export, out, overwrite=True)
    assert json.loads((out / "bundle.json").read_text())["images"] == 3
    assert sorted(p.name for p in out.parent.iterdir()) == ["b"]


def test_the_deploy_command(tmp_path, fake_export, capsys):
    from fracbnn_lib.cli import main as fracbnn

    run_dir = fake_export.parent
    assert fracbnn(["deploy", "--run-dir", str(run_dir), "--out-dir", str(tmp_path / "deploy")]) == 0
    out = capsys.readouterr().out
    assert f"6 test vectors, {len(BUNDLE_FILES)} files" in out and "scp -r" in out and "rerun with --bitstream" in out
    assert (tmp_path / "deploy" / "run" / "bundle.json").is_file()
    assert deploy.main(["--run-dir", str(run_dir), "--out-dir", str(tmp_path / "deploy")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fracbnn deploy: error:") and "--force" in err and len(err.splitlines()) == 1
    assert deploy.main(["--run-dir", str(tmp_path / "no-run"), "--out-dir", str(tmp_path / "deploy")]) == 1
    err = capsys.readouterr().err
    assert "no export in" in err and "run notebook 04" in err and len(err.strip().splitlines()) == 1
    assert deploy.main(["--export-dir", str(fake_export), "--out-dir", str(tmp_path / "d2"), "--name", "x"]) == 0
    assert (tmp_path / "d2" / "x" / "vectors" / "images.npy").is_file()


# --------------------------------------------------------------------------- notebook 05


def test_notebook_05_runs_in_the_bundle_on_a_torchless_board(tmp_path, fake_export, monkeypatch):
    """The bundle's notebook, target "auto", on a Python without PyTorch whose ``pynq`` is the labelled stand-in."""
    bit = write_standin_hwh(tmp_path / "FracNet_T.bit", layout="pynq2-vitis", model="table", export_dir=fake_export)
    out = deploy.write_bundle(fake_export, tmp_path / "deploy" / "board", bitstream=bit)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_TORCH)
    (site / "pynq.py").write_text(standin_module_source())
    blocked = tmp_path / "blocked.log"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(Path(__file__).parent)]))
    monkeypatch.setenv("FRACBNN_BLOCKED_LOG", str(blocked))
    executed = _execute(out / deploy.NOTEBOOK, tmp_path / "executed.ipynb", cwd=out)
    assert not blocked.exists(), f"torch imported on the board: {blocked.read_text()}"
    metrics = json.loads((out / "metrics.json").read_text())["board"]
    vectors = load_vectors(fake_export)
    assert metrics["backend"] == "pynq" and metrics["images"] == len(vectors) and metrics["mismatched_logits"] == 0
    assert metrics["accuracy"] == board.accuracy(vectors.expected_logits, vectors.labels)
    assert {p.name for p in (out / "figures").iterdir()} == {"05_confusion.png", "05_latency.png"}
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "backend pynq: PYNQ board: IP FracNet_T_0 of overlay FracNet_T.bit" in text


def test_notebook_05_in_the_pipeline_equals_the_csim(tmp_path, real_export):
    """In a run folder with notebook 04's export: the board accuracy is the C-simulation's on the same images."""
    from fracbnn_lib.hw import cifar10 as hw

    run_dir = tmp_path / "run"
    shutil.copytree(real_export, run_dir / "export")
    vectors = load_vectors(real_export)
    csim_accuracy = board.accuracy(hw.csim_predict(real_export, vectors.images), vectors.labels)
    (run_dir / "metrics.json").write_text(json.dumps({"hls": {"images": len(vectors), "accuracy_csim": csim_accuracy}}))
    executed = _execute(NOTEBOOK, tmp_path / "05.ipynb", cwd=NOTEBOOK.parent, run_dir=str(run_dir), target="csim")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(board.report.BOARD_KEYS) <= set(metrics["board"])
    assert metrics["board"]["backend"] == "csim" and metrics["board"]["images"] == len(vectors)
    assert metrics["board"]["accuracy"] == metrics["hls"]["accuracy_csim"] == csim_accuracy
    assert metrics["board"]["mismatched_logits"] == 0
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert f"logits identical on {len(vectors)} of {len(vectors)} images" in text
    assert {p.name for p in (run_dir / "figures").iterdir()} == {"05_confusion.png", "05_latency.png"}


BOARD_PACKAGES = ("numpy==1.23.5", "matplotlib==3.6.3", "matplotlib-inline<0.1.7", "nbconvert", "ipykernel")
"""A board's Python without PyTorch: the oldest numpy and matplotlib with wheels for this interpreter (PYNQ 2.7
ships numpy 1.20.3 and matplotlib 3.1.2 on Python 3.8, which have none here), and what executes a notebook
(matplotlib-inline 0.1.7 needs matplotlib 3.7's ``rcParams._get``, so the one before it, as old images have)."""


@pytest.fixture(scope="session")
def torch_free_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with :data:`BOARD_PACKAGES` only (installed from the package registry)."""
    venv = tmp_path_factory.mktemp("board-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *BOARD_PACKAGES], check=True, timeout=900, capture_output=True
    )
    assert subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode != 0
    return python


@pytest.mark.slow
def test_the_bundle_verifies_itself_in_a_torch_free_python(tmp_path, real_export, torch_free_python):
    """Copied out of the repository, run by a Python without PyTorch (nor hls4ml): notebook 05's C-simulation,
    compiled from the bundle's own sources and headers, gives expected_logits.npy bit for bit."""
    built = deploy.write_bundle(real_export, tmp_path / "deploy" / "laptop")
    out = shutil.copytree(built, tmp_path / "elsewhere" / "laptop")
    shutil.rmtree(built.parent)
    assert (out / "hls" / "cifar10" / "fracnet.cc").is_file() and (out / "hls" / "ap_types" / "ap_fixed.h").is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FRACBNN_", "VIRTUAL_ENV"))}
    env |= {"FRACBNN_CACHE_DIR": str(tmp_path / "cache"), "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"}
    command = [str(torch_free_python), "-m", "nbconvert", "--to", "notebook", "--execute", deploy.NOTEBOOK,
               "--ExecutePreprocessor.kernel_name=python3", "--output", "executed.ipynb"]  # fmt: skip
    done = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())["board"]
    vectors = load_vectors(out / "vectors")
    assert metrics["backend"] == "csim" and metrics["images"] == len(vectors) and metrics["mismatched_logits"] == 0
    assert any((tmp_path / "cache").glob("libfracnet-csim-*.so")), "the bundle's C-simulation was not built there"
    executed = nbformat.read(out / "executed.ipynb", as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    stderr = [o.get("text", "") for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not errors and not stderr, (errors, stderr)


def test_an_imagenet_bundle_reproduces_its_logits_with_torch_blocked(tmp_path):
    """The ImageNet export's bundle: its DRAM images, hls/imagenet and the reactnet csim, run without PyTorch."""
    import torch

    from fracbnn_lib.hw.imagenet.export import export_accelerator as export_imagenet_accelerator
    from fracbnn_lib.models import fracbnn_reactnet

    torch.manual_seed(0)
    images = torch.rand(2, 3, 224, 224)
    export = export_imagenet_accelerator(fracbnn_reactnet(num_classes=10).eval(), tmp_path / "export", images, [1, 2])
    out = deploy.write_bundle(export, tmp_path / "deploy" / "imagenet")
    carried = set(json.loads((out / "bundle.json").read_text())["files"])
    assert {"vectors/weights.bin", "vectors/params.bin", "vectors/classifier.npz", "hls/imagenet/engines.h"} <= carried
    notebook = nbformat.read(out / deploy.NOTEBOOK, as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assert 'bitstream = "FracNetImageNet.bit"' in parameters.source
    script = (
        BLOCK_TORCH
        + "import numpy as np\nfrom fracbnn_lib import board\n"
        + "vectors = board.load_vectors('vectors')\n"
        + "with board.FracNetDriver('csim', export_dir='vectors') as accel:\n"
        + "    logits = accel.run(vectors.images).logits\n"
        + "print(accel.name, vectors.accelerator.name, bool(np.array_equal(logits, vectors.expected_logits)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=out, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["csim", "imagenet", "True"]


def test_notebook_05_runs_inside_the_bundle_with_csim(tmp_path, real_export):
    out = deploy.write_bundle(real_export, tmp_path / "deploy" / "csim")
    _execute(out / deploy.NOTEBOOK, tmp_path / "executed.ipynb", cwd=out, target="csim")
    metrics = json.loads((out / "metrics.json").read_text())["board"]
    vectors = load_vectors(out / "vectors")
    assert metrics["backend"] == "csim" and metrics["mismatched_logits"] == 0
    assert metrics["accuracy"] == board.accuracy(vectors.expected_logits, vectors.labels)


# --------------------------------------------------------------------------- the bitstream flow


def test_the_block_design_script_builds_the_ultra96v2_design():
    script = BITSTREAM_FLOW / "block_design.tcl"
    tcl = script.read_text()
    if shutil.which("tclsh"):
        check = f"set f [open {{{script}}}]\nputs [info complete [read $f]]\n"
        done = subprocess.run(["tclsh"], input=check, capture_output=True, text=True, timeout=30)
        assert done.stdout.strip() == "1", f"unbalanced braces or quotes in block_design.tcl {done.stderr}"
    for needle in (
        "xczu3eg-sbva484-1-e",
        "zynq_ultra_ps_e",
        'set hls_ip "xilinx.com:hls:${top}:1.0"',
        "set top FracNet_T",
        "--top        { set top $value }",
        "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $clock_mhz",
        "set clock_mhz [fracnet_clock_mhz]",  # hls/common/clock.mk, shared with the HLS target
        "get_bd_intf_pins -of_objects $accel -filter {MODE == Master}",  # every AXI master, each on its HP port
        "S_AXI_HP${hp}_FPD",
        "PSU__USE__S_AXI_GP[expr {$hp + 2}]",
        "${top}_0/s_axi_CTRL",
        "M_AXI_HPM0_FPD",
        "smartconnect",
        "proc_sys_reset",
        "write_bitstream",
        ".hwh",
    ):
        assert needle in tcl, needle


def test_make_vivado_without_vivado_says_what_to_install(tmp_path):
    done = subprocess.run(
        ["make", "-C", str(BITSTREAM_FLOW), f"OUT={tmp_path}", "VIVADO=vivado-not-installed"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "vivado not found" in done.stdout + done.stderr and not any(tmp_path.iterdir())


@pytest.mark.parametrize(("accelerator", "top"), [("cifar10", "FracNet_T"), ("imagenet", "FracNetImageNet")])
def test_make_vivado_builds_from_the_exports_ip_into_the_export(tmp_path, accelerator, top):
    """`make vivado` in hls/<accelerator> hands the HLS IP, its top and the output folder to the block design."""
    export = tmp_path / "export"
    export.mkdir()
    hls = ROOT / "hls" / accelerator
    done = subprocess.run(["make", "-C", str(hls), "vivado", f"EXPORT={export}"], capture_output=True, text=True)
    assert done.returncode != 0 and "no exported IP" in done.stderr and "run make hls first" in done.stderr
    ip = export / "fracnet_prj" / "solution1" / "impl" / "ip"
    ip.mkdir(parents=True)
    fake = tmp_path / "vivado"
    fake.write_text('#!/bin/sh\necho "$@" > "$FAKE_VIVADO_ARGS"\n')
    fake.chmod(0o755)
    log = tmp_path / "args.txt"
    env = {**os.environ, "FAKE_VIVADO_ARGS": str(log)}
    command = ["make", "-C", str(hls), "vivado", f"EXPORT={export}", f"VIVADO={fake}"]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    args = log.read_text().split()
    assert args[args.index("--ip-repo") + 1] == str(ip) and args[args.index("--out") + 1] == str(export / "bitstream")
    assert (export / "bitstream").is_dir() and args[args.index("-source") + 1] == "block_design.tcl"
    assert args[args.index("--top") + 1] == top
