"""loss.png and the plot/compare overlays, read through matplotlib's objects (axes, limits, ticks, titles, legend)."""

from dataclasses import replace

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from digitlab.curves import Series, build_loss_curves, build_overlay, loss_curves, x_of
from digitlab.errors import ConfigError
from digitlab.records import Record, read_record


def records(epochs: int, batches: int = 10, log_every: int = 2, start_acc: float = 90.0, stop_at: int | None = None,
            lr: float = 0.01) -> list[Record]:
    """metrics.jsonl records as the bookkeeping writes them (read back from their JSON): step rows every log_every
    steps, an epoch row per epoch, and (stop_at) a --max-steps stop's evaluation instead of the epochs."""
    rows, step = [], 0
    last = stop_at or epochs * batches
    for epoch in range(1, epochs + 1):
        for batch in range(batches):
            step += 1
            if step > last:
                break
            if step == 1 or step % log_every == 0:
                rows.append({"kind": "step", "step": step, "epoch": epoch, "batch": batch, "batches": batches,
                             "loss": 2.0 / step, "lr": lr * (1 - step / (epochs * batches + 1)),
                             "images_per_second": 1000.0})
        if step > last:
            break
        rows.append({"kind": "epoch", "epoch": epoch, "step": step, "test_acc": start_acc + epoch,
                     "test_loss": 0.5 / epoch, "train_loss": 0.6 / epoch, "lr": lr, "train_seconds": 1.0 * epoch})
    if stop_at:
        rows.append({"kind": "stop", "epoch": (stop_at - 1) // batches + 1, "step": stop_at, "test_acc": 42.0,
                     "test_loss": 1.7})
    return [read_record(row) for row in rows]


def panels(fig):
    return {ax.get_title(): ax for ax in fig.axes if ax.get_title()}


def tick_values(axis) -> list[float]:
    lo, hi = sorted(axis.get_view_interval())
    return [t for t in axis.get_ticklocs() if lo - 1e-9 <= t <= hi + 1e-9]


def drawn(fig):
    FigureCanvasAgg(fig).draw()
    return fig


def test_one_epoch_run_accuracy_within_0_100_and_one_integer_tick():
    fig = drawn(build_loss_curves(records(1, start_acc=98.9), title="run (mlp)"))
    acc = panels(fig)["accuracy"]
    lo, hi = acc.get_ylim()
    assert 0 <= lo < 99.9 <= hi <= 100  # the point (99.9%) shows, and the axis never claims more than 100%
    assert tick_values(acc.xaxis) == [1.0]  # not 0.96 ... 1.04
    assert fig._suptitle.get_text() == "run (mlp)"


def test_multi_epoch_ticks_are_whole_epochs():
    fig = drawn(build_loss_curves(records(7)))
    for title in ("accuracy", "loss per epoch: training vs test"):
        ticks = tick_values(panels(fig)[title].xaxis)
        assert ticks and all(float(t).is_integer() for t in ticks), (title, ticks)
        assert min(ticks) >= 0


def test_smoothed_line_is_named_in_plain_words():
    labels = panels(build_loss_curves(records(3, batches=20)))["training loss"].get_legend_handles_labels()[1]
    assert labels[0] == "loss at each logged step"
    assert labels[1].startswith("smoothed (mean of ") and labels[1].endswith(" logged steps)")
    assert not any("moving mean" in label for label in labels)
    few = panels(build_loss_curves(records(1)))["training loss"].get_legend_handles_labels()[1]
    assert few == ["loss at each logged step"]  # 6 logged values: drawn as they are, not blurred


def test_max_steps_run_shows_its_stop_evaluation():
    fig = drawn(build_loss_curves(records(2, stop_at=3)))
    acc = panels(fig)["accuracy"]
    points = [(x, y) for line in acc.get_lines() for x, y in zip(line.get_xdata(), line.get_ydata())]
    assert points == [(pytest.approx(0.3), 42.0)]  # step 3 of 10: three tenths into the first epoch
    assert "at the stop (step 3)" in acc.get_legend_handles_labels()[1][0]
    assert tick_values(acc.xaxis) == [0.0, 1.0]
    assert not any(t.get_text().startswith("no evaluation") for t in acc.texts)


def test_a_run_with_no_evaluation_says_so_instead_of_an_empty_panel():
    fig = build_loss_curves([r for r in records(1) if r.kind == "step"])
    assert any("no evaluation yet" in t.get_text() for t in panels(fig)["accuracy"].texts)


