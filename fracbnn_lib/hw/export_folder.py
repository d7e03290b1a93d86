"""The export folder both accelerators write: common file names, ``manifest.json``, checksums, an atomic write.

An export folder holds what one accelerator needs from one checkpoint: a generated ``fracnet_config.h``
for its HLS C++, its parameters (``params.bin``; ImageNet also ``weights.bin`` and ``classifier.npz``),
optional test vectors (``images.npy``, ``labels.npy``, ``expected_logits.npy``; ImageNet also
``expected_pooled.npy``) and ``manifest.json``, written last. Every manifest has the keys of
:func:`manifest`: ``manifest_version``, ``network`` (which accelerator:
:mod:`fracbnn_lib.accelerators` is keyed by it), ``fracbnn_lib``, ``source``, ``resolution``, ``levels``,
``formats_name``, ``formats``, ``layout``, ``interface``, ``test_vectors`` and ``files`` (name ->
``{"bytes", "sha256"}``); an accelerator adds its own keys beside them.

numpy only (no PyTorch): the deploy bundle carries this module, so a board or a laptop without PyTorch
can check an export and run its C-simulation.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..accelerators import Accelerator, UnknownAcceleratorError, for_network
from ..files import sha256
from .fixed_point import FORMAT_PRESETS, FixedFormat, Formats


class ExportError(ValueError):
    """A model an accelerator cannot run, or an export folder that is not one (the message says why, in one line)."""


MANIFEST_FILE = "manifest.json"
CONFIG_HEADER = "fracnet_config.h"
PARAMS_FILE = "params.bin"
IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
EXPECTED_FILE = "expected_logits.npy"
TEST_VECTOR_FILES = (IMAGES_FILE, LABELS_FILE, EXPECTED_FILE)
MANIFEST_VERSION = 1


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a ``.npy`` file (no pickles)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def read_manifest(export_dir: str | Path, network: str | None = None) -> dict[str, Any]:
    """The export's manifest; :class:`ExportError` (one line) if the folder is not an export (of ``network``)."""
    path = Path(export_dir) / MANIFEST_FILE
    if not path.is_file():
        raise ExportError(
            f"no accelerator export in {export_dir} ({MANIFEST_FILE} missing): "
            "run `fracbnn export` or notebook 04 first"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ExportError(f"{path} is damaged ({type(err).__name__}): export the checkpoint again") from None
    if not isinstance(manifest, dict) or manifest.get("manifest_version") != MANIFEST_VERSION:
        raise ExportError(f"{path} is not a version-{MANIFEST_VERSION} export manifest; export the checkpoint again")
    if network is not None and manifest.get("network") != network:
        raise ExportError(
            f"{export_dir} is an export of {manifest.get('network')}, not of {network}: "
            "use the accelerator that export belongs to, or export the checkpoint again"
        )
    return manifest


def accelerator_of(export_dir: str | Path) -> Accelerator:
    """The accelerator an export folder belongs to, from its manifest's ``network`` (one-line error if none)."""
    manifest = read_manifest(export_dir)
    try:
        return for_network(manifest.get("network"))
    except UnknownAcceleratorError as err:
        raise ExportError(f"{Path(export_dir) / MANIFEST_FILE}: {err}") from None


def checked_file(export_dir: str | Path, manifest: Mapping[str, Any], name: str) -> Path:
    """The path of ``name`` in the export, after checking it against the manifest's SHA-256 (one-line error)."""
    path = Path(export_dir) / name
    recorded = manifest.get("files", {}).get(name, {}).get("sha256")
    if not path.is_file():
        raise ExportError(f"{path} is missing: export the checkpoint again")
    if recorded is None or sha256(path) != recorded:
        raise ExportError(f"{path} does not match its manifest (modified or half-copied?): export the checkpoint again")
    return path


def manifest_formats(manifest: Mapping[str, Any]) -> Formats:
    """The fixed-point formats recorded in a manifest."""
    spec = manifest["formats"]
    return Formats(**{name: FixedFormat(spec[name]["width"], spec[name]["integer"]) for name in spec})


def preset_name(formats: Formats) -> str:
    """The preset ``formats`` equals (:data:`~.fixed_point.FORMAT_PRESETS`), else ``"custom"``."""
    return next((name for name, preset in FORMAT_PRESETS.items() if preset == formats), "custom")


def manifest(
    *,
    network: str,
    source: str | Path | None,
    resolution: int,
    levels: int,
    formats: Formats,
    layout: str,
    interface: Mapping[str, Any],
    test_vectors: Mapping[str, Any] | None,
    folder: Path,
    files: Mapping[str, bytes],
    **extra: Any,
) -> dict[str, Any]:
    """The ``manifest.json`` of an export written into ``folder``: the common keys, then ``extra``."""
    from ..version import __version__

    path = Path(source) if source is not None else None
    return {
        "manifest_version": MANIFEST_VERSION,
        "network": network,
        "fracbnn_lib": __version__,
        "source": {
            "checkpoint": str(source) if source is not None else None,
            "sha256": sha256(path) if path is not None and path.is_file() else None,
        },
        "resolution": int(resolution),
        "levels": int(levels),
        "formats_name": preset_name(formats),
        "formats": formats.to_dict(),
        "layout": layout,
        "interface": dict(interface),
        **extra,
        "test_vectors": None if test_vectors is None else dict(test_vectors),
        "files": {name: {"bytes": len(data), "sha256": sha256(folder / name)} for name, data in files.items()},
    }


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


def test_vector_files(
    packed: np.ndarray, labels: np.ndarray | None, logits: np.ndarray, trace: Any, dataset: str | None
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The test-vector files of an export and their manifest record (``test_vectors``), the same on both networks.

    ``packed``: the accelerator's input words; ``labels``: ``int64[N]`` or None; ``logits``: the bit-exact
    reference's ``float32[N, classes]`` (``expected_logits.npy``); ``trace``: the reference's
    :class:`~fracbnn_lib.hw.datapath.ReferenceTrace` on them (saturations, gates).
    """
    files = {IMAGES_FILE: npy_bytes(packed), EXPECTED_FILE: npy_bytes(logits)}
    if labels is not None:
        files[LABELS_FILE] = npy_bytes(labels)
    record = {
        "images": len(packed),
        "dataset": dataset,
        "classes": class_names(dataset),
        "labels": labels is not None,
        "shape": list(packed.shape),
        "dtype": str(packed.dtype),
        "expected_logits": list(np.shape(logits)),
        "saturated_values": trace.total_saturated(),
        "gate_open": trace.gate_open_share(),
    }
    return files, record


def checked_labels(labels: Any, n: int) -> np.ndarray:
    """``labels`` as ``int64[n]``; :class:`ExportError` (one line) unless they are ``n`` integers."""
    labels = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels)  # a torch tensor, or array-like
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ExportError(f"labels must be N = {n} integers, got shape {labels.shape} ({labels.dtype})")
    return labels.astype(np.int64)


def class_names(dataset: str | None) -> list[str] | None:
    """The class names recorded in the manifest's ``test_vectors.classes`` (None for an unknown data set)."""
    from ..data import CLASS_NAMES

    return list(CLASS_NAMES[dataset]) if dataset in CLASS_NAMES else None
