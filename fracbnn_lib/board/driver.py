"""Driver of the FracBNN accelerators: one interface, two backends (a PYNQ board, or its C-simulation twin).

The accelerator's top function is ``FracNet_T(uint64 image[3][32][32], float output[10])`` (the
paper's interface, kept by ``hls/cifar10``): the thermometer-packed input words of one image (level ``b`` of
colour ``c`` at pixel ``(row, col)`` is bit ``63 - b`` of ``image[c][row][col]``) go in through an
AXI master port, the 10 logits come out through another, and an AXI-lite port carries the control
register and the two buffer addresses.

Backends:

- ``pynq``: loads the overlay (``FracNet_T.bit`` with its ``FracNet_T.hwh`` beside it) with
  ``pynq.Overlay``, allocates the two buffers with ``pynq.allocate``, writes their physical
  addresses into the IP's address registers (32-bit bus writes) and then, per image: copy the
  words in, ``sync_to_device``, write ``ap_start`` into the control register, poll it until
  ``ap_done`` (or ``ap_idle`` with ``ap_start`` cleared), ``sync_from_device``, copy the logits out.
- ``csim``: the same words through the g++-built HLS C++ (the accelerator's ``ExportCsim``, imported only
  when this backend is used), one image per call, so the timing loop is the board's.
- ``auto``: ``pynq`` when the ``pynq`` package is importable and the bitstream exists, else ``csim``.

Which accelerator is the export's manifest's to say (:func:`fracbnn_lib.accelerators.for_network`): the
ImageNet accelerator (``hls/imagenet``, top ``FracNetImageNet``) is driven the same way, with one
``pynq.allocate`` buffer per DRAM region (image, weights, params, fmaps, pooled), the weights and
parameters copied in once, per image the input words in and the 1024 pooled sums out, which the ARM turns
into logits (:func:`fracbnn_lib.hw.imagenet.params.classify`). Both C-simulation twins are the same class,
the accelerator's ``ExportCsim``.

This module imports nothing but numpy, the standard library and the library's torch-free modules, and keeps
to Python 3.8 syntax and APIs: it runs on PYNQ board images (Python 3.8 on PYNQ 2.7, 3.10 on PYNQ 3.x),
which have no PyTorch. The deploy bundle carries it, unchanged, as ``fracbnn_lib/board/driver.py``.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..accelerators import CIFAR10, IMAGENET, Accelerator, UnknownAcceleratorError, for_network

IMAGENET_REGIONS = ("image", "weights", "params", "fmaps", "pooled")
"""The ImageNet IP's DRAM buffers, one ``pynq.allocate`` each, in the order their addresses are written."""
TARGETS = ("auto", "pynq", "csim")
VECTOR_FILES = ("images.npy", "labels.npy", "expected_logits.npy")
BUNDLE_VECTORS = "vectors"
"""Folder of the test vectors inside a deploy bundle (a copy of a run's ``export/``)."""

CTRL_OFFSET = 0x00
AP_START, AP_DONE, AP_IDLE = 0x1, 0x2, 0x4
"""The HLS block-level control register (``ap_ctrl_hs``) sits at offset 0x00 of the AXI-lite port in every
HLS version: bit 0 ``ap_start``, bit 1 ``ap_done`` (clears on read), bit 2 ``ap_idle``. The driver
accesses it with ``ip.read``/``ip.write``, one bus access each: PYNQ's register-map field setters
read-modify-write, and their spelling differs between versions."""