def test_learning_rate_and_epoch_losses_are_plotted():
    rows = records(3)
    p = panels(build_loss_curves(rows))
    lr_line = p["learning rate"].get_lines()[0]
    assert list(lr_line.get_ydata()) == [r.lr for r in rows if r.kind == "step"]
    epoch_lines = {line.get_label(): list(line.get_ydata()) for line in p["loss per epoch: training vs test"].get_lines()}
    assert epoch_lines == {"training loss (mean over the epoch)": pytest.approx([0.6, 0.3, 0.2]),
                           "test loss": pytest.approx([0.5, 0.25, 0.5 / 3])}


def test_loss_curves_writes_png_and_svg(tmp_path):
    assert loss_curves(records(2), tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in loss_curves(records(2), tmp_path / "loss.svg").read_bytes()[:500]


def test_x_of_steps_epochs_images():
    rows = records(2, batches=10, log_every=5)
    steps = [r for r in rows if r.kind == "step"]
    assert list(x_of(steps, "steps")) == [1, 5, 10, 15, 20]
    assert list(x_of(steps, "images", batch_size=64)) == [64, 320, 640, 960, 1280]
    assert list(x_of(steps, "epochs")) == [0.1, 0.5, 1.0, 1.5, 2.0]
    assert list(x_of([r for r in rows if r.kind == "epoch"], "epochs")) == [1.0, 2.0]
    with pytest.raises(ConfigError, match="--x"):
        x_of(steps, "minutes")


def test_overlay_by_images_lines_up_runs_of_different_batch_sizes():
    # the same 1,280 images seen: 20 steps of 64 and 40 steps of 32
    small, big = records(2, batches=20, log_every=5), records(2, batches=10, log_every=5)
    fig = build_overlay([Series("b32", small, 32), Series("b64", big, 64)], x="images")
    loss = fig.axes[0]
    ends = [line.get_xdata()[-1] for line in loss.get_lines()]
    assert len(ends) >= 2 and set(ends) == {1280}  # every line of both runs ends at the same x
    assert loss.get_xlabel().startswith("images seen")
    acc = fig.axes[1]
    assert [list(line.get_xdata()) for line in acc.get_lines()] == [[640, 1280], [640, 1280]]


def test_overlay_has_a_title_plain_log_labels_and_a_legend_outside_the_panels():
    runs = [Series(f"run-{i} (mlp)", records(3, start_acc=90 + i)) for i in range(4)]
    # a loss range inside one decade: matplotlib would label minor ticks "2x10^-1"
    runs[1] = Series(runs[1].label, [replace(r, loss=0.15 + 0.1 / r.step) if r.kind == "step" else r
                                     for r in runs[1].records])
    fig = drawn(build_overlay(runs))
    assert fig._suptitle.get_text() == "4 runs compared, by epoch"
    labels = [t.get_text() for t in fig.axes[0].yaxis.get_ticklabels(which="both") if t.get_text()]
    assert labels and not [t for t in labels if "times" in t or "^" in t or "10^" in t], labels
    assert all(float(t) > 0 for t in labels)
    assert not any(ax.get_legend() for ax in fig.axes)  # no legend inside a panel ...
    (legend,) = fig.legends  # ... one for the figure, clear of both panels
    renderer = fig.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer))
    assert [t.get_text() for t in legend.get_texts()] == [r.label for r in runs]
    acc_ticks = tick_values(fig.axes[1].xaxis)
    assert acc_ticks and all(float(t).is_integer() for t in acc_ticks)
    assert fig.axes[1].get_ylim()[1] <= 100


def test_overlay_title_can_be_given_and_x_is_checked():
    fig = build_overlay([Series("a", records(1))], x="steps", title="lr 0.1 vs 0.01")
    assert fig._suptitle.get_text() == "lr 0.1 vs 0.01"
    assert fig.axes[0].get_xlabel() == "step"
    with pytest.raises(ConfigError, match="--x"):
        build_overlay([Series("a", records(1))], x="seconds")


def test_overlay_accuracy_axis_stays_within_100():
    fig = build_overlay([Series("a", records(3, start_acc=97.0))])
    lo, hi = fig.axes[1].get_ylim()
    assert hi == 100 and lo < 98 and np.isfinite(lo)
