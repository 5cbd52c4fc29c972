"""Training curves: one run's loss.png (build_loss_curves) and several runs overlaid (build_overlay).

Both read metrics.jsonl's records (records.py) as the run bookkeeping writes them:
    StepRecord               step, epoch (1-based, in progress), batch (0-based), batches (per epoch), loss, lr
    EvalRecord kind="epoch"  epoch, step, test_acc, test_loss, val_acc, val_loss, train_loss (the epoch's mean), lr
    EvalRecord kind="stop"   a --max-steps stop's evaluation: epoch (in progress), step, test_acc, test_loss
The build_* functions return the matplotlib Figure (tests read its axes, ticks, titles and legend); the save
wrappers (loss_curves, overlay_runs) write it with plots.save_figure.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, MaxNLocator

from digitlab.errors import ConfigError
from digitlab.plots import new_figure, save_figure
from digitlab.records import Record, StepRecord

X_UNITS = ("steps", "epochs", "images")
# fewer logged values than this are drawn as they are: a moving mean over a handful of points only blurs them
SMOOTH_FROM = 20
X_LABELS = {"steps": "step", "epochs": "epoch", "images": "images seen (steps x batch size)"}


def with_every_step(records: Sequence[Record], losses: np.ndarray) -> list[Record]:
    """The records with their step records replaced by one per step from losses.f32 (every step's loss, whatever
    log_every was): a logged step keeps its other fields (lr, epoch, ...); steps never recorded (NaN) are left out.
    Without per-step losses (a run from before the file existed) the records are returned as they are."""
    batches = _steps_per_epoch(records)
    if not len(losses) or not batches:  # nothing kept, or no way to place steps in epochs (a damaged log)
        return list(records)
    logged = {r.step: r for r in records if r.kind == "step"}
    whole = round(batches) if float(batches).is_integer() else None  # else x_of places steps by the epoch records
    steps = [replace(logged.get(i) or StepRecord(step=i, batches=whole), loss=float(value), every_step=True)
             for i, value in enumerate(losses, start=1) if np.isfinite(value)]
    others = [r for r in records if r.kind != "step"]
    return sorted(steps + others, key=lambda r: (r.step, r.kind != "step"))


@dataclass(frozen=True)
class Series:
    """One run for an overlay: its legend label, its metrics records and its batch size (for --x images)."""

    label: str
    records: list[Record]
    batch_size: int = 1


def _steps_per_epoch(records: Sequence[Record]) -> float | None:
    """Batches per epoch: from step records ("batches"), else from the first epoch record (step / epoch)."""
    for r in records:
        if r.kind == "step" and r.batches:
            return float(r.batches)
    for r in records:
        if r.kind == "epoch" and r.epoch and r.step:
            return r.step / r.epoch
    return None


def x_of(records: Sequence[Record], unit: str, batch_size: int = 1) -> np.ndarray:
    """Where each record sits on the x axis: its step, the images seen by then (step x batch size), or its epoch
    (an epoch record at its whole epoch; a step or stop record at step / steps-per-epoch, a fraction)."""
    if unit not in X_UNITS:
        raise ConfigError(f"--x {unit}: choose {', '.join(X_UNITS)}")
    steps = np.array([float(r.step) for r in records])
    if unit == "steps":
        return steps
    if unit == "images":
        return steps * batch_size
    per_epoch = _steps_per_epoch(records)
    return np.array([float(r.epoch) if r.kind == "epoch" or not per_epoch else r.step / per_epoch
                     for r in records])


def smooth(y: np.ndarray) -> tuple[int, np.ndarray]:
    """A moving mean over k logged values (k = 1/20 of them, at least 2); returns (k, the len(y)-k+1 means)."""
    k = max(2, len(y) // 20)
    return k, np.convolve(y, np.ones(k) / k, mode="valid")


class PlainLogFormatter(LogFormatterSciNotation):
    """Log-axis labels as plain numbers ("0.2", "2") where matplotlib would write "2x10^-1"; it still decides which
    ticks get a label."""

    def __call__(self, x, pos=None) -> str:
        return f"{x:g}" if super().__call__(x, pos) else ""


def _epoch_axis(ax, xs: Sequence[float]) -> None:
    """Whole-number epoch ticks with half an epoch of room each side (one epoch: a tick at 1 only, not 0.96-1.04); a
    point inside an epoch (a stop at step / steps-per-epoch) is framed by the whole epochs around it."""
    if len(xs):
        lo, hi = min(xs), max(xs)
        ax.set_xlim(max(0.0, lo - 0.5 if float(lo).is_integer() else math.floor(lo)), max(math.ceil(hi), hi + 0.5))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _accuracy_limits(ax, values: Sequence[float]) -> None:
    """The accuracy axis spans the data with a little room, never beyond 0-100 %."""
    if not len(values):
        return
    lo, hi = min(values), max(values)
    pad = max(1.0, 0.08 * (hi - lo))
    ax.set_ylim(max(0.0, lo - pad), min(100.0, hi + pad))


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def build_loss_curves(records: Sequence[Record], title: str = "") -> Figure:
    """One run in four panels: training loss per logged step (raw + smoothed); test (and validation) accuracy per
    epoch, with a --max-steps stop's evaluation; per epoch, the mean training loss beside the test loss; the
    learning rate per step."""
    steps = [r for r in records if r.kind == "step" and r.loss is not None]
    evals = [r for r in records if r.kind in ("epoch", "stop") and r.test_acc is not None]
    epochs = [r for r in records if r.kind == "epoch"]
    fig = new_figure(figsize=(11, 7))
    (ax_loss, ax_acc), (ax_epoch, ax_lr) = fig.subplots(2, 2)

    if steps:
        x, y = x_of(steps, "steps"), np.array([r.loss for r in steps])
        unit = "step" if all(r.every_step for r in steps) else "logged step"  # losses.f32, or the log only
        few = len(y) < 10  # a smoke run: show each logged value as a dot, or a single value would be invisible
        ax_loss.plot(x, y, alpha=0.6 if few else 0.3, lw=0.8, color="C0", marker="o" if few else None, ms=3,
                     label=f"loss at each {unit}")
        if len(y) >= SMOOTH_FROM:
            k, means = smooth(y)
            ax_loss.plot(x[k - 1 :], means, lw=1.6, color="C0", label=f"smoothed (mean of {k} {unit}s)")
        ax_loss.legend(fontsize=8)
        ax_loss.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax_loss.set_xlabel("step")
        ax_loss.set_ylabel("training loss")
        ax_loss.grid(alpha=0.3)
    else:
        _empty(ax_loss, "no training step logged yet")
    ax_loss.set_title("training loss", fontsize=10)

    # accuracy per epoch; a stop inside an epoch (--max-steps) is a point at its fraction of an epoch
    if evals:
        xs = x_of(records, "epochs")
        where = {id(r): xv for r, xv in zip(records, xs)}
        done = [r for r in evals if r.kind == "epoch"]
        stops = [r for r in evals if r.kind == "stop"]
        shown = [r.test_acc for r in evals]
        if done:
            ax_acc.plot([where[id(r)] for r in done], [r.test_acc for r in done], marker="o", color="C1",
                        label="test", clip_on=False)  # a point at 100% is drawn whole, over the frame
            last = done[-1]
            ax_acc.annotate(f"{last.test_acc:.2f}%", (where[id(last)], last.test_acc), fontsize=8,
                            textcoords="offset points", xytext=(0, -14), ha="center")
        vals = [r for r in done if r.val_acc is not None]
        if vals:
            ax_acc.plot([where[id(r)] for r in vals], [r.val_acc for r in vals], marker="s", color="C2",
                        label="validation", clip_on=False)
            shown += [r.val_acc for r in vals]
        for r in stops:
            ax_acc.plot([where[id(r)]], [r.test_acc], marker="*", ms=12, ls="", color="C3",
                        label=f"test, at the stop (step {r.step})")
            ax_acc.annotate(f"{r.test_acc:.2f}%", (where[id(r)], r.test_acc), textcoords="offset points",
                            xytext=(0, -16), ha="center", fontsize=8)
        _epoch_axis(ax_acc, [where[id(r)] for r in evals])
        _accuracy_limits(ax_acc, shown)
        ax_acc.set_xlabel("epoch")
        ax_acc.set_ylabel("accuracy (%)")
        ax_acc.legend(fontsize=8)
        ax_acc.grid(alpha=0.3)
    else:
        _empty(ax_acc, "no evaluation yet (the run stopped before its first epoch ended)")
    ax_acc.set_title("accuracy", fontsize=10)

    trained = [r for r in epochs if r.train_loss is not None]
    tested = [r for r in evals if r.test_loss is not None]
    if trained or tested:
        xs = x_of(records, "epochs")
        where = {id(r): xv for r, xv in zip(records, xs)}
        if trained:
            ax_epoch.plot([r.epoch for r in trained], [r.train_loss for r in trained], marker="o", color="C0",
                          label="training loss (mean over the epoch)")
        if tested:
            ax_epoch.plot([where[id(r)] for r in tested], [r.test_loss for r in tested], marker="o", color="C1",
                          label="test loss")
        _epoch_axis(ax_epoch, [r.epoch for r in trained] + [where[id(r)] for r in tested])
        ax_epoch.set_xlabel("epoch")
        ax_epoch.set_ylabel("loss")
        ax_epoch.legend(fontsize=8)
        ax_epoch.grid(alpha=0.3)
    else:
        _empty(ax_epoch, "no epoch finished yet")
    ax_epoch.set_title("loss per epoch: training vs test", fontsize=10)

    rated = [r for r in steps if r.lr is not None]
    if rated:
        ax_lr.plot(x_of(rated, "steps"), [r.lr for r in rated], color="C4", marker="o" if len(rated) < 10 else None,
                   ms=3)
        ax_lr.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax_lr.set_xlabel("step")
        ax_lr.set_ylabel("learning rate")
        ax_lr.ticklabel_format(axis="y", style="plain", useOffset=False)
        ax_lr.set_ylim(bottom=0)
        ax_lr.grid(alpha=0.3)
    else:
        _empty(ax_lr, "no learning rate logged")
    ax_lr.set_title("learning rate", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def loss_curves(records: Sequence[Record], out: str | os.PathLike, title: str = "") -> Path:
    """build_loss_curves, written to `out` (PNG/SVG/PDF by suffix)."""
    return save_figure(build_loss_curves(records, title), out)


def build_overlay(runs: Sequence[Series], x: str = "epochs", title: str = "") -> Figure:
    """Several runs in one figure: training loss (smoothed, raw faint; log scale with plain labels) and test accuracy,
    against steps, epochs or images seen; one legend, outside the panels, colour = run."""
    if x not in X_UNITS:
        raise ConfigError(f"--x {x}: choose {', '.join(X_UNITS)}")
    fig = new_figure(figsize=(11, 4.6))
    ax_loss, ax_acc = fig.subplots(1, 2)
    accs: list[float] = []
    xs_acc: list[float] = []
    for i, run in enumerate(runs):
        color = f"C{i % 10}"
        where = dict(zip(map(id, run.records), x_of(run.records, x, run.batch_size)))
        steps = [r for r in run.records if r.kind == "step" and r.loss is not None]
        evals = [r for r in run.records if r.kind in ("epoch", "stop") and r.test_acc is not None]
        if steps:
            sx, sy = np.array([where[id(r)] for r in steps]), np.array([r.loss for r in steps])
            if len(sy) >= SMOOTH_FROM:  # raw values faint, their moving mean bold
                ax_loss.plot(sx, sy, color=color, alpha=0.25, lw=0.7)
                k, means = smooth(sy)
                ax_loss.plot(sx[k - 1 :], means, color=color, lw=1.6, label=run.label)
            else:
                ax_loss.plot(sx, sy, color=color, lw=1.6, marker="o", ms=3, label=run.label)
        if evals:
            ex, ey = [where[id(r)] for r in evals], [r.test_acc for r in evals]
            ax_acc.plot(ex, ey, marker="o", color=color, label=None if steps else run.label, clip_on=False)
            accs += ey
            xs_acc += ex
    ax_loss.set_yscale("log")
    ax_loss.yaxis.set_major_formatter(PlainLogFormatter())
    ax_loss.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))
    ax_loss.set_ylabel("training loss (smoothed; log scale)")
    ax_loss.set_title("training loss", fontsize=10)
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_title("test accuracy", fontsize=10)
    _accuracy_limits(ax_acc, accs)
    if x == "epochs":
        _epoch_axis(ax_acc, xs_acc)
        ax_loss.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel(X_LABELS[x])
        ax.grid(alpha=0.3)
    handles, labels = ax_loss.get_legend_handles_labels()
    more = ax_acc.get_legend_handles_labels()
    handles, labels = handles + more[0], labels + more[1]
    if handles:  # below the panels: it never covers a curve, however many runs there are
        fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(handles)), fontsize=8)
    fig.suptitle(title or f"{len(runs)} run{'s' if len(runs) != 1 else ''} compared, by {X_LABELS[x].split(' (')[0]}")
    return fig


def overlay_runs(runs: Sequence[Series], out: str | os.PathLike, x: str = "epochs", title: str = "") -> Path:
    """build_overlay, written to `out`."""
    return save_figure(build_overlay(runs, x, title), out)