PORT_REGISTERS = {
    "image": ("image_V", "image"),
    "output": ("output_r", "output", "out_r", "out"),
    **{region: (region,) for region in IMAGENET_REGIONS[1:]},
}
"""Register-name spellings of the address ports, in order of preference (FracNet_T: image, output;
FracNetImageNet: image, weights, params, fmaps, pooled, plain pointers that keep their names).

Vivado HLS appends ``_V`` to an ``ap_uint`` port (``image_V``), Vitis HLS keeps the name
(``image``); a port named after an HDL keyword gets ``_r`` (``output_r``, or ``out_r`` for a port
named ``out``). Vivado HLS 2019.2 gives a 32-bit address register; Vitis HLS a 64-bit address, which
its handoff file (``.hwh``) lists either as one 64-bit register or as two 32-bit halves ``<name>_1``
(low word) and ``<name>_2`` (high word), depending on the HLS release that wrote it. PYNQ copies
whatever the ``.hwh`` says; the driver handles every form and always writes 32 bits at a time
(:func:`address_writes`).
"""


class BoardError(RuntimeError):
    """A problem with the board, the overlay or the test vectors; the message is one line and says what to do."""


# --------------------------------------------------------------------------- test vectors


@dataclass(frozen=True)
class Vectors:
    """Test vectors exported by notebook 04 (or carried by a deploy bundle).

    ``images``: the accelerator's input words (CIFAR-10 ``uint64[N, 3, 32, 32]``, ImageNet ``uint32[N, 3, 224, 224]``);
    ``labels``: ``int64[N]``; ``expected_logits``: ``float32[N, classes]`` (the C-simulation's logits,
    equal to the bit-exact reference's); ``manifest``: the export's ``manifest.json`` (empty if
    absent); ``total``: how many vectors the folder holds (``N <= total`` when a subset was asked for).
    """

    folder: Path
    images: np.ndarray
    labels: np.ndarray
    expected_logits: np.ndarray
    manifest: dict = field(default_factory=dict)
    total: int = 0

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def accelerator(self) -> Accelerator:
        """The accelerator these vectors are for (its manifest's ``network``; CIFAR-10's without a manifest)."""
        return accelerator_of_manifest(self.manifest)


def accelerator_of_manifest(manifest: dict) -> Accelerator:
    """The accelerator of an export manifest (CIFAR-10's for an empty one); :class:`BoardError` for an unknown one."""
    if not manifest:
        return CIFAR10
    try:
        return for_network(manifest.get("network"))
    except UnknownAcceleratorError as err:
        raise BoardError(f"the export's manifest.json: {err}") from None


def find_vectors(export_dir: str | Path = "", run_dir: str | Path = "") -> Path:
    """The folder holding the test vectors.

    ``export_dir`` when given; else ``run_dir/export`` (what notebook 04 writes) when it exists;
    else ``./vectors`` (the folder a deploy bundle carries beside notebook 05).
    """
    if str(export_dir):
        folder = Path(export_dir)
        if not folder.is_dir():
            files = ", ".join(VECTOR_FILES)
            raise BoardError(f"export folder {folder} not found: run notebook 04 first, or pass the folder of {files}")
        return folder
    candidates = [Path(run_dir) / "export"] if str(run_dir) else []
    candidates.append(Path(BUNDLE_VECTORS))
    for folder in candidates:
        if folder.is_dir():
            return folder
    tried = " or ".join(str(c) for c in candidates)
    raise BoardError(f"no test vectors in {tried}: run notebook 04 with the same run_dir first, or set export_dir")


def _load_array(folder: Path, name: str) -> np.ndarray:
    path = folder / name
    if not path.is_file():
        files = ", ".join(VECTOR_FILES)
        raise BoardError(f"test vectors incomplete: {folder} has no {name} (notebook 04 writes {files})")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise BoardError(f"{path} is not a plain .npy array ({err}): export the checkpoint again") from None


def read_vector_manifest(folder: Path) -> dict:
    """The export's ``manifest.json`` as a dict (empty if absent); :class:`BoardError` if it is damaged."""
    from ..hw.export_folder import MANIFEST_FILE, read_manifest

    if not (folder / MANIFEST_FILE).is_file():
        return {}
    try:
        return read_manifest(folder)
    except ValueError as err:  # ExportError: unreadable, or not an export manifest
        raise BoardError(str(err)) from None


