"""Analyses behind the notebooks: thermometer costs, gating tables, model summary, paper points, figures."""

import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from fracbnn_lib import (
    GatingStats,
    PGBinaryConv2d,
    encoding_costs,
    fracbnn_resnet20,
    gating,
    measure_gating,
    paper,
    run_files,
    thermometer_encode,
    training,
)
from fracbnn_lib import (
    summary as summaries,
)
from fracbnn_lib.photographs import sample_photograph

PG_LAYERS = [f"layer{s}.{b}.conv{c}" for s in (1, 2, 3) for b in (0, 1, 2) for c in (1, 2)]


def _pg_weights(model: nn.Module) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, PGBinaryConv2d))


# --------------------------------------------------------------------------- thermometer


def test_decode_inverts_encode_at_resolution_one_and_is_bounded_by_half_a_step():
    images = torch.arange(256, dtype=torch.float32).div(255).view(1, 1, 16, 16).repeat(1, 3, 1, 1)
    exact = encoding_costs.thermometer_decode(thermometer_encode(images, 1), 1)
    assert torch.equal(exact * 255, torch.round(images * 255))
    # r = 8: round(k / 8) * 8 is within 4 of k, and 255 decodes to 255 (32 * 8 = 256 is clamped)
    coarse = encoding_costs.thermometer_decode(thermometer_encode(images, 8), 8) * 255
    assert (coarse - images * 255).abs().max() <= 4 + 1e-4
    assert coarse.max() == 255


def test_reconstruction_table_error_grows_with_resolution():
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    table = encoding_costs.reconstruction_table(images, [1, 2, 8, 32])
    assert table["levels"].tolist() == [255, 128, 32, 8]
    assert table["encoded_channels"].tolist() == [765, 384, 96, 24]
    assert table.loc[0, "max_error"] == 0
    assert table["mean_abs_error"].is_monotonic_increasing
    assert (table["max_error"] <= table["resolution"] / 2 + 1e-3).all()


def test_input_layer_cost_against_hand_counts():
    cost = encoding_costs.input_layer_cost([8, 16])
    fixed, r8, r16 = cost.to_dict("records")
    outputs = 32 * 32 * 16
    assert fixed["macs"] == outputs * 3 * 9 and fixed["bops"] == outputs * 3 * 9 * 64
    assert r8["input_channels"] == 96 and r8["macs"] == outputs * 96 * 9 == 14_155_776 and r8["bops"] == r8["macs"]
    assert r8["weight_memory_bits"] == 16 * 96 * 9
    assert r8["bops_vs_fixed"] == pytest.approx(0.5) and r16["bops_vs_fixed"] == pytest.approx(0.25)
    # ImageNet's input layer: stride 2 on 224 x 224 -> 112 x 112 outputs, 32 channels
    imagenet = encoding_costs.input_layer_cost([8], out_channels=32, stride=2, height=224, width=224)
    assert imagenet.loc[1, "macs"] == 112 * 112 * 32 * 96 * 9


# --------------------------------------------------------------------------- gating


def test_sparsity_table_and_effective_bits():
    stats = GatingStats()
    stats.add("a", torch.tensor([True, False, False, False]))
    stats.add("b", torch.tensor([True, True]))
    table = gating.sparsity_table(stats)
    assert table["sparsity"].tolist() == [0.75, 0.0]
    assert table["effective_bits"].tolist() == [1.25, 2.0]


def test_thresholds_and_dead_weights():
    model = fracbnn_resnet20()
    values = gating.thresholds(model)
    assert list(values) == PG_LAYERS and values["layer3.0.conv1"].shape == (64,)
    assert all(np.all(v == -1.0) for v in values.values())
    table = gating.threshold_table(model)
    assert table["mean"].tolist() == [-1.0] * 18 and table["channels"].sum() == 2 * 3 * (16 + 32 + 64)
    with torch.no_grad():
        model.conv1.weight.zero_()
        model.conv1.weight.view(-1)[:3] = torch.tensor([1.3, -2.0, 1.29])
    dead = gating.dead_weight_table(model).set_index("layer")
    assert dead.loc["conv1", "dead"] == 2 and dead.loc["conv1", "weights"] == 16 * 96 * 9
    assert len(dead) == 19


