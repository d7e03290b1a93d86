"""The authors' trained model from the official release (``cornell-zhang/FracBNN``) as our checkpoint.

``fracbnn import-release PATH --out CHECKPOINT`` reads either of the release's two forms of its
trained parameters and writes one of our checkpoints (atomically; nothing on an error):

- **The CIFAR-10 testbench header** ``xcel-cifar10/source/weights_tb.h``: C arrays
  ``const float NAME[d0][d1]... = {...};``, one per parameter of the release's ResNet-20, named as
  the PyTorch state-dict key with ``.`` written ``_`` (``layer1.0.rprelu1.shift_x.bias`` ->
  ``layer1_0_rprelu1_shift_x_bias``), dimensions as in PyTorch with the singleton dims dropped
  (``conv1_threshold[C]`` for ``1 x C x 1 x 1``), row-major. What the values mean is fixed by the
  release's ``tb.cc`` (``FracNet_sw``), the float reference its accelerator is checked against:

  - ``conv1_weight[16][96][3][3]``: the latent float weights of the binary input layer; the
    testbench counts ``+1`` where the input bit (the thermometer code, channel ``colour * 32 + level``)
    agrees with ``w > 0`` and ``-1`` otherwise, i.e. ``conv(2b - 1, s(w))`` with ``s(w) = +1`` for
    ``w > 0``, ``-1`` for ``w <= 0``, zero padding;
  - ``layerL_B_convK_weight[C_out][C_in][3][3]``: the binarised weights (values ±1), which the
    testbench multiplies with directly; ``layerL_B_convK_threshold[C_out]``: the gate's ``θ``
    (``out = full`` where ``sigmoid(5 (2/3 conv(sign(x), w) - θ)) > 0.5``, else the MSB part);
  - ``bnN_weight[C]``, ``bnN_bias[C]``: **batch norm folded** into a scale ``a`` and shift ``b``,
    applied as ``y = a x + b`` (the testbench's ``bn``); there are no running statistics. For the
    release's eval-mode BN ``y = γ (x - μ) / sqrt(σ² + ε) + β`` that is ``a = γ / sqrt(σ² + ε)``,
    ``b = β - μ a``;
  - ``rpreluK_shift_x_bias``, ``rpreluK_shift_y_bias``, ``rpreluK_prelu_weight`` (``[C]``): RPReLU
    ``y = prelu(x + b_x, α) + b_y``; ``linear_weight[10][64]`` (out x in), ``linear_bias[10]``;
  - ``encoder_placeholder[1] = {}``: an empty stand-in for the encoder's buffer (ignored).

  The accelerator's own headers hold the same model for the hardware and are not read here:
  ``weights_fracnet_64.h`` the per-channel parameters as ``FIX_WT`` (``ap_fixed<12,4,AP_RND,AP_SAT>``)
  in tiles of 16 channels (``NAME_fix[C/16 padded to 4][16]``), ``conv_weights.h`` the conv weights
  as sign bits, ``uint64 conv_weight_all[45][16][3][3]`` (tiles of 16 output channels, one 64-bit
  word per kernel tap holding the input channels MSB-first, bit 1 = +1; the input layer takes 3 tiles,
  one per colour, its 32 levels in the top half of the word).

- **A release checkpoint** ``.pt`` (the Google-Drive files, CIFAR-10 or ImageNet): the release's
  bare state dict, read and checked by :func:`fracbnn_lib.checkpoint.load_checkpoint` (``module.``
  prefixes, ``encoder.placeholder``, ImageNet's ``teacher.*``, ``img_mean``, ``img_std`` mapped away);
  its BN keeps its running statistics, its weights their latent floats.

**Folded BN, undone.** Our models keep ``nn.BatchNorm2d``; the header's ``(a, b)`` become the
equivalent BN ``weight = a``, ``bias = b``, ``running_mean = 0``, ``running_var = 1 - ε``
(``ε = 1e-5``, the module's ``eps``), ``num_batches_tracked = 0``. In eval mode
``y = a (x - 0) / sqrt((1 - ε) + ε) + b = a x + b``, exactly the testbench's ``bn`` up to the
rounding of ``1 - ε`` in float32 (a relative ``7e-9`` on ``a``). So ``fracbnn test``, the export
(which folds BN again: ``a / sqrt(σ² + ε) = a``) and the deploy bundle see the testbench's network.
Training mode would normalise with batch statistics instead (the original ``γ, β, μ, σ²`` are not
recoverable from ``a, b``); fine-tuning from a header import therefore starts from a re-parametrised
BN. The checkpoint's ``config["source"]`` records this (``"batchnorm": "folded"``).

**Weights.** The PG convs' ±1 weights are kept as they are (``sign(±1) = ±1``; latent values are not
in the header). The input layer's latent weights are kept, except that exact zeros become ``-1``: the
testbench maps ``w <= 0`` to ``-1`` where ``torch.sign(0) = 0``.

Our checkpoint: ``{"model": state dict, "config": {"stage": {"name": "release", "binary_weights":
True, "gating": True}, "model": class name, "source": {...}}, "metrics": {}}``: the final FracBNN
(binary weights, gate on), which ``fracbnn test``, ``fracbnn export`` and ``--init-from`` read.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .checkpoint import CheckpointError, atomic_save, load_checkpoint, map_official_keys, model_state, read_checkpoint
from .cli import OneLineParser
from .files import sha256

HEADER_NAME = "weights_tb.h"
HEADER_LOCATIONS = ("xcel-cifar10/source/weights_tb.h", "xcel/weights_tb.h", "weights_tb.h")
"""Where a release checkout keeps the testbench header (the first that exists is taken)."""
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".tar")
RELEASE_STAGE = {"name": "release", "binary_weights": True, "gating": True}
"""The stage an imported model is in: the release's final FracBNN (binary weights, gate on)."""
GET_RELEASE = "clone https://github.com/cornell-zhang/FracBNN or download its pretrained .pt"


