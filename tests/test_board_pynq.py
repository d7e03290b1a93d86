"""The board path of the FracNet_T driver against a STAND-IN for the PYNQ library.

*** STAND-IN, NOT PYNQ ***  This is the one place where a stand-in is allowed: no board is
attached to CI. ``StandInBoard`` imitates what the driver relies on, with the behaviour of the
real objects where it matters:

- ``Overlay(bitfile)`` needs the ``.hwh`` beside the bitstream and reads the IP list and register
  map from it (here a small JSON file, marked as the stand-in's; a real ``.hwh`` is XML);
  ``ip_dict[name]["registers"]`` and ``overlay.<ip>.read(offset)``/``write(offset, value)`` work
  as in PYNQ: one 32-bit bus access at a time, each recorded; a 64-bit register is two 32-bit
  words at ``offset`` and ``offset + 4``, and a value wider than 32 bits on the bus is an error;
- ``allocate(shape, dtype)`` returns an ndarray with a ``physical_address`` and separate "device
  memory": the accelerator sees only what ``sync_to_device`` copied, and the host only gets what
  ``sync_from_device`` copies back;
- the IP follows HLS's ``ap_ctrl_hs`` protocol: ``ap_start`` starts it, it stays busy for a few
  control-register reads, then sets ``ap_done`` (cleared on read) and ``ap_idle``; on finishing it
  reads the input words from the device memory at the address in its ``image`` register and
  writes the logits to the address in its ``out`` register, computed by the C-simulation
  (``fracbnn_lib.hw.csim_predict``) or, where PyTorch is blocked, looked up from the C-simulation's
  exported logits.

This module imports only numpy and pytest at module level so that the stand-in also serves a
notebook kernel in which PyTorch is blocked (``tests/test_board.py``).
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from fracbnn_lib.hw.export_folder import sha256

HWH_MARK = "stand-in hwh for tests/test_board_pynq.py"
IP_VLNV = "xilinx.com:hls:FracNet_T:1.0"

REGISTER_LAYOUTS = {
    # PYNQ 2.7 with a Vitis HLS handoff: 64-bit addresses as two 32-bit registers, "output" renamed "output_r".
    "pynq2-vitis": {"image_1": (0x10, 32), "image_2": (0x14, 32), "output_r_1": (0x1C, 32), "output_r_2": (0x20, 32)},
    # PYNQ 3.x with a Vitis HLS handoff: one 64-bit register per address.
    "pynq3-vitis": {"image": (0x10, 64), "output_r": (0x1C, 64)},
    # Vivado HLS 2019.2 (the release's tool): 32-bit addresses, ap_uint ports get "_V".
    "vivado-hls": {"image_V": (0x10, 32), "output_r": (0x18, 32)},
    # A top function whose second port is called "out" (Vitis HLS renames it "out_r").
    "out-port": {"image_1": (0x10, 32), "image_2": (0x14, 32), "out_r_1": (0x1C, 32), "out_r_2": (0x20, 32)},
}
IMAGENET_PORTS = ("image", "weights", "params", "fmaps", "pooled")
IMAGENET_LAYOUTS = {
    # FracNetImageNet under Vitis HLS (PYNQ 2.7): every pointer's 64-bit address as a _1/_2 pair, 12 bytes apart.
    "pynq2-vitis": {
        f"{port}_{half}": (0x10 + 12 * i + 4 * (half - 1), 32)
        for i, port in enumerate(IMAGENET_PORTS)
        for half in (1, 2)
    },
    # Vivado HLS 2019.2: one 32-bit address per pointer (plain pointers keep their names).
    "vivado-hls": {port: (0x10 + 8 * i, 32) for i, port in enumerate(IMAGENET_PORTS)},
}
CTRL_FIELDS = {"AP_START": 0, "AP_DONE": 1, "AP_IDLE": 2, "AP_READY": 3, "AUTO_RESTART": 7}


# =============================================================================================
# STAND-IN FOR THE PYNQ LIBRARY (tests only)
# =============================================================================================


def write_standin_hwh(
    bit: Path,
    *,
    layout: str = "pynq2-vitis",
    ip_name: str = "FracNet_T_0",
    model: str = "csim",
    export_dir: Path | str = "",
    busy_reads: int = 2,
    imagenet: bool = False,
) -> Path:
    """Write a stand-in ``.bit`` and its stand-in ``.hwh`` (JSON) describing one FracNet_T (or FracNetImageNet) IP."""
    registers = {"CTRL": {"address_offset": 0, "size": 32, "access": "read-write", "fields": dict(CTRL_FIELDS)}}
    for name, offset in (("GIER", 0x4), ("IP_IER", 0x8), ("IP_ISR", 0xC)):
        registers[name] = {"address_offset": offset, "size": 32, "access": "read-write"}
    for name, (offset, size) in (IMAGENET_LAYOUTS if imagenet else REGISTER_LAYOUTS)[layout].items():
        registers[name] = {"address_offset": offset, "size": size, "access": "read-write"}
    hwh = {
        "stand_in": HWH_MARK,
        "ip": {
            ip_name: {"type": "xilinx.com:hls:FracNetImageNet:1.0" if imagenet else IP_VLNV, "registers": registers},
            "axi_timer_0": {"type": "xilinx.com:ip:axi_timer:2.0", "registers": {}},
        },
        "hardware": {"model": model, "export_dir": str(export_dir), "busy_reads": busy_reads, "imagenet": imagenet},
    }
    bit.write_bytes(b"stand-in bitstream")
    bit.with_suffix(".hwh").write_text(json.dumps(hwh))
    return bit


class StandInBuffer(np.ndarray):
    """Stand-in for ``pynq.buffer.PynqBuffer``: host array + separate device memory."""

    def sync_to_device(self) -> None:
        self.board.log.append(("sync_to_device", self.label))
        self.board.memory[self.physical_address][...] = self

    def sync_from_device(self) -> None:
        self.board.log.append(("sync_from_device", self.label))
        self[...] = self.board.memory[self.physical_address]

    def freebuffer(self) -> None:
        self.board.log.append(("freebuffer", self.label))


class StandInIP:
    """The FracNet_T IP with its AXI-lite registers and the ``ap_ctrl_hs`` handshake."""

    def __init__(self, board: StandInBoard, name: str, registers: dict, hardware: dict) -> None:
        self.board, self.name, self.registers, self.hardware = board, name, registers, hardware
        self.values = {reg: 0 for reg in registers}
        self.values["CTRL"] = 1 << CTRL_FIELDS["AP_IDLE"]
        self.busy_left = 0
        self.offsets = {info["address_offset"]: reg for reg, info in registers.items()}

    def read(self, offset: int = 0) -> int:
        """``DefaultIP.read``: one 32-bit bus read at ``offset``."""
        return self.bus_read(self.offsets[offset])

    def write(self, offset: int, value: int) -> None:
        """``DefaultIP.write``: one 32-bit bus write at ``offset`` (the high word of a 64-bit register at +4)."""
        if not 0 <= value <= 0xFFFFFFFF:
            raise AssertionError(f"stand-in: 0x{value:x} does not fit a 32-bit AXI-lite write")
        if offset in self.offsets:
            self.bus_write(self.offsets[offset], value)
            return
        wide = self.offsets.get(offset - 4)
        if wide is None or int(self.registers[wide]["size"]) != 64:
            raise AssertionError(f"stand-in: no register at offset 0x{offset:x}")
        self.board.log.append(("write", f"{wide}[63:32]", value))
        self.values[wide] = (self.values[wide] & 0xFFFFFFFF) | (value << 32)

    def bus_read(self, name: str) -> int:
        if name == "CTRL" and self.busy_left:
            self.busy_left -= 1
            if not self.busy_left:
                self.finish()
        value = self.values[name]
        if name == "CTRL":
            self.values["CTRL"] &= ~(1 << CTRL_FIELDS["AP_DONE"])  # ap_done clears on read
        self.board.log.append(("read", name, value))
        return value

    def bus_write(self, name: str, value: int) -> None:
        if int(self.registers[name]["size"]) == 64:  # the low word of a 64-bit register
            self.board.log.append(("write", f"{name}[31:0]", value))
            self.values[name] = (self.values[name] & ~0xFFFFFFFF) | value
            return
        self.board.log.append(("write", name, value))
        if name != "CTRL":
            self.values[name] = value
            return
        if value & 1:
            if not self.values["CTRL"] & (1 << CTRL_FIELDS["AP_IDLE"]):
                raise AssertionError("stand-in: ap_start written while the IP is busy")
            self.values["CTRL"] = 1  # started: ap_start set, not idle, not done
            self.busy_left = self.hardware["busy_reads"] + 1

    def address(self, port: str) -> int:
        spellings = {"image": ("image", "image_V"), "output": ("output_r", "out_r")}.get(port, (port,))
        for name in spellings:
            if name in self.values:
                return self.values[name]
            if f"{name}_1" in self.values:
                return self.values[f"{name}_1"] | (self.values[f"{name}_2"] << 32)
        raise AssertionError(f"stand-in: no address register for {port}")

    def finish(self) -> None:
        if self.hardware.get("imagenet"):
            self.finish_imagenet()
            return
        memory = self.board.memory
        image, out = self.address("image"), self.address("output")
        if image not in memory or out not in memory:
            raise AssertionError(f"stand-in: bus error, no buffer at 0x{image:x} / 0x{out:x}")
        words = memory[image]
        if words.shape != (3, 32, 32) or memory[out].shape != (10,):
            raise AssertionError("stand-in: image/out registers point at buffers of the wrong shape")
        memory[out][...] = self.compute(words)
        self.board.log.append(("compute", self.name))
        self.values["CTRL"] = (1 << CTRL_FIELDS["AP_DONE"]) | (1 << CTRL_FIELDS["AP_IDLE"])

    def finish_imagenet(self) -> None:
        """FracNetImageNet: reads image, weights and params where its registers point, writes the pooled sums."""
        from fracbnn_lib.hw.imagenet import csim

        memory = self.board.memory
        regions = {port: self.address(port) for port in IMAGENET_PORTS}
        missing = [port for port, address in regions.items() if address not in memory]
        if missing:
            raise AssertionError(f"stand-in: bus error, no buffer behind {', '.join(missing)}")
        folder = Path(self.hardware["export_dir"])
        manifest = json.loads((folder / "manifest.json").read_text())
        if memory[regions["fmaps"]].size * 8 != manifest["dram_bytes"]["fmaps"]:
            raise AssertionError("stand-in: the feature-map buffer is smaller than the design writes")
        library = csim.build_library((folder / "fracnet_config.h").read_text())
        image = memory[regions["image"]]
        pooled = csim.run_library(
            library, manifest["layout"], memory[regions["weights"]], memory[regions["params"]], image[None], 1
        )
        memory[regions["pooled"]][...] = pooled[0]
        self.board.log.append(("compute", self.name))
        self.values["CTRL"] = (1 << CTRL_FIELDS["AP_DONE"]) | (1 << CTRL_FIELDS["AP_IDLE"])

    def compute(self, words: np.ndarray) -> np.ndarray:
        folder = Path(self.hardware["export_dir"])
        if self.hardware["model"] == "csim":
            from fracbnn_lib.hw.cifar10.csim import csim_predict

            return csim_predict(folder, words[None].astype(np.uint64))[0]
        images = np.load(folder / "images.npy")  # "table": the C-simulation's exported logits
        rows = np.flatnonzero((images == words).all(axis=(1, 2, 3)))
        return np.load(folder / "expected_logits.npy")[rows[0]] if rows.size else np.full(10, np.nan, np.float32)


class StandInBoard:
    """One stand-in board: its memory, its overlay and the log of every bus access and sync."""

    def __init__(self, base_address: int = 0x3000_0000) -> None:
        self.memory: dict[int, np.ndarray] = {}
        self.log: list[tuple] = []
        self.next_address = base_address

    def allocate(self, shape, dtype="u4", **kwargs) -> StandInBuffer:
        shape = tuple(np.atleast_1d(shape).tolist())
        self.log.append(("allocate", shape, np.dtype(dtype).name))
        buffer = np.zeros(shape, dtype=dtype).view(StandInBuffer)
        buffer.board, buffer.physical_address = self, self.next_address
        buffer.label = {(3, 32, 32): "image", (10,): "out"}.get(shape, str(shape))
        self.memory[self.next_address] = np.zeros(shape, dtype=dtype)
        self.next_address += 0x10000
        return buffer

    def Overlay(self, bitfile: str, download: bool = True) -> types.SimpleNamespace:  # noqa: N802 (pynq's name)
        bit = Path(bitfile)
        hwh = json.loads(bit.with_suffix(".hwh").read_text())
        assert hwh.get("stand_in") == HWH_MARK, "not a stand-in .hwh"
        self.log.append(("Overlay", bit.name))
        overlay = types.SimpleNamespace(bitfile_name=str(bit), ip_dict={})
        for name, info in hwh["ip"].items():
            overlay.ip_dict[name] = {"type": info["type"], "registers": info["registers"], "phys_addr": 0xA0000000}
            setattr(overlay, name, StandInIP(self, name, info["registers"], hwh["hardware"]))
        return overlay

    def module(self) -> types.ModuleType:
        """This board as an importable ``pynq`` module (``Overlay``, ``allocate``)."""
        module = types.ModuleType("pynq", "STAND-IN for the PYNQ library (tests/test_board_pynq.py)")
        module.__spec__ = importlib.machinery.ModuleSpec("pynq", None)
        module.Overlay, module.allocate = self.Overlay, self.allocate
        return module


def standin_module_source() -> str:
    """Source of a ``pynq.py`` that makes this stand-in importable as ``pynq`` in another process."""
    return (
        '"""STAND-IN for the PYNQ library, for tests only (tests/test_board_pynq.py)."""\n'
        "from test_board_pynq import StandInBoard\n\n"
        "_BOARD = StandInBoard()\n"
        "Overlay = _BOARD.Overlay\n"
        "allocate = _BOARD.allocate\n"
    )


# =============================================================================================
# test vectors (a fake export: random words and logits, enough for the board path)
# =============================================================================================


VECTOR_NAMES = ("images.npy", "labels.npy", "expected_logits.npy")


def write_fake_export(folder: Path, n: int = 6, seed: int = 0) -> Path:
    """Random thermometer words (high 32 bits), labels and logits in an export's file layout."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    words = rng.integers(0, 1 << 32, size=(n, 3, 32, 32), dtype=np.uint64) << np.uint64(32)
    np.save(folder / "images.npy", words)
    np.save(folder / "labels.npy", rng.integers(0, 10, size=n).astype(np.int64))
    np.save(folder / "expected_logits.npy", rng.normal(size=(n, 10)).astype(np.float32))
    files = {name: {"bytes": (folder / name).stat().st_size, "sha256": sha256(folder / name)} for name in VECTOR_NAMES}
    manifest = {
        "manifest_version": 1,
        "network": "fracbnn_resnet20_cifar10",
        "classes": 10,
        "test_vectors": {"images": n, "classes": [f"class{k}" for k in range(10)]},
        "files": files,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def fake_export(tmp_path: Path) -> Path:
    return write_fake_export(tmp_path / "export")


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> StandInBoard:
    board = StandInBoard()
    monkeypatch.setitem(sys.modules, "pynq", board.module())
    return board


def _setup_sequence(layout: str, image_address: int, out_address: int) -> list[tuple]:
    writes = {
        "pynq2-vitis": [
            ("write", "image_1", image_address & 0xFFFFFFFF),
            ("write", "image_2", image_address >> 32),
            ("write", "output_r_1", out_address & 0xFFFFFFFF),
            ("write", "output_r_2", out_address >> 32),
        ],
        "pynq3-vitis": [
            ("write", "image[31:0]", image_address & 0xFFFFFFFF),
            ("write", "image[63:32]", image_address >> 32),
            ("write", "output_r[31:0]", out_address & 0xFFFFFFFF),
            ("write", "output_r[63:32]", out_address >> 32),
        ],
        "vivado-hls": [("write", "image_V", image_address), ("write", "output_r", out_address)],
        "out-port": [
            ("write", "image_1", image_address & 0xFFFFFFFF),
            ("write", "image_2", image_address >> 32),
            ("write", "out_r_1", out_address & 0xFFFFFFFF),
            ("write", "out_r_2", out_address >> 32),
        ],
    }[layout]
    return [
        ("Overlay", "FracNet_T.bit"),
        ("read", "CTRL", 0x4),  # idle before the first start
        ("allocate", (3, 32, 32), "uint64"),
        ("allocate", (10,), "float32"),
        *writes,
    ]


IMAGE_SEQUENCE = [
    ("sync_to_device", "image"),
    ("write", "CTRL", 0x1),  # ap_start
    ("read", "CTRL", 0x1),  # busy: ap_start still set, not idle, not done
    ("read", "CTRL", 0x1),
    ("compute", "FracNet_T_0"),
    ("read", "CTRL", 0x6),  # ap_done + ap_idle: the driver stops polling
    ("sync_from_device", "out"),
]


# =============================================================================================
# tests
# =============================================================================================


@pytest.mark.parametrize("layout", sorted(REGISTER_LAYOUTS))
def test_the_driver_programs_the_ip_in_the_order_a_board_needs(standin, fake_export, tmp_path, layout):
    from fracbnn_lib.board import FracNetDriver, load_vectors

    bit = write_standin_hwh(tmp_path / "FracNet_T.bit", layout=layout, model="table", export_dir=fake_export)
    vectors = load_vectors(fake_export)
    with FracNetDriver("pynq", bitstream=bit) as accel:
        assert accel.name == "pynq" and "FracNet_T_0" in accel.describe()
        setup = len(standin.log)
        result = accel.run(vectors.images[:3])
    image_address, out_address = 0x3000_0000, 0x3001_0000
    assert standin.log[:setup] == _setup_sequence(layout, image_address, out_address)
    assert standin.log[setup:] == IMAGE_SEQUENCE * 3 + [("freebuffer", "image"), ("freebuffer", "out")]
    np.testing.assert_array_equal(result.logits, vectors.expected_logits[:3])
    assert result.backend == "pynq" and result.timing.latencies_s.shape == (3,) and result.timing.fps > 0


def test_addresses_above_4_gib_use_the_high_register(monkeypatch, fake_export, tmp_path):
    from fracbnn_lib.board import BoardError, FracNetDriver

    board = StandInBoard(base_address=0x8_0000_0000)  # the ZynqMP's high DDR window
    monkeypatch.setitem(sys.modules, "pynq", board.module())
    bit = write_standin_hwh(tmp_path / "FracNet_T.bit", layout="pynq2-vitis", model="table", export_dir=fake_export)
    with FracNetDriver("pynq", bitstream=bit):
        pass
    assert ("write", "image_1", 0) in board.log and ("write", "image_2", 0x8) in board.log
    board = StandInBoard(base_address=0x8_0000_0000)
    monkeypatch.setitem(sys.modules, "pynq", board.module())
    bit = write_standin_hwh(tmp_path / "FracNet_T.bit", layout="pynq3-vitis", model="table", export_dir=fake_export)
    with FracNetDriver("pynq", bitstream=bit):
        pass
    assert ("write", "image[31:0]", 0) in board.log and ("write", "image[63:32]", 0x8) in board.log
    bit = write_standin_hwh(tmp_path / "FracNet_T.bit", layout="vivado-hls", model="table", export_dir=fake_export)
    with pytest.raises(BoardError, match="does not fit the 32-bit register image_V"):
        FracNetDriver("pynq", bitstream=bit)


def test_auto_picks_the_board_when_pynq_and_the_bitstream_are_there(standin, fake_export, tmp_path):
    from fracbnn_lib.board import resolve_target

    bit = write_standin_hwh(tmp_path / "FracNet_T.bit", model="table", export_dir=fake_export)
    assert resolve_target("auto", bit) == "pynq"
    assert resolve_target("auto", tmp_path / "missing.bit") == "csim"
    assert resolve_target("auto", "") == "csim"


def test_board_errors_are_one_clear_line(standin, fake_export, tmp_path):
    from fracbnn_lib.board import BoardError, FracNetDriver

    def error(**kwargs) -> str:
        with pytest.raises(BoardError) as info:
            FracNetDriver("pynq", **kwargs)
        message = str(info.value)
        assert "\n" not in message
        return message

    assert "needs bitstream='FracNet_T.bit'" in error()
    assert "absent.bit not found: build it with 'make vivado'" in error(bitstream=tmp_path / "absent.bit")
    (tmp_path / "lonely.bit").write_bytes(b"x")
    assert "lonely.hwh not found beside lonely.bit" in error(bitstream=tmp_path / "lonely.bit")
    assert "should be a .bit file" in error(bitstream=tmp_path / "FracNet_T.hwh")
    bit = write_standin_hwh(tmp_path / "FracNet_T.bit", model="table", export_dir=fake_export)
    assert "no IP named 'FracNet_0' in the overlay; it has: FracNet_T_0, axi_timer_0" in error(
        bitstream=bit, ip_name="FracNet_0"
    )
    bit = write_standin_hwh(tmp_path / "Other.bit", ip_name="accel_0", model="table", export_dir=fake_export)
    hwh = json.loads(bit.with_suffix(".hwh").read_text())
    hwh["ip"]["accel_0"]["type"] = "xilinx.com:hls:Other:1.0"
    bit.with_suffix(".hwh").write_text(json.dumps(hwh))
    assert "no FracNet_T IP in the overlay" in error(bitstream=bit)
    hwh["ip"]["accel_0"]["type"] = IP_VLNV
    del hwh["ip"]["accel_0"]["registers"]["output_r_1"]
    bit.with_suffix(".hwh").write_text(json.dumps(hwh))
    assert "no address register for port 'output'" in error(bitstream=bit)
    assert not any(entry[0] == "allocate" for entry in standin.log), "nothing allocated for a wrong IP"


def test_a_missing_pynq_package_and_a_stuck_ip(monkeypatch, standin, fake_export, tmp_path):
    from fracbnn_lib.board import BoardError, FracNetDriver, load_vectors

    bit = write_standin_hwh(tmp_path / "FracNet_T.bit", model="table", export_dir=fake_export, busy_reads=10**9)
    with FracNetDriver("pynq", bitstream=bit, timeout_s=0.05) as accel:
        with pytest.raises(BoardError, match=r"did not finish within 0.05 s \(CTRL=0x1\)"):
            accel.run(load_vectors(fake_export).images[:1])
    monkeypatch.setitem(sys.modules, "pynq", None)  # import pynq -> ImportError
    with pytest.raises(BoardError, match="needs the pynq package"):
        FracNetDriver("pynq", bitstream=bit)


def test_the_board_path_computes_what_the_csim_computes(standin, real_export, tmp_path):
    """The stand-in's hardware step is the C-simulation itself: the board path must return its logits unchanged."""
    from fracbnn_lib.board import FracNetDriver, load_vectors

    bit = write_standin_hwh(tmp_path / "FracNet_T.bit", layout="pynq3-vitis", model="csim", export_dir=real_export)
    vectors = load_vectors(real_export)
    with FracNetDriver("pynq", bitstream=bit) as accel:
        logits = accel.predict(vectors.images)
    np.testing.assert_array_equal(logits, vectors.expected_logits)
    assert sum(entry[0] == "compute" for entry in standin.log) == len(vectors)


# =============================================================================================
# a real export (the HLS export and C-simulation of fracbnn_lib.hw); shared through the session's tmp folder
# =============================================================================================


def build_real_export(tmp_path_factory: pytest.TempPathFactory, n: int = 8) -> Path:
    """Export a randomly initialised FracBNN with ``n`` random images (built once per session)."""
    from fracbnn_lib.hw import cifar10 as hw

    folder = tmp_path_factory.getbasetemp() / "board_real_export"
    if not (folder / "expected_logits.npy").is_file():
        import torch

        from fracbnn_lib import fracbnn_resnet20

        torch.manual_seed(0)
        model = fracbnn_resnet20().eval()
        images = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        labels = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(2))
        hw.export_accelerator(model, folder, images=images, labels=labels)
    return folder