# --------------------------------------------------------------------------- model summary


def test_summary_counts_parameters_memory_and_macs_of_the_final_fracbnn():
    model = fracbnn_resnet20()
    summary = summaries.model_summary(model, sparsity={name: 0.25 for name in PG_LAYERS})
    totals = summaries.summary_totals(summary)
    assert totals["parameters"] == 287_146 == sum(p.numel() for p in model.parameters())
    binary = 16 * 96 * 9 + _pg_weights(model)
    assert totals["binary_parameters"] == binary
    assert totals["memory_bytes"] == binary / 8 + 4 * (287_146 - binary)
    assert totals["compression_ratio"] == pytest.approx(4 * 287_146 / totals["memory_bytes"])
    rows = summary.set_index("layer")
    assert rows.loc["conv1", "binary_macs"] == 14_155_776 and rows.loc["conv1", "activation_bits"] == 1
    # stride-2 conv: 16 x 16 outputs x 32 channels x 16 x 9 fan-in
    assert rows.loc["layer2.0.conv1", "binary_macs"] == 16 * 16 * 32 * 16 * 9
    assert rows.loc["linear", "float_macs"] == 640 and rows.loc["linear", "weight_bits"] == 32
    assert totals["lsb_macs"] == totals["binary_macs"] - 14_155_776
    assert totals["lsb_macs_spent"] == pytest.approx(0.75 * totals["lsb_macs"])
    assert totals["lsb_saving"] == pytest.approx(0.25)
    assert set(summary["kind"]) == {"binary conv", "pg conv", "batchnorm", "rprelu", "linear"}
    assert summaries.model_metrics(summary) == {
        "parameters": 287_146,
        "binary_weight_bits": binary,
        "float_weight_bits": 32 * (287_146 - binary),
        "memory_bytes": binary / 8 + 4 * (287_146 - binary),
    }


def test_accuracy_vs_size_points_put_stage_one_at_float_size_and_the_rest_at_binary_size():
    summary = summaries.model_summary(fracbnn_resnet20())
    totals = summaries.summary_totals(summary)
    sweep = pd.DataFrame({"target": [0.0, 1.0], "test_accuracy": [0.6, 0.5], "sparsity": [0.4, 0.6]})
    points = summaries.accuracy_vs_size_points(summary, {"stage1": 0.7, "stage2": 0.65, "stage3": 0.6}, sweep, 0.891)
    assert points["label"].tolist() == ["stage 1", "stage 2", "stage 3", "g=0", "g=1", "FracBNN (paper)"]
    assert points["memory_bytes"].tolist() == [totals["float32_memory_bytes"]] + [totals["memory_bytes"]] * 5
    assert points["accuracy"].tolist() == [0.7, 0.65, 0.6, 0.6, 0.5, 0.891]
    assert points["source"].tolist() == ["run"] * 5 + ["paper"]
    assert len(summaries.accuracy_vs_size_points(summary, {"stage1": 0.7})) == 1


def test_summary_of_stage_one_and_gate_off_models():
    float_model = summaries.model_summary(fracbnn_resnet20(binary_weights=False, gating=False))
    totals = summaries.summary_totals(float_model)
    assert totals["binary_parameters"] == 0 and totals["compression_ratio"] == 1.0
    assert totals["binary_mac_share"] == 0.0 and totals["lsb_macs"] == 0
    # gate off: a measured sparsity is ignored, every LSB MAC is spent
    gate_off = summaries.model_summary(fracbnn_resnet20(gating=False), sparsity={name: 0.5 for name in PG_LAYERS})
    assert summaries.summary_totals(gate_off)["lsb_saving"] == 0.0


def test_summary_takes_measured_gating_stats():
    torch.manual_seed(0)
    model = fracbnn_resnet20().eval()
    with measure_gating(model) as stats:
        model(torch.rand(2, 3, 32, 32))
    summary = summaries.model_summary(model, sparsity=stats).set_index("layer")
    for name, s in stats.per_layer().items():
        assert summary.loc[name, "lsb_macs_spent"] == pytest.approx(summary.loc[name, "lsb_macs"] * (1 - s))