class ReleaseError(CheckpointError):
    """A release file that cannot be read or does not hold the release's model (one line, says what to do)."""


# ---------------------------------------------------------------------------------------------------------------------
# C arrays


@dataclass(frozen=True)
class CArray:
    """One C array definition: ``ctype name[dims] = {tokens}``; ``tokens`` are the initialiser's literals in order."""

    name: str
    ctype: str
    dims: tuple[int, ...]
    tokens: tuple[str, ...]

    @property
    def size(self) -> int:
        """Number of elements the dimensions declare (``prod(dims)``)."""
        return math.prod(self.dims)

    def values(self) -> np.ndarray:
        """The elements as an array shaped ``dims``, converted as ``ctype`` converts its literals.

        ``float`` -> float32; ``double`` -> float64; ``ap_fixed<W,I,Q,O>`` / ``ap_ufixed`` -> float64 on the
        type's grid ``2^-(W-I)`` (rounding ``Q``, overflow ``O``); integers (``int``, ``uint64_t``,
        ``ap_uint<W>``, typedef-style ``uint64``, ...) -> wrapped to their width, uint64/int64 (or Python
        ints for widths above 64); any other type name by its literals (integers if all are). Raises
        :class:`ValueError` when the initialiser's count differs from ``prod(dims)`` or a literal is not a number.
        """
        if len(self.tokens) != self.size:
            raise ValueError(f"{self.name} holds {len(self.tokens)} values, its dimensions declare {self.size}")
        kind = _element_kind(self.ctype)
        if kind[0] == "int" or (kind[0] == "literal" and all(_INT_LITERAL.fullmatch(t) for t in self.tokens)):
            width, signed = (kind[1], kind[2]) if kind[0] == "int" else (64, True)
            return _wrap_ints([_int_literal(t) for t in self.tokens], width, signed).reshape(self.dims)
        floats = np.array([_float_literal(t) for t in self.tokens], dtype=np.float64).reshape(self.dims)
        if kind[0] == "float":
            return floats.astype(kind[1])
        if kind[0] == "fixed":
            return _to_fixed(floats, *kind[1:])
        return floats


