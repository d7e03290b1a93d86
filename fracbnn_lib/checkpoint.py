"""Checkpoints: atomic saving, safe (``weights_only``) and strict loading of ours and the release's.

Our checkpoint is a dict with ``model`` (state dict), ``config``, ``epoch``, ``optimizer``,
``scheduler`` and ``metrics``. The release saves a bare state dict, possibly with a
``module.`` prefix (``nn.DataParallel``), the encoder's ``placeholder`` buffer, and for
ImageNet a ``teacher.*`` sub-model and ``img_mean``/``img_std`` buffers; those known
differences are mapped away and everything else must match exactly.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .files import atomic_write

OFFICIAL_ONLY_KEYS = ("encoder.placeholder", "img_mean", "img_std")
OFFICIAL_ONLY_PREFIXES = ("teacher.",)
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model."""


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint could not be written (a full disk, a file-size limit, ...); the previous file is unchanged."""


FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
"""Out of space: the disk or the user's quota."""


def _write_failure(err: BaseException) -> OSError | None:
    """The ``OSError`` behind a failed ``torch.save``: ``err`` itself, or what torch's writer error arose from."""
    seen = err
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half-written file.

    A write that fails (a full disk: ``OSError``, or torch's ``RuntimeError: [enforce fail at
    inline_container.cc...]`` when its writer hits it) raises :class:`CheckpointWriteError`, one line
    naming the folder and what to do; the temporary file is removed and an existing ``path`` is unchanged.
    """
    path = Path(path)
    try:
        return atomic_write(path, lambda handle: torch.save(obj, handle))
    except (OSError, RuntimeError) as err:
        cause = _write_failure(err)
        text = str(err).strip()
        if cause is None and not ("inline_container" in text or "PytorchStreamWriter" in text):
            raise  # not a write failure (e.g. an object torch cannot save)
        reason = (cause.strerror or str(cause)) if cause is not None else text.splitlines()[0]
        if cause is not None and cause.errno == errno.EFBIG:
            advice = "raise the file-size limit (ulimit -f) or choose another folder (--save-dir)"
        elif cause is None or cause.errno in FULL_ERRNOS:  # torch's own writer error says only that it failed
            advice = "free space there or choose another folder (--save-dir)"
        else:
            advice = "choose a writable folder (--save-dir)"
        kept = f"the previous {path.name} is unchanged" if path.is_file() else f"no {path.name} was written"
        raise CheckpointWriteError(
            f"cannot write checkpoint {path.name} into {path.parent} ({reason}): {advice}; {kept}"
        ) from None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file with ``weights_only=True``; a clear :class:`CheckpointError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): a write was cut short; delete it")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        text = str(err).strip()
        refused = re.search(r"unsupported GLOBAL ([\w.]+)", text)
        if refused:
            raise CheckpointError(
                f"cannot read checkpoint {path}: it holds Python objects besides tensors and plain data "
                f"({refused.group(1)}), which are never loaded (loading them could run code); save a state dict instead"
            ) from None
        if "zip archive" in text.lower():  # torch.save's archive, cut short or corrupted
            raise CheckpointError(
                f"cannot read checkpoint {path}: it is damaged or cut short (an incomplete zip archive); "
                "copy or download it again"
            ) from None
        if "weights only load failed" in text.lower():
            raise CheckpointError(
                f"cannot read checkpoint {path}: not a PyTorch checkpoint, or a damaged one"
            ) from None
        first = text.splitlines()[0] if text else type(err).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {first}") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict or checkpoint dict")
    return dict(obj)


def model_state(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The model state dict inside ``checkpoint`` (ours: its ``model`` entry; the release's: itself)."""
    state = checkpoint.get("model", checkpoint)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            "checkpoint holds no state dict of tensors (expected a 'model' entry or a bare state dict)"
        )
    return dict(state)


def map_official_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes and drop the release's non-parameter entries (see module docstring)."""
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        if key in OFFICIAL_ONLY_KEYS or key.startswith(OFFICIAL_ONLY_PREFIXES):
            continue
        mapped[key] = value
    return mapped


def _describe(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown


def load_checkpoint(path_or_state_dict: str | Path | Mapping[str, Any], model: nn.Module) -> dict[str, Any]:
    """Load weights into ``model`` strictly, from our checkpoint or the release's layout.

    Accepts a file path, one of our checkpoint dicts, or a state dict. Raises
    :class:`CheckpointError` listing missing, unexpected and mis-shaped keys; ``model`` is left
    unchanged in that case, and also for weights holding NaN or infinities. Returns the checkpoint
    dict (for ``config``, ``epoch``, ``metrics``).
    """
    if isinstance(path_or_state_dict, (str, Path)):
        checkpoint = read_checkpoint(path_or_state_dict)
        source = str(path_or_state_dict)
    else:
        checkpoint = dict(path_or_state_dict)
        source = "the given state dict"
    state = map_official_keys(model_state(checkpoint))
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_describe(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_describe(unexpected)}")
    if mis_shaped:
        problems.append(f"shape mismatches: {_describe(mis_shaped)}")
    if problems:
        raise CheckpointError(
            f"checkpoint from {source} does not fit {type(model).__name__} ({'; '.join(problems)}); "
            "is it a checkpoint of this architecture?"
        )
    broken = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise CheckpointError(
            f"checkpoint from {source} holds NaN or infinite values (in {_describe(broken)}): it comes from a run "
            "that diverged; use an earlier checkpoint or retrain with a lower learning rate"
        )
    model.load_state_dict(state, strict=True)
    return checkpoint