SNAPSHOT = """\
layer   kind         W bits  A bits  params  memory KiB  binary MACs  float MACs  LSB MACs spent
------------------------------------------------------------------------------------------------
conv1   binary conv       1       1  13,824        1.69   14,155,776           0               -
linear  linear           32      32     650        2.54            0         640               -
(+ 73 layers not shown: batchnorm, pg conv, rprelu; 272,672 parameters)
------------------------------------------------------------------------------------------------
Total parameters: 287,146 (1-bit: 281,088; 32-bit: 6,058)
Model size: 57.98 KiB (float-32 equivalent 1,121.66 KiB; compression 19.35x)
MACs per image: 54,264,448 (binarised: 100.00%)
LSB-plane MACs: 30,081,024 spent of 40,108,032 (gating saves 25.00%)"""


def test_summary_text_snapshot():
    summary = summaries.model_summary(fracbnn_resnet20(), sparsity={name: 0.25 for name in PG_LAYERS})
    assert summaries.format_summary(summary, kinds=("binary conv", "linear")) == SNAPSHOT
    full = summaries.format_summary(summary).splitlines()
    assert len(full) == 2 + 75 + 5 and "not shown" not in "\n".join(full)


def test_summary_text_layout_does_not_move_with_sparsity():
    """Only the spent counts change with the measured sparsity; every column stays where it was."""
    texts = [
        summaries.format_summary(summaries.model_summary(fracbnn_resnet20(), sparsity={name: s for name in PG_LAYERS}))
        for s in (0.0, 0.6, 0.999)
    ]
    masked = [re.sub(r"[ \d,]+(?=/ )", lambda m: "#" * len(m.group()), text) for text in texts]
    masked = [re.sub(r"[\d,]+ spent of|saves [\d.]+%", "<spent>", text) for text in masked]
    assert masked[0] == masked[1] == masked[2]
    assert "      2,359 / 2,359,296" in texts[2]  # padded to the width of the total


# --------------------------------------------------------------------------- paper's points


def test_paper_reported_points():
    assert paper.paper_value("cifar10", "top1_accuracy") == 0.891
    assert paper.paper_value("synthetic", "top1_accuracy") == 0.891  # the synthetic set runs the CIFAR-10 model
    assert paper.paper_value("imagenet", "top1_accuracy") == 0.718
    assert paper.paper_value("imagenet", "top1_accuracy", source="release") == 0.717
    assert paper.paper_value("cifar10", "fps", source="as reported") == 2806.9
    assert paper.paper_value("imagenet", "parameters") is None
    imagenet = paper.paper_reported("imagenet")
    assert set(imagenet["dataset"]) == {"imagenet"} and {"fps", "power_w"} <= set(imagenet["quantity"])


def test_run_vs_paper_names_what_each_figure_was_measured_on():
    metrics = {
        "stage3": {"test_accuracy": 0.5, "test_images": 500},
        "gating": {"sparsity": 0.6},
        "model": {"parameters": 287146},
        "hls": {"accuracy_csim": 0.75, "images": 200, "formats": "paper"},
    }
    table = paper.run_vs_paper(metrics, "synthetic").set_index("quantity")
    final = table.loc["stage 3 (final) test accuracy"]
    assert final["run"] == 0.5 and final["paper"] == 0.891 and final["measured_on"] == "synthetic, 500 images"
    assert final["paper_source"] == "paper (cifar10); not the synthetic data set"
    assert table.loc["effective activation bits", "run"] == pytest.approx(1.4)
    assert table.loc["HLS C-simulation accuracy", "measured_on"] == "synthetic, 200 images, formats paper, C-simulation"
    assert math.isnan(table.loc["stage 1 test accuracy", "run"]) and math.isnan(table.loc["board images/s", "run"])
    assert table.loc["board images/s", "paper_source"] == "as reported"
    board = {"backend": "csim", "fps": 20.0, "accuracy": 0.75, "images": 200}
    simulated = paper.run_vs_paper({**metrics, "board": board}, "cifar10").set_index("quantity")
    row = simulated.loc["notebook 05 images/s (not a board figure)"]
    assert row["run"] == 20.0 and math.isnan(row["paper"]) and "C-simulation" in row["measured_on"]
    board_row = simulated.loc["board images/s"]  # the paper's board figure stands beside no C-simulation number
    assert math.isnan(board_row["run"]) and board_row["measured_on"] == "not measured" and board_row["paper"] == 2806.9
    assert simulated.loc["stage 3 (final) test accuracy", "paper_source"] == "paper (cifar10)"
    chance = table.loc["chance accuracy (1 / classes)"]
    assert chance["run"] == 0.1 and chance["measured_on"] == "synthetic, 10 classes" and chance["paper_source"] == ""
    assert table.loc["stage 1 test accuracy", "paper_source"] == ""  # no paper figure, no source
    imagenet = paper.run_vs_paper({}, "imagenet").set_index("quantity")
    assert imagenet.loc["chance accuracy (1 / classes)", "run"] == 0.001
    assert imagenet.loc["parameters", "paper_source"] == ""  # the paper's ImageNet parameter count is not in the kit
    assert imagenet.loc["board images/s", "paper"] == 48.1 and imagenet.loc["board images/s", "paper_source"] == (
        "as reported"
    )