def load_vectors(folder: str | Path, max_images: int = 0) -> Vectors:
    """Load and check the test vectors of ``folder``; the first ``max_images`` of them (0: all)."""
    folder = Path(folder)
    if max_images < 0:
        raise BoardError(f"max_images must be 0 (all) or positive, got {max_images}")
    images = _load_array(folder, "images.npy")
    labels = _load_array(folder, "labels.npy")
    expected = _load_array(folder, "expected_logits.npy")
    manifest = read_vector_manifest(folder)
    accelerator = accelerator_of_manifest(manifest)
    check_images(images, f"{folder / 'images.npy'}", accelerator)
    n = images.shape[0]
    classes = int(manifest.get("classes", 10))
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise BoardError(f"{folder / 'labels.npy'}: expected {n} integer labels, got {labels.dtype} {labels.shape}")
    if expected.shape != (n, classes):
        raise BoardError(
            f"{folder / 'expected_logits.npy'}: expected {n} x {classes} logits, got {expected.dtype} {expected.shape}"
        )
    keep = n if max_images == 0 else min(max_images, n)
    return Vectors(
        folder=folder,
        images=np.ascontiguousarray(images[:keep]),
        labels=labels[:keep].astype(np.int64),
        expected_logits=expected[:keep].astype(np.float32),
        manifest=manifest,
        total=n,
    )


def check_vectors_source(vectors: Vectors, checkpoint: str | Path) -> None:
    """:class:`BoardError` unless ``vectors`` were exported from ``checkpoint``: the export manifest's
    ``source.sha256`` (what notebook 04 recorded) against the file's SHA-256 (notebook 05's ``checkpoint``)."""
    from ..files import sha256

    path = Path(checkpoint)
    if not path.is_file():
        raise BoardError(f"checkpoint {path} not found: pass the checkpoint notebook 04 exported, or leave it empty")
    recorded = vectors.manifest.get("source", {}).get("sha256")
    if recorded != sha256(path):
        made_from = vectors.manifest.get("source", {}).get("checkpoint") or "an unrecorded model"
        raise BoardError(
            f"the test vectors in {vectors.folder} were exported from {made_from}, not from {path} (SHA-256 differs): "
            "run notebook 04 with this checkpoint first"
        )


def check_images(images: np.ndarray, what: str = "images", accelerator: Accelerator = CIFAR10) -> None:
    """:class:`BoardError` unless ``images`` are ``accelerator``'s input words (``uint64[N, 3, 32, 32]`` on
    CIFAR-10, ``uint32[N, 3, 224, 224]`` on ImageNet)."""
    array = isinstance(images, np.ndarray)
    dtype, shape = np.dtype(accelerator.word_dtype), accelerator.image_shape
    if not array or images.dtype != dtype or images.ndim != 4 or images.shape[1:] != shape:
        got = f"{images.dtype} {images.shape}" if array else type(images).__name__
        expected = f"{accelerator.word_dtype} N x 3 x {shape[1]} x {shape[2]}"
        raise BoardError(
            f"{what}: expected {expected} thermometer words (as the export writes them into images.npy), got {got}"
        )
    if images.shape[0] == 0:
        raise BoardError(f"{what}: no images")


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    """Per-image round-trip times and the batch's wall time, in seconds.

    A round trip is what one image costs the host: words in, run, logits back. ``fps`` is
    ``N / wall_s`` over the whole batch (loop overhead included).
    """

    latencies_s: np.ndarray
    wall_s: float

    @property
    def latency_ms_median(self) -> float:
        return float(np.median(self.latencies_s) * 1e3)

    @property
    def latency_ms_p95(self) -> float:
        return float(np.percentile(self.latencies_s, 95) * 1e3)

    @property
    def fps(self) -> float:
        return float(len(self.latencies_s) / self.wall_s) if self.wall_s > 0 else float("inf")


@dataclass(frozen=True)
class BatchResult:
    """What :meth:`FracNetDriver.run` returns: ``logits`` ``float32[N, 10]``, the timing and the backend's name."""

    logits: np.ndarray
    timing: Timing
    backend: str


