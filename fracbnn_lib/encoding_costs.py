"""What the thermometer code costs and keeps: levels, reconstruction error, the input layer's size, its pictures.

Tables are pandas DataFrames, figures matplotlib ``Figure`` objects built without pyplot (notebook 01
shows them; :func:`fracbnn_lib.run_files.save_figure` writes them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from .encoding import thermometer_encode, thermometer_levels


def thermometer_decode(encoded: torch.Tensor, resolution: int = 8, colour_channels: int = 3) -> torch.Tensor:
    """Reconstruct images from their thermometer code (inverse of :func:`thermometer_encode` up to rounding).

    ``encoded``: N x (C*L) x H x W in {-1, +1}. With ``n`` levels on in channel ``c``, the pixel
    becomes ``min(n * resolution, 255) / 255``. Returns float N x C x H x W in [0, 1].
    """
    n, cl, h, w = encoded.shape
    levels = cl // colour_channels
    on = (encoded.reshape(n, colour_channels, levels, h, w) > 0).sum(dim=2).to(torch.float32)
    return (on * resolution).clamp(max=255.0) / 255.0


def encoding_table(resolutions: Iterable[int], colour_channels: int = 3) -> pd.DataFrame:
    """Levels and encoded input channels per resolution: ``L = round(255 / r)``, channels ``C * L``."""
    rows = []
    for r in resolutions:
        levels = thermometer_levels(r)
        rows.append({"resolution": r, "levels": levels, "encoded_channels": colour_channels * levels})
    return pd.DataFrame(rows, columns=["resolution", "levels", "encoded_channels"])


def reconstruction_table(images: torch.Tensor, resolutions: Iterable[int]) -> pd.DataFrame:
    """Error left by encoding then decoding ``images`` (N x 3 x H x W in [0, 1]) at each resolution.

    Errors are in 8-bit intensity units against ``round(255 * p)``: ``max_error``, ``mean_abs_error``
    and ``rmse``. Quantisation to steps of ``r`` bounds the error by about ``r / 2``.
    """
    target = torch.round(images.clamp(0, 1) * 255.0)
    table = encoding_table(resolutions, colour_channels=images.shape[1])
    errors = []
    for r in table["resolution"]:
        diff = thermometer_decode(thermometer_encode(images, int(r)), int(r), images.shape[1]) * 255.0 - target
        errors.append(
            {
                "max_error": float(diff.abs().max()),
                "mean_abs_error": float(diff.abs().mean()),
                "rmse": float(diff.pow(2).mean().sqrt()),
            }
        )
    return pd.concat([table, pd.DataFrame(errors)], axis=1)


def input_layer_cost(
    resolutions: Iterable[int],
    *,
    out_channels: int = 16,
    kernel_size: int = 3,
    stride: int = 1,
    height: int = 32,
    width: int = 32,
    colour_channels: int = 3,
    fixed_bits: int = 8,
) -> pd.DataFrame:
    """Cost of the first conv: thermometer-encoded binary layer vs a ``fixed_bits`` fixed-point layer.

    Output size ``ceil(H / stride) x ceil(W / stride)`` (padding ``k // 2``). For ``C_in`` input
    channels: ``MACs = H' W' C_out C_in k^2``; ``BOPs = MACs x weight bits x activation bits``;
    weight memory ``C_out C_in k^2 x weight bits``. The fixed-point layer sees the ``C`` colour
    channels at ``fixed_bits`` x ``fixed_bits``; the binary layer ``C * L`` channels at 1 x 1 (XNOR +
    popcount). Column ``bops_vs_fixed`` is each row's BOPs over the fixed-point layer's.
    """
    outputs = math.ceil(height / stride) * math.ceil(width / stride) * out_channels
    taps = kernel_size * kernel_size

    def row(name: str, resolution: float, channels: int, bits: int) -> dict[str, Any]:
        macs = outputs * channels * taps
        return {
            "layer": name,
            "resolution": resolution,
            "input_channels": channels,
            "weight_bits": bits,
            "activation_bits": bits,
            "macs": macs,
            "bops": macs * bits * bits,
            "weight_memory_bits": out_channels * channels * taps * bits,
        }

    rows = [row(f"{fixed_bits}-bit fixed point", math.nan, colour_channels, fixed_bits)]
    rows += [row(f"thermometer r={r}", r, colour_channels * thermometer_levels(r), 1) for r in resolutions]
    table = pd.DataFrame(rows).astype({"resolution": "Int64"})
    table["bops_vs_fixed"] = table["bops"] / table["bops"].iloc[0]
    return table


def _image_hwc(image: torch.Tensor) -> np.ndarray:
    return image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy()


def _framed(ax: Any) -> None:
    """No ticks, but the frame stays: a bit plane that is all +1 (white) still shows where it is."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("0.4")


def plot_bit_planes(
    image: torch.Tensor, resolution: int = 8, channel: int = 0, levels: Sequence[int] | None = None
) -> Figure:
    """An image (3 x H x W in [0, 1]) and some thermometer bit planes of one colour channel (white = +1).

    Each plane is framed and titled with the share of its pixels that are on: a level every pixel
    reaches is a white square, one no pixel reaches a black one, not an empty panel.
    """
    n_levels = thermometer_levels(resolution)
    levels = list(levels) if levels is not None else list(np.linspace(0, n_levels - 1, 6).round().astype(int))
    code = thermometer_encode(image.unsqueeze(0), resolution)[0]
    fig = Figure(figsize=(2.0 * (len(levels) + 1), 2.7), layout="constrained")
    axes = fig.subplots(1, len(levels) + 1)
    axes[0].imshow(_image_hwc(image))
    axes[0].set_title("image")
    colour = "RGB"[channel] if channel < 3 else str(channel)
    for ax, b in zip(axes[1:], levels, strict=True):
        plane = code[channel * n_levels + b].cpu().numpy()
        ax.imshow(plane, cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"{colour} level {b}\n{float((plane > 0).mean()):.0%} on", fontsize=9)
    for ax in axes:
        _framed(ax)
    fig.suptitle(
        f"thermometer code, resolution {resolution} ({n_levels} levels per channel): white = +1 (level on), black = -1"
    )
    return fig


def plot_reconstructions(image: torch.Tensor, resolutions: Sequence[int]) -> Figure:
    """An image decoded from its thermometer code at each resolution, with the max error in 8-bit units."""
    table = reconstruction_table(image.unsqueeze(0), resolutions)
    fig = Figure(figsize=(2.0 * (len(resolutions) + 1), 2.8), layout="constrained")
    axes = fig.subplots(1, len(resolutions) + 1)
    axes[0].imshow(_image_hwc(image))
    axes[0].set_title("original")
    for ax, r, err in zip(axes[1:], resolutions, table["max_error"], strict=True):
        decoded = thermometer_decode(thermometer_encode(image.unsqueeze(0), r), r)[0]
        ax.imshow(_image_hwc(decoded))
        ax.set_title(f"r={r}: {thermometer_levels(r)} levels\nmax err {err:.0f}/255")
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle("the image decoded from its thermometer code at each resolution r (error in 8-bit steps)")
    return fig


def plot_encoding_cost(encoding: pd.DataFrame, cost: pd.DataFrame, chosen: int | None = 8) -> Figure:
    """Encoded channels vs resolution (left) and the input layer's bit operations (right); ``chosen`` is marked."""
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    left.plot(encoding["resolution"], encoding["encoded_channels"], marker="o")
    left.set_xscale("log", base=2)
    left.set_yscale("log", base=2)
    left.set_xlabel("resolution r (8-bit steps per level)")
    left.set_ylabel("encoded input channels 3 x round(255/r)")
    left.grid(True, alpha=0.3)
    binary = cost[cost["resolution"].notna()]
    fixed = cost[cost["resolution"].isna()].iloc[0]
    right.plot(binary["resolution"], binary["bops"], marker="o", label="thermometer, binary (XNOR/popcount)")
    right.axhline(fixed["bops"], color="C3", linestyle="--", label=fixed["layer"])
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    right.set_xlabel("resolution r")
    right.set_ylabel("bit operations per image (MACs x W bits x A bits)")
    if chosen is not None:
        for ax in (left, right):
            ax.axvline(chosen, color="0.5", linestyle=":", label=f"r = {chosen}")
    right.legend(fontsize=8)
    right.grid(True, alpha=0.3)
    left.set_title("binary input channels", fontsize=10)
    right.set_title("bit operations of the first layer", fontsize=10)
    fig.suptitle("the thermometer-coded input layer against its resolution: size and cost")
    fig.tight_layout()
    return fig