def test_chance_level_per_data_set():
    assert [paper.chance_level(d) for d in ("cifar10", "synthetic", "imagenet-tiny")] == [0.1, 0.1, 0.1]
    assert paper.chance_level("imagenet") == 0.001
    assert paper.chance_text("imagenet") == "chance 0.001 (1 of 1000 classes)"


# --------------------------------------------------------------------------- figures


def test_the_sample_photograph_is_a_real_image_in_the_encoders_range():
    photo = sample_photograph(32)
    assert photo.shape == (3, 32, 32) and photo.dtype == torch.float32
    assert 0.0 <= float(photo.min()) and float(photo.max()) <= 1.0 and float(photo.std()) > 0.1
    code = thermometer_encode(photo.unsqueeze(0))
    on = (code > 0).float().mean()
    assert 0.1 < float(on) < 0.9  # a photograph switches some levels on and leaves others off


def test_figures_are_built_and_saved_atomically(tmp_path):
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    history = pd.DataFrame(
        {
            "epoch": [1, 2],
            "lr": [1e-3, 5e-4],
            "train_loss": [2.0, 1.5],
            "train_accuracy": [0.3, 0.5],
            "test_accuracy": [0.25, 0.45],
            "sparsity": [0.4, 0.5],
            "time_s": [1.0, 1.0],
        }
    )
    stats = GatingStats()
    stats.add("layer1.0.conv1", torch.tensor([True, False]))
    figures = {
        "planes": encoding_costs.plot_bit_planes(image),
        "reconstructions": encoding_costs.plot_reconstructions(image, [2, 8, 32]),
        "cost": encoding_costs.plot_encoding_cost(
            encoding_costs.encoding_table([2, 8, 32]), encoding_costs.input_layer_cost([2, 8, 32])
        ),
        "curves": training.plot_learning_curves(history, "stage 3"),
        "sparsity": gating.plot_layer_sparsity(gating.sparsity_table(stats), overall=0.5),
        "thresholds": gating.plot_threshold_distribution(gating.thresholds(fracbnn_resnet20())),
        "sweep": gating.plot_gating_sweep(
            pd.DataFrame({"target": [0.0, 1.0], "sparsity": [0.4, 0.6], "test_accuracy": [0.5, 0.4]})
        ),
        "size": summaries.plot_accuracy_vs_size(
            pd.DataFrame(
                {
                    "label": ["run", "paper"],
                    "memory_bytes": [6e4, 6e4],
                    "accuracy": [0.5, 0.891],
                    "source": ["run", "paper"],
                }
            )
        ),
    }
    for name, fig in figures.items():
        assert isinstance(fig, Figure)
        assert figure_title(fig), f"{name}: a figure without a title"
        path = run_files.save_figure(fig, tmp_path, name)
        assert path == tmp_path / "figures" / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(f"{n}.png" for n in figures)


def figure_title(fig: Figure) -> str:
    """The figure's title: its suptitle, else the titles of its axes (colour bars have none)."""
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return suptitle or " / ".join(t for ax in fig.axes if (t := ax.get_title()))