# --------------------------------------------------------------------------- backends


def _address(buffer: Any) -> int:
    """Physical address of a ``pynq.allocate`` buffer (``physical_address``; ``device_address`` on newer PYNQ)."""
    value = getattr(buffer, "physical_address", None)
    return int(value if value is not None else buffer.device_address)


class _BoardIP:
    """What the board backends of both accelerators share: the overlay, the IP, its address registers, a run."""

    name = "pynq"

    def _open(self, bitstream: str | Path, ip_name: str, ip_type: str, timeout_s: float) -> Any:
        """Load the overlay and find the IP; returns the ``pynq`` module (for ``allocate``)."""
        bit = check_bitstream(bitstream)
        try:
            pynq = importlib.import_module("pynq")
        except ImportError:
            raise BoardError(
                "target 'pynq' needs the pynq package of a PYNQ board image; elsewhere use target='csim'"
            ) from None
        self.timeout_s = timeout_s
        self.bitstream = bit
        self.overlay = pynq.Overlay(str(bit))
        self.ip_name = find_ip(self.overlay.ip_dict, ip_name, ip_type)
        self.ip = self.overlay
        for part in self.ip_name.split("/"):
            self.ip = getattr(self.ip, part)
        self.registers = self.overlay.ip_dict[self.ip_name].get("registers", {})
        ctrl = self.ip.read(CTRL_OFFSET)
        if not ctrl & AP_IDLE:
            raise BoardError(f"{self.ip_name} is busy before the first start (CTRL=0x{ctrl:x}): reload the overlay")
        self.buffers: dict[str, Any] = {}
        return pynq

    def _write_addresses(self) -> None:
        try:
            for port, buffer in self.buffers.items():
                for offset, word in address_writes(self.registers, port, _address(buffer), self.ip_name):
                    self.ip.write(offset, word)
        except BaseException:
            self.close()
            raise

    def _start_and_wait(self, design: str) -> None:
        """``ap_start``, then poll the control register until ``ap_done`` (or idle with ``ap_start`` cleared)."""
        self.ip.write(CTRL_OFFSET, AP_START)
        deadline = time.perf_counter() + self.timeout_s
        while True:
            ctrl = self.ip.read(CTRL_OFFSET)  # one read per poll: ap_done clears on read
            if ctrl & AP_DONE or (ctrl & AP_IDLE and not ctrl & AP_START):
                return
            if time.perf_counter() > deadline:
                raise BoardError(
                    f"{self.ip_name} did not finish within {self.timeout_s} s (CTRL=0x{ctrl:x}): "
                    f"is the overlay built from {design}?"
                )

    def close(self) -> None:
        for buffer in self.__dict__.get("buffers", {}).values():
            free = getattr(buffer, "freebuffer", None) or getattr(buffer, "close", None)
            if free is not None:
                free()
        self.buffers = {}

    def describe(self) -> str:
        return f"PYNQ board: IP {self.ip_name} of overlay {self.bitstream.name}"


class PynqBackend(_BoardIP):
    """The CIFAR-10 accelerator on a PYNQ board (see the module docstring for the exact register sequence).

    ``export_dir`` is not needed here (the weights are the bitstream's ROMs); it is taken for the same
    signature as :class:`ImageNetPynqBackend`.
    """

    classes = 10

    def __init__(
        self, bitstream: str | Path, export_dir: str | Path = "", ip_name: str = "", timeout_s: float = 1.0
    ) -> None:
        pynq = self._open(bitstream, ip_name, CIFAR10.top, timeout_s)
        for port in ("image", "output"):  # the register names are checked before anything is allocated
            address_writes(self.registers, port, 0, self.ip_name)
        self.buffers["image"] = pynq.allocate(shape=CIFAR10.image_shape, dtype=np.uint64)
        self.buffers["output"] = pynq.allocate(shape=(self.classes,), dtype=np.float32)
        self._write_addresses()

    def __call__(self, words: np.ndarray) -> np.ndarray:
        image, output = self.buffers["image"], self.buffers["output"]
        np.copyto(image, words)
        image.sync_to_device()
        self._start_and_wait("hls/cifar10 (or the release's FracNet_T)")
        output.sync_from_device()
        return np.array(output, dtype=np.float32)


