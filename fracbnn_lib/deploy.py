"""The deploy bundle: everything a PYNQ board needs to run notebook 05, written to ``deploy/<name>/``.

``python -m fracbnn_lib deploy [--run-dir runs/default] [--export-dir DIR] [--out-dir deploy]
[--name NAME] [--bitstream path/to/FracNet_T.bit] [--force]`` writes::

    deploy/<name>/
        05_board_eval.ipynb     notebook 05, outputs cleared, parameters set for the board
                                (target "auto", export_dir "vectors", bitstream "FracNet_T.bit", no run_dir)
        fracbnn_lib/            the library's torch-free part: board/ (driver and report), the accelerators'
                                registry, both accelerators' export readers and C-simulations (hw/), files,
                                run_files, paper, logits
        hls/                    cifar10/, imagenet/ and common/ (the HLS C++ the C-simulations compile) and
                                ap_types/ (the ap_int.h / ap_fixed.h headers of the hls4ml wheel, Apache-2.0)
        vectors/                the files the run's export wrote (every one its manifest lists, checked
                                against its SHA-256 first): images.npy, labels.npy, expected_logits.npy,
                                manifest.json, the parameters and the headers (no build trees)
        <top>.bit/.hwh          only with --bitstream (the .hwh must sit beside the .bit)
        README.md               PYNQ images supported, where the bitstream goes, scp and run steps
        bundle.json             name, source run, vector count, total bytes, every file with its size and sha256

The export's manifest says which accelerator it belongs to (:func:`fracbnn_lib.accelerators.accelerator_of`);
every file the manifest lists must be present and match its SHA-256 before anything is written. The bundle
is built in a temporary folder beside the target and renamed into place, so an interrupted run leaves no
half-written bundle; an existing bundle is replaced only with ``--force``. Host tooling: the bundle carries
:mod:`fracbnn_lib.board`, not this module.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .accelerators import ACCELERATORS, Accelerator, by_name
from .board.driver import BUNDLE_VECTORS, BoardError, check_bitstream, load_vectors
from .cli import OneLineParser
from .files import replace_folder, sha256, staging_folder
from .hw.csim_build import AP_TYPES_IN_HLS_ROOT, ap_types_dir
from .hw.export_folder import ExportError, accelerator_of, checked_file, read_manifest

BUNDLE_PACKAGE = "fracbnn_lib"
CARRIED_MODULES = (
    "__init__.py",
    "lazy.py",
    "version.py",
    "files.py",
    "run_files.py",
    "paper.py",
    "logits.py",
    "accelerators.py",
    "topology.py",
    "board/__init__.py",
    "board/driver.py",
    "board/report.py",
    "hw/__init__.py",
    "hw/bits.py",
    "hw/csim_build.py",
    "hw/export_folder.py",
    "hw/fixed_point.py",
    "kernels/__init__.py",
    "kernels/native.py",
    *(
        f"hw/{accelerator.name}/{module}.py"
        for accelerator in ACCELERATORS
        for module in ("__init__", "layout", "params", "export", "csim")
    ),
)
"""Modules of :mod:`fracbnn_lib` the bundle carries, as the same package (none imports PyTorch or pandas):
the driver and its report, the registry, and both accelerators' export readers and C-simulations, so
``target="csim"`` runs in the bundle."""
HLS_FOLDER = "hls"
"""In the bundle: ``hls/<accelerator>/`` and ``hls/common/`` (the C-simulations' sources, each accelerator's
``SOURCES``) and ``hls/ap_types/`` (the ``ap_int.h``/``ap_fixed.h`` headers of the hls4ml wheel, Apache-2.0,
with its licence)."""
PACKAGE_ROOT = Path(__file__).resolve().parent
NOTEBOOK = "05_board_eval.ipynb"
BUNDLE_PARAMETERS = {"run_dir": "", "export_dir": BUNDLE_VECTORS, "target": "auto", "bitstream": "FracNet_T.bit"}
"""Notebook-05 parameters as the bundle sets them (the board has no run folder; the bitstream is named after
the accelerator's top)."""
PYNQ_IMAGES = ("PYNQ 2.7 (Python 3.8)", "PYNQ 3.0 / 3.1 (Python 3.10)")
REPO_ROOT = Path(__file__).resolve().parents[1]


def board_notebook(source: str | Path, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """Notebook 05 as the bundle carries it: outputs and counts cleared, ``parameters`` set in its parameters cell."""
    notebook = json.loads(Path(source).read_text())
    values = BUNDLE_PARAMETERS if parameters is None else parameters
    tagged = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise BoardError(f"{source} needs exactly one cell tagged 'parameters', found {len(tagged)}")
    lines = "".join(tagged[0]["source"]).splitlines()
    for name, value in values.items():
        pattern = re.compile(rf"^{re.escape(name)}\s*=")
        matches = [i for i, line in enumerate(lines) if pattern.match(line)]
        if len(matches) != 1:
            raise BoardError(f"{source}: the parameters cell does not declare {name} once")
        lines[matches[0]] = f"{name} = {json.dumps(value)}"
    tagged[0]["source"] = "\n".join(lines)
    for cell in notebook["cells"]:
        cell.get("metadata", {}).pop("execution", None)
        cell.get("metadata", {}).pop("papermill", None)
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    notebook.get("metadata", {}).pop("papermill", None)
    return notebook


def readme_text(name: str, images: int, source: str, bitstream: bool, accelerator: Accelerator) -> str:
    """The bundle's README for the board, for the accelerator whose export it carries."""
    top, folder = accelerator.top, f"hls/{accelerator.hls_folder}"
    imagenet = accelerator.outputs != "logits"
    regions = "`params.bin`, `weights.bin`, `classifier.npz` (DRAM regions, the ARM's classifier)"
    extra = regions if imagenet else "`params.bin`"
    where = (
        f"`{top}.bit` and `{top}.hwh` are in this folder."
        if bitstream
        else f"Put `{top}.bit` and `{top}.hwh` (same base name, side by side) into this folder."
    )
    release = (
        ""
        if imagenet
        else """
A bitstream built from the official release's sources (`FracNet_T_0.bit`, IP `FracNet_T_0`) has the
same interface and works too: rename its `.bit` and `.hwh` to `FracNet_T.*`. It carries the
release's own weights, so compare its accuracy with the labels, not its logits with
`expected_logits.npy`.
"""
    )
    return f"""# FracBNN board evaluation bundle `{name}`

Runs notebook 05 on a PYNQ board (Ultra96v2): {images} test vectors exported from `{source}`,
the {top} driver and its report. Nothing here needs PyTorch or a network connection.

Supported board images: {", ".join(PYNQ_IMAGES)}; they ship numpy, matplotlib, pandas and Jupyter.

## Contents

| path | what |
|---|---|
| `05_board_eval.ipynb` | notebook 05 with `target = "auto"` (board when `pynq` and the bitstream are present) |
| `fracbnn_lib/` | the library's torch-free part: `board/` (driver and report), run files, the paper's figures |
| `{BUNDLE_VECTORS}/` | the export: `images.npy`, `labels.npy`, `expected_logits.npy`, `manifest.json`, {extra} |
| `bundle.json` | every file with its size and sha256 |

## 1. The bitstream

{where} Build them with `make vivado` in `{folder}/` of the repository (Vivado, Ultra96v2
block design at the clock of `hls/common/clock.mk`; `hls/common/bitstream/README.md`), or add them
when writing the bundle: `python -m fracbnn_lib deploy --bitstream path/to/{top}.bit`. PYNQ reads the IP's register map
and the clock from the `.hwh`, so both files must have the same base name.
{release}
## 2. Copy to the board

    scp -r deploy/{name} xilinx@<board-ip>:/home/xilinx/jupyter_notebooks/fracbnn-{name}

(user `xilinx`, password `xilinx` on a fresh image; the board's Jupyter is at `http://<board-ip>:9090`.)

## 3. Run

In Jupyter: open `fracbnn-{name}/05_board_eval.ipynb` and run all cells. The notebook prints the
backend it used; a line saying "C-simulation" means it did not find `pynq` or the bitstream.

Without Jupyter (over ssh; loading an overlay needs root and PYNQ's Python environment):

    sudo -i
    source /etc/profile.d/pynq_venv.sh    # the PYNQ environment, on images that have one
    cd /home/xilinx/jupyter_notebooks/fracbnn-{name}
    jupyter nbconvert --to notebook --execute --inplace 05_board_eval.ipynb

Results: the executed notebook, `metrics.json` (section `board`: backend, images, accuracy, median
and p95 latency, FPS) and `figures/`; copy them back with `scp`.

## The same notebook off the board, and the board checked against it

`hls/` holds the HLS C++ of the accelerator and the `ap_int.h`/`ap_fixed.h` headers, so with `g++`
(PYNQ images ship it; any Linux or macOS laptop with numpy and matplotlib, no PyTorch) the notebook
with `target = "csim"` compiles them once (about a minute on the board's ARM, seconds on a laptop)
and runs the same vectors through them: every logit must equal `expected_logits.npy`. On the board,
run the notebook once with `target = "pynq"` and once with `target = "csim"`: the two runs must
agree bit for bit (the last rung of the verification ladder, re-derived right there). C-simulation
timings are the host CPU's, not the board's.
"""


def copy_csim_sources(hls: Path) -> None:
    """Every accelerator's C-simulation sources into ``hls/<accelerator>/`` and ``hls/common/``, the ap_types
    headers (and licence) into ``hls/ap_types/``."""
    for accelerator in ACCELERATORS:
        hardware = accelerator.hardware()
        sources = hardware.source_dir()
        for name in hardware.SOURCES:
            (hls / accelerator.hls_folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(sources / name, hls / accelerator.hls_folder / name)
    ap_types = ap_types_dir()
    shutil.copytree(ap_types, hls / AP_TYPES_IN_HLS_ROOT, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    licence = next(iter(sorted(ap_types.parents[2].parent.glob("hls4ml-*.dist-info/licenses/LICENSE*"))), None)
    if licence is not None:
        shutil.copy2(licence, hls / AP_TYPES_IN_HLS_ROOT / "LICENSE")


def checked_export_files(export_dir: Path) -> list[str]:
    """The files the export's manifest lists, after checking each is present and matches its SHA-256.

    :class:`~fracbnn_lib.board.driver.BoardError` (one line) for a missing or modified file: a bundle must not
    carry an export that its own manifest contradicts (the board user would find out on the board).
    """
    try:
        manifest = read_manifest(export_dir)
        names = sorted(manifest.get("files", {}))
        for name in names:
            checked_file(export_dir, manifest, name)
    except ExportError as err:
        raise BoardError(str(err)) from None
    return [*names, "manifest.json"]


def bundle_files(folder: Path) -> dict[str, dict[str, Any]]:
    """Every file under ``folder`` (POSIX relative path -> size and sha256), ``bundle.json`` excluded."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative != "bundle.json" and "__pycache__" not in relative:
            files[relative] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
    return files


def write_bundle(
    export_dir: str | Path,
    out: str | Path,
    *,
    source: str = "",
    bitstream: str | Path = "",
    notebook: str | Path = REPO_ROOT / "notebooks" / NOTEBOOK,
    overwrite: bool = False,
) -> Path:
    """Write the deploy bundle for ``export_dir``'s test vectors to ``out``; returns ``out`` as a Path.

    ``source`` names the run in the README; ``bitstream`` (``.bit`` with its ``.hwh`` beside it) is
    copied as ``FracNet_T.bit``/``.hwh`` (an ImageNet export's as ``FracNetImageNet.*``); ``notebook`` is
    notebook 05. Everything is checked before anything is written.
    """
    export_dir, out, notebook = Path(export_dir), Path(out), Path(notebook)
    vectors = load_vectors(export_dir)
    try:
        accelerator = accelerator_of(export_dir)
    except (ExportError, ValueError) as err:
        raise BoardError(str(err)) from None
    written = checked_export_files(export_dir)
    bit = check_bitstream(bitstream) if str(bitstream) else None
    if not notebook.is_file():
        raise BoardError(f"notebook 05 not found at {notebook}: run from a checkout of the repository")
    if out.exists() and not overwrite:
        raise BoardError(f"{out} exists: pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(out)
    try:
        (staging / BUNDLE_VECTORS).mkdir()
        for name in written:  # what the export wrote, never the build trees of make hls / make vivado
            shutil.copy2(export_dir / name, staging / BUNDLE_VECTORS / name)
        for module in CARRIED_MODULES:
            (staging / BUNDLE_PACKAGE / module).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PACKAGE_ROOT / module, staging / BUNDLE_PACKAGE / module)
        copy_csim_sources(staging / HLS_FOLDER)
        top = accelerator.top
        bundled_bit = f"{top}.bit"
        parameters = {**BUNDLE_PARAMETERS, "bitstream": bundled_bit}
        (staging / NOTEBOOK).write_text(json.dumps(board_notebook(notebook, parameters), indent=1) + "\n")
        if bit is not None:
            shutil.copy2(bit, staging / bundled_bit)
            shutil.copy2(bit.with_suffix(".hwh"), staging / Path(bundled_bit).with_suffix(".hwh"))
        name = out.name
        readme = readme_text(name, len(vectors), source or export_dir.name, bit is not None, accelerator)
        (staging / "README.md").write_text(readme)
        manifest = {
            "name": name,
            "source": source or export_dir.name,
            "images": len(vectors),
            "bitstream": bit is not None,
            "accelerator": accelerator.name,
            "network": accelerator.network,
            "pynq_images": list(PYNQ_IMAGES),
            "files": bundle_files(staging),
        }
        manifest["bytes"] = sum(f["bytes"] for f in manifest["files"].values())
        (staging / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
        replace_folder(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="fracbnn deploy",
        description="Write the deploy bundle for a PYNQ board: notebook 05, the driver, the test vectors, a README.",
    )
    parser.add_argument("--run-dir", type=Path, default=Path("runs/default"), help="run folder (default: runs/default)")
    parser.add_argument("--export-dir", type=Path, help="export folder with the test vectors (default: RUN_DIR/export)")
    parser.add_argument("--out-dir", type=Path, default=Path("deploy"), help="folder of the bundles (default: deploy)")
    parser.add_argument("--name", help="bundle name (default: the run folder's name)")
    parser.add_argument(
        "--bitstream", type=Path, help="FracNet_T (or FracNetImageNet) .bit to include (its .hwh must sit beside it)"
    )
    parser.add_argument("--notebook", type=Path, default=REPO_ROOT / "notebooks" / NOTEBOOK, help=argparse.SUPPRESS)
    parser.add_argument("--force", action="store_true", help="replace an existing bundle of the same name")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``fracbnn deploy``: returns 0 on success, 1 on a problem with the inputs (one line on stderr), 2 on usage."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    export_dir = args.export_dir or args.run_dir / "export"
    name = args.name or (args.run_dir.resolve().name if args.export_dir is None else export_dir.resolve().parent.name)
    out = args.out_dir / name
    if args.export_dir is None and not export_dir.is_dir():
        print(
            f"fracbnn deploy: error: no export in {export_dir}: run notebook 04 (or 'fracbnn export') first, "
            "or pass --export-dir",
            file=sys.stderr,
        )
        return 1
    try:
        write_bundle(
            export_dir,
            out,
            source=args.run_dir.name if args.export_dir is None else str(export_dir),
            bitstream=args.bitstream or "",
            notebook=args.notebook,
            overwrite=args.force,
        )
    except (BoardError, OSError) as err:
        print(f"fracbnn deploy: error: {err}", file=sys.stderr)
        return 1
    manifest = json.loads((out / "bundle.json").read_text())
    files = len(manifest["files"])
    print(f"deploy bundle {out}: {manifest['images']} test vectors, {files} files, {manifest['bytes'] / 1e6:.1f} MB")
    if not manifest["bitstream"]:
        accelerator = by_name(manifest["accelerator"])
        top = accelerator.top
        print(f"add {top}.bit and {top}.hwh (make vivado in hls/{accelerator.hls_folder}), or rerun with --bitstream")
    print(f"copy it to the board: scp -r {out} xilinx@<board-ip>:/home/xilinx/jupyter_notebooks/fracbnn-{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