_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_DECLARATION = re.compile(
    r"(?P<type>(?:(?:unsigned|signed|long|short)\s+)*[A-Za-z_][\w:]*(?:\s*<[^<>;{}=]*>)?)\s+"
    r"(?P<name>[A-Za-z_]\w*)\s*(?P<dims>(?:\[\s*\d+\s*\]\s*)+)=\s*\{"
)
_TYPEDEF = re.compile(r"typedef\s+(?P<type>[^;{}]+?)\s+(?P<name>[A-Za-z_]\w*)\s*;")
_BRACES = re.compile(r"[{}]")
_TOKEN = re.compile(r"[^\s{},]+")
_INT_LITERAL = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*")
_AP_FIXED = re.compile(r"ap_(u?)fixed\s*<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\w+)\s*)?(?:,[^>]*)?>")
_INT_TYPES = {"char": 8, "short": 16, "int": 32, "long": 64, "size_t": 64}


def parse_c_arrays(text: str) -> dict[str, CArray]:
    """Every array definition ``[const] TYPE NAME[d0][d1]... = {...};`` of a C/C++ source text, by name.

    Comments are skipped; ``typedef``s of the same text are resolved in the element types. Nested
    braces are flattened in row-major order (C's rule for a fully braced initialiser). Raises
    :class:`ValueError` naming the array when its initialiser is not closed (a truncated file).
    """
    text = _COMMENTS.sub(" ", text)
    typedefs = {m["name"]: " ".join(m["type"].split()) for m in _TYPEDEF.finditer(text)}
    arrays: dict[str, CArray] = {}
    position = 0
    while match := _DECLARATION.search(text, position):
        depth, end = 1, None
        for brace in _BRACES.finditer(text, match.end()):
            depth += 1 if brace.group() == "{" else -1
            if depth == 0:
                end = brace.start()
                break
        if end is None:
            raise ValueError(f"the initialiser of {match['name']} is cut off (its braces do not close)")
        ctype = " ".join(match["type"].split())
        for _ in range(8):  # typedef chains
            ctype = typedefs.get(ctype, ctype)
        dims = tuple(int(d) for d in re.findall(r"\d+", match["dims"]))
        arrays[match["name"]] = CArray(match["name"], ctype, dims, tuple(_TOKEN.findall(text, match.end(), end)))
        position = end + 1
    return arrays


def _element_kind(ctype: str) -> tuple[Any, ...]:
    """``("float", dtype)``, ``("fixed", W, I, signed, Q, O)``, ``("int", width, signed)`` or ``("literal",)``."""
    bare = re.sub(r"^(?:const\s+|static\s+)+", "", ctype).removeprefix("std::")
    if bare in ("float", "double"):
        return ("float", np.float32 if bare == "float" else np.float64)
    if m := _AP_FIXED.fullmatch(bare):
        return ("fixed", int(m[2]), int(m[3]), not m[1], m[4] or "AP_TRN", m[5] or "AP_WRAP")
    if m := re.fullmatch(r"ap_(u?)int\s*<\s*(\d+)\s*>", bare) or re.fullmatch(r"(u?)int(\d+)(?:_t)?", bare):
        return ("int", int(m[2]), not m[1])
    words = bare.split()
    if words and set(words) <= {"unsigned", "signed", "char", "short", "int", "long"}:
        base = next((w for w in words if w in ("char", "short")), "long" if "long" in words else "int")
        return ("int", _INT_TYPES[base], "unsigned" not in words)
    return ("literal",)


def _int_literal(token: str) -> int:
    body = token.rstrip("uUlL")
    if not _INT_LITERAL.fullmatch(body):
        raise ValueError(f"{token!r} is not an integer literal")
    return int(body, 0) if not re.fullmatch(r"[-+]?0\d+", body) else int(body, 8)


def _float_literal(token: str) -> float:
    if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+[uUlL]*", token):
        return float(_int_literal(token))
    body = token[:-1] if token[-1:] in "fFlL" else token
    try:
        return float(body)
    except ValueError:
        raise ValueError(f"{token!r} is not a number") from None


def _wrap_ints(values: list[int], width: int, signed: bool) -> np.ndarray:
    """Integers reduced modulo ``2^width`` (two's complement when ``signed``), as C converts them."""
    wrapped = [v % (1 << width) for v in values]
    if signed:
        wrapped = [v - (1 << width) if v >= 1 << (width - 1) else v for v in wrapped]
    if width > 64:
        return np.array(wrapped, dtype=object)
    return np.array(wrapped, dtype=np.int64 if signed else np.uint64)