def _hardware_side(module: str) -> Any:
    """A module of the library's hardware side (carried by the deploy bundle); :class:`BoardError` without it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BoardError(
            f"target 'csim' needs fracbnn_lib and its hardware side ({err}); on a board use target='pynq'"
        ) from None


def _from_export(accelerator: Accelerator, name: str, export_dir: str | Path) -> Any:
    """The accelerator's ``<name>(export_dir)`` (``load_export``, ``ExportCsim``: every file checked against the
    manifest), its one-line error raised as :class:`BoardError`."""
    hardware = _hardware_side(accelerator.hardware_package)
    try:
        return getattr(hardware, name)(export_dir)
    except ValueError as err:  # ExportError: a missing or modified file
        raise BoardError(str(err)) from None


class ImageNetPynqBackend(_BoardIP):
    """The ImageNet accelerator on a PYNQ board: one ``pynq.allocate`` buffer per DRAM region.

    The weights and parameters (``weights.bin``, ``params.bin`` of the export) are copied to the board's
    DRAM once; per image the input words go in, the IP runs, and the 1024 pooled sums come back, which the
    ARM turns into logits (:func:`fracbnn_lib.hw.imagenet.params.classify`). The IP reads ``weights``,
    ``params`` and ``fmaps`` and writes ``fmaps`` and ``pooled`` as 128-bit beats (two 64-bit words, the first in
    the low half) and reads ``image`` as 64-bit beats (two words): the buffers hold the export's words as they
    are, each a whole number of beats and page-aligned by ``pynq.allocate``; ``fmaps`` is the two ping-pong maps
    the IP writes and reads back (``manifest.json`` ``dram_bytes``).
    """

    def __init__(self, bitstream: str | Path, export_dir: str | Path, ip_name: str = "", timeout_s: float = 2.0):
        manifest, self.dram = _from_export(IMAGENET, "load_export", export_dir)
        pynq = self._open(bitstream, ip_name, IMAGENET.top, timeout_s)
        for port in IMAGENET_REGIONS:
            address_writes(self.registers, port, 0, self.ip_name)
        fmap_words = int(manifest["dram_bytes"]["fmaps"]) // 8
        shapes = {"image": (IMAGENET.image_shape, np.uint32), "weights": (self.dram.weights.shape, np.uint64)}
        shapes.update(params=(self.dram.params.shape, np.int64), fmaps=((fmap_words,), np.uint64))
        shapes["pooled"] = ((1024,), np.int64)
        for region in IMAGENET_REGIONS:
            shape, dtype = shapes[region]
            self.buffers[region] = pynq.allocate(shape=shape, dtype=dtype)
        for region in ("weights", "params"):
            np.copyto(self.buffers[region], getattr(self.dram, region))
            self.buffers[region].sync_to_device()
        self._write_addresses()
        self.classes = int(self.dram.fc_weight.shape[0])

    def __call__(self, words: np.ndarray) -> np.ndarray:
        image, pooled = self.buffers["image"], self.buffers["pooled"]
        np.copyto(image, words)
        image.sync_to_device()
        self._start_and_wait("hls/imagenet")
        pooled.sync_from_device()
        return self.dram.logits(np.array(pooled, dtype=np.int64)[None])[0]


def check_bitstream(bitstream: str | Path) -> Path:
    """The bitstream's path, after checking that it and its ``.hwh`` (same base name) exist."""
    if not str(bitstream):
        raise BoardError("target 'pynq' needs bitstream='FracNet_T.bit' (with FracNet_T.hwh beside it)")
    bit = Path(bitstream)
    if bit.suffix != ".bit":
        raise BoardError(f"bitstream {bit.name} should be a .bit file (FracNet_T.bit, with FracNet_T.hwh beside it)")
    if not bit.is_file():
        raise BoardError(
            f"bitstream {bit} not found: build it with 'make vivado' in hls/cifar10 (hls/common/bitstream/README.md) "
            "and copy FracNet_T.bit and FracNet_T.hwh beside the notebook"
        )
    hwh = bit.with_suffix(".hwh")
    if not hwh.is_file():
        raise BoardError(
            f"{hwh.name} not found beside {bit.name}: PYNQ reads the IP's register map from it; copy it from the "
            "Vivado build (hw_handoff/*.hwh, renamed to the bitstream's base name)"
        )
    return bit