def test_every_plotting_function_of_the_library_titles_its_figure():
    """Each function that builds a figure (``Figure(`` in fracbnn_lib) gives it a title; the notebooks' own
    titles come on top (the learning curves take theirs as an argument)."""
    from fracbnn_lib import board
    from fracbnn_lib.hw import ladder as hw_ladder
    from fracbnn_lib.hw.cifar10 import cost as cifar10_cost
    from fracbnn_lib.hw.cifar10 import ladder as cifar10_ladder
    from fracbnn_lib.hw.imagenet import cost as imagenet_cost
    from fracbnn_lib.hw.imagenet import ladder as imagenet_ladder

    layers = pd.DataFrame({"layer": ["a", "b"], "rms_error": [1e-6, 2e-6], "code_flips": [0.0, 0.01]})
    figures = {
        "format sweep": cifar10_ladder.plot_format_sweep(
            pd.DataFrame(
                {
                    "formats": ["paper", "default"],
                    "fm": ["<16,9>", "<28,7>"],
                    "argmax_agreement": [0.9, 1.0],
                    "mean_abs_diff": [0.2, 1e-6],
                }
            )
        ),
        "layer errors": cifar10_ladder.plot_layer_errors({"default": layers}),
        "layer cycles": cifar10_ladder.plot_layer_cycles(
            cifar10_cost.accelerator_loops(), cifar10_cost.release_loops()
        ),
        "hardware sparsity": hw_ladder.plot_hardware_sparsity(
            pd.DataFrame({"layer": ["a", "b"], "hardware_sparsity": [0.4, 0.5], "float_sparsity": [0.4, 0.5]})
        ),
        "imagenet layer errors": imagenet_ladder.plot_layer_errors(
            {"default": pd.DataFrame({"layer": ["a", "b"], "codes_differing": [0.0, 0.01]})}
        ),
        "imagenet cost": imagenet_ladder.plot_layer_cost(imagenet_cost.cost_summary()),
        "confusion": board.plot_confusion(np.eye(3, dtype=np.int64), ["x", "y", "z"]),
        "latency": board.plot_latency(np.array([0.001, 0.002, 0.003])),
    }
    for name, fig in figures.items():
        assert figure_title(fig), f"{name}: a figure without a title"


def test_the_layer_cycles_have_headroom_above_the_tallest_bar():
    from fracbnn_lib.hw.cifar10 import cost as cifar10_cost
    from fracbnn_lib.hw.cifar10 import ladder as cifar10_ladder

    fig = cifar10_ladder.plot_layer_cycles(cifar10_cost.accelerator_loops(), cifar10_cost.release_loops())
    ax = fig.axes[0]
    tallest = max(patch.get_y() + patch.get_height() for patch in ax.patches)
    assert ax.get_ylim()[1] >= 1.25 * tallest  # bars end below the frame, clear of the legend


def test_bit_planes_are_framed_and_say_how_many_pixels_are_on():
    image = torch.ones(3, 8, 8)  # every level of every pixel is on: white planes
    fig = encoding_costs.plot_bit_planes(image, 8, levels=[0, 31])
    planes = fig.axes[1:]
    assert [ax.get_title().splitlines()[1] for ax in planes] == ["100% on", "100% on"]
    assert all(ax.axison and all(spine.get_visible() for spine in ax.spines.values()) for ax in planes)