def _to_fixed(values: np.ndarray, width: int, integer: int, signed: bool, rounding: str, overflow: str) -> np.ndarray:
    """``values`` as ``ap_fixed<width, integer, rounding, overflow>`` holds them: on of ``2^-(width-integer)``."""
    steps = values * 2.0 ** (width - integer)
    rounders = {
        "AP_TRN": np.floor,
        "AP_TRN_ZERO": np.trunc,
        "AP_RND": lambda s: np.floor(s + 0.5),
        "AP_RND_ZERO": lambda s: np.where(s >= 0, np.ceil(s - 0.5), np.floor(s + 0.5)),
        "AP_RND_MIN_INF": lambda s: np.ceil(s - 0.5),
        "AP_RND_INF": lambda s: np.where(s >= 0, np.floor(s + 0.5), np.ceil(s - 0.5)),
        "AP_RND_CONV": np.round,
    }
    if rounding not in rounders:
        raise ValueError(f"unknown ap_fixed rounding mode {rounding}")
    steps = rounders[rounding](steps)
    low, high = (-(2.0 ** (width - 1)), 2.0 ** (width - 1) - 1) if signed else (0.0, 2.0**width - 1)
    if overflow in ("AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM"):
        steps = np.clip(steps, low + (overflow == "AP_SAT_SYM" and signed), high)
    else:
        steps = np.mod(steps - low, 2.0**width) + low
    return steps * 2.0 ** -(width - integer)


# ---------------------------------------------------------------------------------------------------------------------
# The testbench header -> our ResNet-20


def header_array_name(key: str) -> str:
    """The header's name of a state-dict key: ``layer1.0.bn1.weight`` -> ``layer1_0_bn1_weight``."""
    return key.replace(".", "_")