def find_ip(ip_dict: dict, ip_name: str = "", ip_type: str = CIFAR10.top) -> str:
    """The overlay's accelerator: ``ip_name`` if given, else the one IP whose type is ``*:<ip_type>:*``."""
    if ip_name:
        if ip_name not in ip_dict:
            raise BoardError(f"no IP named {ip_name!r} in the overlay; it has: {', '.join(sorted(ip_dict)) or 'none'}")
        return ip_name
    found = sorted(name for name, info in ip_dict.items() if f":{ip_type}:" in str(info.get("type", "")))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({', '.join(found)})"
        raise BoardError(
            f"{what} {ip_type} IP in the overlay (it has: {', '.join(sorted(ip_dict)) or 'none'}); pass ip_name"
        )
    return found[0]


def address_writes(registers: dict, port: str, address: int, ip_name: str = CIFAR10.top) -> list[tuple[int, int]]:
    """The 32-bit bus writes ``(offset, word)`` that set the address of ``port`` (``"image"`` or ``"output"``).

    ``registers`` is the IP's ``ip_dict[...]["registers"]`` (name -> ``{"address_offset": byte offset,
    "size": bits}``, as PYNQ copies them from the ``.hwh``). The AXI-lite bus is 32 bits wide, so a
    64-bit address is always two writes, low word first: at ``offset`` and ``offset + 4`` of one
    64-bit register, or into ``<name>_1`` and ``<name>_2`` where the handoff lists the halves as a
    pair. A 32-bit register takes one write and must hold the whole address.
    """

    def offset(name: str) -> int:
        return int(registers[name].get("address_offset", 0))

    low, high = address & 0xFFFFFFFF, address >> 32
    for name in PORT_REGISTERS[port]:
        if name in registers:
            bits = int(registers[name].get("size", 32))
            if address >> bits:
                raise BoardError(f"address 0x{address:x} of {port} does not fit the {bits}-bit register {name}")
            return [(offset(name), low), (offset(name) + 4, high)] if bits > 32 else [(offset(name), low)]
        if f"{name}_1" in registers:
            if f"{name}_2" not in registers:
                if high:
                    raise BoardError(f"address 0x{address:x} of {port} needs {name}_2, which {ip_name} does not have")
                return [(offset(f"{name}_1"), low)]
            return [(offset(f"{name}_1"), low), (offset(f"{name}_2"), high)]
    expected = ", ".join(PORT_REGISTERS[port])
    raise BoardError(
        f"{ip_name} has no address register for port {port!r} (looked for {expected}, alone or as _1/_2 pairs; "
        f"it has {', '.join(sorted(registers)) or 'none'}): is it FracNet_T(image, output)?"
    )


class CsimBackend:
    """The accelerator's HLS C++ compiled with g++ (its ``ExportCsim``), one image per call like the board.

    The export is loaded and the library built (or found) once, here; a call only runs the image.
    """

    name = "csim"

    def __init__(self, export_dir: str | Path, accelerator: Accelerator = CIFAR10) -> None:
        self.export_dir = Path(export_dir)
        self._csim = _from_export(accelerator, "ExportCsim", self.export_dir)
        self.classes = int(self._csim.params.classes)

    def __call__(self, words: np.ndarray) -> np.ndarray:
        return np.asarray(self._csim(words[None], threads=1), dtype=np.float32)[0]

    def close(self) -> None:
        """Nothing to release (the shared library stays cached for the process)."""

    def describe(self) -> str:
        return "C-simulation of the HLS C++ on the host CPU (not a board measurement)"


