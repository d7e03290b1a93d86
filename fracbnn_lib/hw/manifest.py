"""The export folder: its file names, ``manifest.json``, and reading an export back.

An export folder holds the generated C++ headers (``weights.h``, ``fracnet_config.h``), the same
parameters in binary form (``params.bin``, read by the C-simulation library and the numpy
reference), optional test vectors (``images.npy``, ``labels.npy``, ``expected_logits.npy``) and
``manifest.json``, written last, which lists formats, shapes, the source and a SHA-256 per file.

numpy only (no PyTorch): the deploy bundle carries this module, so a board or a laptop without
PyTorch can check an export and run its C-simulation (:func:`fracbnn_lib.hw.csim.csim_predict`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fixed_point import FixedFormat, Formats
from .layout import layout_string

if TYPE_CHECKING:
    from .params import AcceleratorParams


class ExportError(ValueError):
    """A model the CIFAR-10 accelerator cannot run, or an export folder that is not one (the message says why)."""


MANIFEST_FILE = "manifest.json"
PARAMS_FILE = "params.bin"
WEIGHTS_HEADER = "weights.h"
CONFIG_HEADER = "fracnet_config.h"
IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
EXPECTED_FILE = "expected_logits.npy"
TEST_VECTOR_FILES = (IMAGES_FILE, LABELS_FILE, EXPECTED_FILE)
EXPORT_FILES = (CONFIG_HEADER, WEIGHTS_HEADER, PARAMS_FILE, *TEST_VECTOR_FILES, MANIFEST_FILE)
"""Every file an export writes; anything else in an export folder (build outputs) is the user's."""

NETWORK = "fracbnn_resnet20_cifar10"
MANIFEST_VERSION = 1


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(export_dir: str | Path) -> dict[str, Any]:
    """The export's manifest; :class:`ExportError` (one line) if the folder is not an accelerator export."""
    path = Path(export_dir) / MANIFEST_FILE
    if not path.is_file():
        raise ExportError(
            f"no accelerator export in {export_dir} ({MANIFEST_FILE} missing): "
            "run `fracbnn export` or notebook 04 first"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ExportError(f"cannot read {path}: {err}") from None
    if manifest.get("network") != NETWORK or manifest.get("manifest_version") != MANIFEST_VERSION:
        raise ExportError(
            f"{path} is not a version-{MANIFEST_VERSION} export of {NETWORK}; export the checkpoint again"
        )
    return manifest


def manifest_formats(manifest: dict[str, Any]) -> Formats:
    """The fixed-point formats recorded in a manifest."""
    spec = manifest["formats"]
    return Formats(**{name: FixedFormat(spec[name]["width"], spec[name]["integer"]) for name in spec})


def checked_params_blob(export_dir: str | Path) -> tuple[dict[str, Any], bytes]:
    """The manifest and ``params.bin`` of an export, the blob checked against the manifest's checksum and layout."""
    manifest = read_manifest(export_dir)
    path = Path(export_dir) / PARAMS_FILE
    if not path.is_file():
        raise ExportError(f"{path} is missing: export the checkpoint again")
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != manifest["files"].get(PARAMS_FILE, {}).get("sha256"):
        raise ExportError(f"{path} does not match its manifest (modified or half-copied?): export again")
    if manifest.get("layout") != layout_string():
        raise ExportError(f"{export_dir} was exported for another parameter layout: export the checkpoint again")
    return manifest, blob


def load_accelerator_params(export_dir: str | Path) -> AcceleratorParams:
    """The parameters of an export (``params.bin``), checked against the manifest's checksum and layout."""
    from .params import AcceleratorParams

    manifest, blob = checked_params_blob(export_dir)
    try:
        return AcceleratorParams.from_blob(blob, manifest_formats(manifest), int(manifest["levels"]))
    except ValueError as err:
        raise ExportError(str(err)) from None


def write_export_folder(
    out_dir: str | Path,
    files: Mapping[str, bytes],
    manifest: Callable[[Path], dict[str, Any]],
    export_files: Sequence[str],
) -> Path:
    """Write an export folder whole: ``files``, then ``manifest.json`` (``manifest(staging folder)``) last.

    The files go into a new folder beside ``out_dir``, which then replaces ``out_dir`` (anything else
    ``out_dir`` held, e.g. the build outputs of ``make hls``, is moved across: every name not in
    ``export_files``). A failed write leaves the previous export as it was and no temporary behind; two
    exports into one folder at once are refused (:class:`~fracbnn_lib.files.FolderLock`). Raises
    :class:`ExportError` (one line) for a folder that cannot be written.
    """
    import shutil

    from ..files import FolderLock, remove_stale_temporaries, replace_folder, staging_folder
    from ..run_files import write_json_atomic

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"export folder {out_dir} is a file: choose a folder (--out)")
    with FolderLock(out_dir, "export folder"):
        remove_stale_temporaries(out_dir.parent, of=out_dir.name)  # left by an export that was killed
        try:
            staging = staging_folder(out_dir)
        except OSError as err:
            raise ExportError(
                f"cannot write the export folder {out_dir} ({err.strerror}): choose a writable folder (--out)"
            ) from None
        try:
            for name, data in files.items():
                (staging / name).write_bytes(data)  # a new file: the umask's mode
            write_json_atomic(manifest(staging), staging / MANIFEST_FILE)
            replace_folder(staging, out_dir, keep=lambda name: name not in export_files and not name.startswith("."))
        except OSError as err:
            shutil.rmtree(staging, ignore_errors=True)
            raise ExportError(
                f"writing the export failed ({err.strerror or err}); {out_dir} is unchanged: free space or choose "
                "another folder (--out)"
            ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return out_dir