def _squeezed(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def header_state_dict(
    arrays: Mapping[str, CArray], model: nn.Module, source: str = "the header"
) -> dict[str, torch.Tensor]:
    """The state dict of ``model`` (a :func:`~fracbnn_lib.models.fracbnn_resnet20`) from the header's arrays.

    Every parameter ``key`` of shape ``S`` comes from the array ``header_array_name(key)`` whose
    dimensions are ``S`` without its singleton dims (``threshold``, the RPReLU biases: ``[C]`` for
    ``1 x C x 1 x 1``), values row-major. BN modules: ``weight = a``, ``bias = b`` (the folded scale
    and shift), ``running_mean = 0``, ``running_var = 1 - eps``, ``num_batches_tracked = 0`` (module
    docstring). The input layer's exact-zero weights become -1. Raises :class:`ReleaseError` (naming
    ``source`` and the arrays) for missing arrays, dimensions that differ, values that are not numbers
    or PG-conv weights other than -1, 0, +1. Returns the state dict in ``model.state_dict()``'s order,
    dtypes and shapes (e.g. ``conv1.weight`` 16 x 96 x 3 x 3, ``layer1.0.conv1.threshold`` 1 x 16 x 1 x 1).
    """
    modules = dict(model.named_modules())
    needed: dict[str, str] = {}
    state: dict[str, torch.Tensor] = {}
    for key, tensor in model.state_dict().items():
        owner, _, leaf = key.rpartition(".")
        if isinstance(modules[owner], nn.modules.batchnorm._BatchNorm) and leaf not in ("weight", "bias"):
            eps = modules[owner].eps
            fill = {"running_mean": 0.0, "running_var": 1.0 - eps, "num_batches_tracked": 0}[leaf]
            state[key] = torch.full_like(tensor, fill)
        else:
            needed[key] = header_array_name(key)
    missing = [name for name in needed.values() if name not in arrays]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ReleaseError(
            f"{source} lacks the array {missing[0]}{more}: it is not the release's CIFAR-10 testbench header "
            f"(xcel-cifar10/source/{HEADER_NAME}) or a cut-short copy of it; fetch it again ({GET_RELEASE})"
        )
    expected = model.state_dict()
    for key, name in needed.items():
        array = arrays[name]
        shape = tuple(expected[key].shape)
        if _squeezed(array.dims) != _squeezed(shape):
            raise ReleaseError(
                f"{source}: {name} is {list(array.dims)}, the release's ResNet-20 has {list(_squeezed(shape))}: "
                "not the release's CIFAR-10 model; use the header of cornell-zhang/FracBNN"
            )
        try:
            values = torch.from_numpy(np.ascontiguousarray(array.values(), dtype=np.float32)).reshape(shape)
        except (ValueError, TypeError) as err:
            raise ReleaseError(f"{source}: {err}: the file is damaged or cut short; fetch it again") from None
        if key.startswith("layer") and key.endswith(("conv1.weight", "conv2.weight")):
            odd = values[(values != 1) & (values != -1) & (values != 0)]
            if odd.numel():
                raise ReleaseError(
                    f"{source}: {name} holds {odd.numel()} values other than -1 and +1 (e.g. {odd[0].item():g}): "
                    "the testbench header holds binarised PG-conv weights; is this the release's weights_tb.h?"
                )
        if key == "conv1.weight":
            values = torch.where(values == 0, torch.full_like(values, -1.0), values)  # the testbench's w <= 0 -> -1
        state[key] = values.to(expected[key].dtype)
    return {key: state[key] for key in expected}


# ---------------------------------------------------------------------------------------------------------------------
# Finding and importing


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_release` did: file read, its kind (``header``/``checkpoint``), model class, output."""

    source: Path
    kind: str
    model: str
    out: Path


def find_release_file(path: str | Path) -> Path:
    """The release file ``path`` names: itself if a file; in a folder (a release checkout) its testbench
    header (``xcel-cifar10/source/weights_tb.h``, ...) or else its only ``.pt``/``.pth`` file.

    Raises :class:`ReleaseError` when ``path`` does not exist, a folder holds neither, or several checkpoints.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise ReleaseError(f"{path} not found: give the release's checkout, its {HEADER_NAME} or a .pt ({GET_RELEASE})")
    if not path.is_dir():
        raise ReleaseError(f"{path} is not a file or folder: give the release's checkout, its {HEADER_NAME} or a .pt")
    for location in HEADER_LOCATIONS:
        if (path / location).is_file():
            return path / location
    headers = sorted(p for p in path.rglob(HEADER_NAME) if p.is_file())
    if len(headers) == 1:
        return headers[0]
    found = sorted(
        p
        for p in path.rglob("*")
        if p.suffix in CHECKPOINT_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if len(found) == 1:
        return found[0]
    if not found and not headers:
        raise ReleaseError(
            f"{path} holds neither xcel-cifar10/source/{HEADER_NAME} nor a .pt checkpoint: "
            f"give the release's checkout or one of its files ({GET_RELEASE})"
        )
    several = headers if len(headers) > 1 else found
    shown = ", ".join(str(p) for p in several[:3]) + (", ..." if len(several) > 3 else "")
    raise ReleaseError(f"{path} holds several candidates ({shown}): pass the one to import")


def _is_torch_file(path: Path) -> bool:
    """A ``.pt``/``.pth``/``.tar`` name, or the first bytes of a zip archive (``torch.save``) or a pickle."""
    if path.suffix in CHECKPOINT_SUFFIXES:
        return True
    with path.open("rb") as handle:
        head = handle.read(2)
    return head == b"PK" or head[:1] == b"\x80"


def read_header(path: str | Path) -> dict[str, CArray]:
    """The C arrays of a header file (:func:`parse_c_arrays`); :class:`ReleaseError` naming the file otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise ReleaseError(f"cannot read {path} ({err.strerror}): check the path and its permissions") from None
    try:
        arrays = parse_c_arrays(text)
    except ValueError as err:
        raise ReleaseError(f"{path}: {err}: the file is truncated; fetch it again ({GET_RELEASE})") from None
    if not arrays:
        raise ReleaseError(
            f"{path} holds no C arrays: not the release's {HEADER_NAME}; give xcel-cifar10/source/{HEADER_NAME} "
            "of the release's checkout or its pretrained .pt"
        )
    return arrays


def model_for_state(state: Mapping[str, torch.Tensor]) -> nn.Module:
    """The kit's model of a release state dict, the network whose classifier it holds
    (:func:`fracbnn_lib.accelerators.for_state_dict`; classes from that classifier), in the final stage (binary
    weights, gate on); a ResNet-20, whose strict load lists the keys, for a state dict with neither."""
    from .accelerators import CIFAR10, UnknownAcceleratorError, for_state_dict
    from .models import build_model

    try:
        accelerator = for_state_dict(state)
    except UnknownAcceleratorError:
        return build_model(CIFAR10)
    return build_model(accelerator, int(state[accelerator.classifier_key].shape[0]))


def release_checkpoint_state(path: str | Path) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """The model and its state dict from a release ``.pt`` (CIFAR-10 or ImageNet), strictly checked.

    Raises :class:`ReleaseError` for our own checkpoints and for state dicts of other models.
    """
    path = Path(path)
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError as err:
        hint = "" if "again" in str(err) else " (a release .pt: download it again)"
        raise ReleaseError(f"{err}{hint}") from None
    if "model" in checkpoint and "config" in checkpoint:
        raise ReleaseError(f"{path} is already a checkpoint of this kit: use it directly, no import needed")
    try:
        state = map_official_keys(model_state(checkpoint))
        model = model_for_state(state)
        load_checkpoint(state, model)
    except CheckpointError as err:
        detail = re.search(r" \((.*)\); is it", str(err))
        if detail is None:  # a release checkpoint whose values are broken (NaN): the message says so
            raise ReleaseError(str(err)) from None
        raise ReleaseError(
            f"{path} is not a release checkpoint of FracBNN ({detail[1]}): "
            "give the release's pretrained CIFAR-10 or ImageNet .pt"
        ) from None
    return model, model.state_dict()


def import_release(path: str | Path, out: str | Path, *, overwrite: bool = False) -> ImportResult:
    """Read the release's model at ``path`` (:func:`find_release_file`) and write our checkpoint to ``out``.

    Everything is read and checked (strict load into the kit's model, finite values) before ``out`` is
    written, atomically (:func:`~fracbnn_lib.checkpoint.atomic_save`); an existing ``out`` is replaced
    only with ``overwrite``. Raises :class:`ReleaseError` (one line, naming the file) otherwise.
    """
    out = Path(out)
    if out.is_dir():
        raise ReleaseError(f"--out {out} is a folder: give the checkpoint file to write, e.g. {out / 'final.pt'}")
    if out.exists() and not overwrite:
        raise ReleaseError(f"{out} exists: pass --force to replace it")
    source = find_release_file(path)
    if _is_torch_file(source):
        model, state = release_checkpoint_state(source)
        kind, batchnorm = "checkpoint", "running statistics (as trained)"
    else:
        from .models import fracbnn_resnet20

        model = fracbnn_resnet20()
        state = header_state_dict(read_header(source), model, str(source))
        try:
            load_checkpoint(state, model)
        except CheckpointError as err:
            raise ReleaseError(f"{source}: {err}") from None
        kind = "header"
        batchnorm = "folded: weight = scale, bias = shift, running_mean = 0, running_var = 1 - eps"
    config = {
        "stage": dict(RELEASE_STAGE),
        "model": type(model).__name__,
        "source": {"kind": kind, "file": str(source), "sha256": sha256(source), "batchnorm": batchnorm},
    }
    atomic_save({"model": state, "config": config, "metrics": {}}, out)
    return ImportResult(source=source, kind=kind, model=type(model).__name__, out=out)


def build_parser() -> argparse.ArgumentParser:
    """``fracbnn import-release`` options."""
    parser = OneLineParser(
        prog="fracbnn import-release",
        description="Write the authors' trained FracBNN (the release's weights_tb.h or .pt) as our checkpoint.",
    )
    parser.add_argument(
        "path", type=Path, help=f"the release's checkout, its xcel-cifar10/source/{HEADER_NAME}, or a release .pt"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="checkpoint to write (e.g. runs/release/checkpoints/final.pt)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``fracbnn import-release``: 0 on success, 1 on a problem with the files (one line on stderr), 2 on usage."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    from .files import FolderError, check_writable

    try:
        check_writable(args.out.parent, "output folder (--out)")
        result = import_release(args.path, args.out, overwrite=args.force)
    except (CheckpointError, FolderError) as err:
        print(f"fracbnn import-release: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        print(f"fracbnn import-release: error: {err.strerror or err}{where}: fix the path, then rerun", file=sys.stderr)
        return 1
    what = "testbench header (BN folded into scale/shift)" if result.kind == "header" else "checkpoint"
    print(f"imported the release's {what} {result.source} -> {result.out} ({result.model}, binary weights, gate on)")
    return 0