# --------------------------------------------------------------------------- the driver


def pynq_available() -> bool:
    """Whether the ``pynq`` package can be imported here (a PYNQ board image)."""
    return importlib.util.find_spec("pynq") is not None


def resolve_target(target: str, bitstream: str | Path = "") -> str:
    """``pynq`` or ``csim`` for ``target``; ``auto`` is ``pynq`` when pynq is installed and the bitstream exists."""
    if target not in TARGETS:
        raise BoardError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    if target != "auto":
        return target
    return "pynq" if str(bitstream) and Path(bitstream).is_file() and pynq_available() else "csim"


class FracNetDriver:
    """Either accelerator behind one interface, on a board (``pynq``) or in C-simulation (``csim``).

    Which accelerator is the export's manifest's to say (``FracNet_T`` for a CIFAR-10 export, and without an
    export; ``FracNetImageNet`` for an ImageNet one, whose board backend needs ``export_dir`` too: the weights
    and parameters it copies into DRAM). ``bitstream``: the top's ``.bit`` (``.hwh`` beside it) for ``pynq``;
    ``export_dir``: an export folder for ``csim``; ``ip_name``: the IP instance (default: the overlay's only
    one of the accelerator's type); ``timeout_s``: how long one image may take on the board (default: the
    backend's, 1 s on CIFAR-10, 2 s on ImageNet).

    >>> with FracNetDriver("csim", export_dir="runs/default/export") as accel:  # doctest: +SKIP
    ...     result = accel.run(images)  # uint64[N, 3, 32, 32] -> BatchResult (logits float32[N, 10], timing)
    """

    def __init__(
        self,
        target: str = "auto",
        *,
        bitstream: str | Path = "",
        export_dir: str | Path = "",
        ip_name: str = "",
        timeout_s: float | None = None,
    ) -> None:
        self.target = resolve_target(target, bitstream)
        manifest = read_vector_manifest(Path(export_dir)) if str(export_dir) else {}
        self.accelerator = accelerator_of_manifest(manifest)
        if self.target == "csim" and not str(export_dir):
            raise BoardError("target 'csim' needs export_dir (the export folder of notebook 04, with params.bin)")
        self.backend: _BoardIP | CsimBackend
        if self.target == "pynq":
            board = globals()[self.accelerator.board_backend]
            timeout = {} if timeout_s is None else {"timeout_s": timeout_s}
            self.backend = board(bitstream, export_dir, ip_name, **timeout)
        else:
            self.backend = CsimBackend(export_dir, self.accelerator)

    @property
    def name(self) -> str:
        """The backend that computes: ``"pynq"`` or ``"csim"``."""
        return self.backend.name

    def describe(self) -> str:
        """One line saying what computes the logits (board or C-simulation)."""
        return self.backend.describe()

    def run(self, images: np.ndarray) -> BatchResult:
        """Run ``images`` (the accelerator's input words ``[N, 3, S, S]``, or one image) one at a time, timing each."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        check_images(images, accelerator=self.accelerator)
        logits = np.empty((images.shape[0], self.backend.classes), dtype=np.float32)
        latencies = np.empty(images.shape[0], dtype=np.float64)
        start = time.perf_counter()
        for i in range(images.shape[0]):
            begin = time.perf_counter()
            logits[i] = self.backend(images[i])
            latencies[i] = time.perf_counter() - begin
        return BatchResult(logits, Timing(latencies, time.perf_counter() - start), self.name)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Logits ``float32[N, classes]`` of ``images`` (see :meth:`run` for the timing)."""
        return self.run(images).logits

    def close(self) -> None:
        """Release the board's buffers (no-op for the C-simulation)."""
        self.backend.close()

    def __enter__(self) -> FracNetDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