def test_every_label_of_the_accuracy_plot_is_anchored_at_its_own_point():
    points = pd.DataFrame(
        {
            "label": ["stage 1", "stage 2", "stage 3", "g=0", "g=1", "FracBNN on CIFAR-10 (paper)"],
            "memory_bytes": [1121.7 * 1024] + [58.0 * 1024] * 5,
            "accuracy": [0.504, 0.688, 0.734, 0.632, 0.606, 0.891],
            "source": ["run"] * 5 + ["paper"],
        }
    )
    fig = summaries.plot_accuracy_vs_size(points, chance=0.1)
    ax = fig.axes[0]
    annotations = {text.get_text(): text for text in ax.texts}
    assert set(annotations) == set(points["label"])
    heights = {}
    for row in points.itertuples():
        note = annotations[row.label]
        assert note.xy == pytest.approx((row.memory_bytes / 1024, row.accuracy))  # the arrow ends at its point
        x, y = note.get_position()
        assert x > row.memory_bytes / 1024 and abs(y - row.accuracy) < 0.1  # the label right of it, near it
        heights[row.label] = y
    same_size = sorted(heights[label] for label in points["label"][1:])
    gaps = [b - a for a, b in zip(same_size, same_size[1:], strict=False)]
    assert min(gaps) >= summaries.LABEL_GAP - 1e-9  # no two labels overlap
    assert heights["FracBNN on CIFAR-10 (paper)"] == pytest.approx(0.891)  # a label with room stays level
    assert heights["stage 1"] == pytest.approx(0.504)
    order = points.iloc[1:].sort_values("accuracy")["label"]
    assert [heights[label] for label in order] == sorted(heights[label] for label in order)  # order kept
    assert any(line.get_ydata()[0] == 0.1 for line in ax.lines)  # the chance level
    assert figure_title(fig)


def test_label_heights_spread_crowds_and_leave_the_rest():
    assert summaries.label_heights([0.2, 0.9]) == [0.2, 0.9]
    assert summaries.label_heights([0.5, 0.5, 0.5]) == pytest.approx([0.5 - 0.055, 0.5, 0.5 + 0.055])
    assert summaries.label_heights([0.0, 0.01]) == pytest.approx([0.0, 0.055])  # never below the axis


def test_learning_rates_print_with_their_significant_digits():
    assert [run_files.format_rate(v) for v in (1e-3, 5e-4, 1e-4, 2.5e-4, 1e-5, 0.0, 0.1)] == [
        "1e-3", "5e-4", "1e-4", "2.5e-4", "1e-5", "0", "0.1",
    ]  # fmt: skip
    history = pd.DataFrame({"epoch": [1, 2], "lr": [5e-4, 1e-4], "train_loss": [1.25, 1.0]})
    text = run_files.format_table(history)
    assert text.splitlines()[1].split() == ["1", "5e-4", "1.250"] and text.splitlines()[2].split()[1] == "1e-4"
    from fracbnn_lib.training import recipe

    table = run_files.format_table(training.stage_table(recipe("imagenet")), floats="{:g}")
    assert table.splitlines()[1].split()[4:6] == ["5e-4", "1e-5"]  # lr, weight decay of ImageNet's stage 1


def test_stage_table_describes_each_stage():
    from fracbnn_lib.training import recipe

    table = training.stage_table(recipe("synthetic", epochs=3, gating_target=0.5))
    assert table[["stage", "weights", "gate", "schedule"]].values.tolist() == [
        ["stage1", "float", "off", "linear"],
        ["stage2", "binary", "off", "multistep"],
        ["stage3", "binary", "on", "multistep"],
    ]
    assert table["milestones"].tolist() == ["-", "2,2,3", "2,2,3"]  # 100/150/200 of 250, rescaled to 3 epochs
    assert math.isnan(table.loc[0, "gating_target"]) and table.loc[2, "gating_target"] == 0.5
    assert table["epochs"].tolist() == [3, 3, 3] and table["weight_decay"].tolist() == [1e-5, 0.0, 0.0]


def test_the_cost_tables_show_the_papers_board_figures_as_reported():
    from fracbnn_lib.hw.cifar10 import cost as cifar10_cost
    from fracbnn_lib.hw.cifar10 import ladder as cifar10_ladder
    from fracbnn_lib.hw.imagenet import cost as imagenet_cost
    from fracbnn_lib.hw.imagenet import ladder as imagenet_ladder

    imagenet = imagenet_ladder.cost_vs_paper(imagenet_cost.cost_summary()).set_index("quantity")["value"]
    assert imagenet["images/s of the paper's board (Ultra96v2; as reported)"] == 48.1  # it was NaN: source "paper"
    cifar10 = cifar10_ladder.cost_vs_paper(cifar10_cost.cost_summary())
    reported = cifar10.set_index("figure")["paper (as reported)"]
    assert reported.drop("FF").notna().all() and reported.isna()["FF"]  # the paper reports no flip-flops