@pytest.fixture(scope="session")
def real_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_real_export(tmp_path_factory)


@pytest.mark.parametrize("layout", sorted(IMAGENET_LAYOUTS))
def test_the_imagenet_board_path_computes_what_its_csim_computes(standin, tmp_path, layout):
    """FracNetImageNet on the stand-in board: five DRAM buffers, weights copied once, logits == C-simulation."""
    import torch

    from fracbnn_lib.board import FracNetDriver, load_vectors
    from fracbnn_lib.hw.imagenet.export import export_accelerator as export_imagenet_accelerator
    from fracbnn_lib.models import fracbnn_reactnet

    torch.manual_seed(0)
    model = fracbnn_reactnet(num_classes=10).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
    images = torch.rand(2, 3, 224, 224)
    export = export_imagenet_accelerator(model, tmp_path / "export", images, [3, 7])
    bit = write_standin_hwh(
        tmp_path / "FracNetImageNet.bit", layout=layout, ip_name="FracNetImageNet_0", export_dir=export, imagenet=True
    )
    vectors = load_vectors(export)
    assert vectors.accelerator.name == "imagenet" and vectors.images.dtype == np.uint32
    with FracNetDriver("pynq", bitstream=bit, export_dir=export) as accel:
        result = accel.run(vectors.images)
    assert result.backend == "pynq" and np.array_equal(result.logits, vectors.expected_logits)
    log = standin.log
    synced = [entry[1] for entry in log if entry[0] == "sync_to_device"]
    assert synced[:2] == ["(445196,)", "(76448,)"] and synced[2:] == ["(3, 224, 224)"] * 2  # weights once, images each
    assert [entry for entry in log if entry[0] == "compute"] == [("compute", "FracNetImageNet_0")] * 2
    assert [entry[1] for entry in log if entry[0] == "sync_from_device"] == ["(1024,)"] * 2
    written = {entry[1].split("_")[0].split("[")[0] for entry in log if entry[0] == "write" and entry[1] != "CTRL"}
    assert written == {"image", "weights", "params", "fmaps", "pooled"}
    assert sum(entry[0] == "freebuffer" for entry in log) == 5
