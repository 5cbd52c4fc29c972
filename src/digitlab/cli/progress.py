"""The rich progress reporter for training: a bar per epoch, the tutorials' log lines, the Test line."""

from __future__ import annotations

import time

from rich.console import Console

from digitlab.cli.console import labelled, warn_fallback
from digitlab.records import EvalRecord, RunStart, RunSummary, StepRecord
from digitlab.training.report import Reporter


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class RichReporter(Reporter):
    """Progress for people: a bar per epoch with live loss and images/s, the tutorials' log lines, and
    the tutorials' 'Test: Accuracy' line after each epoch. Writes to `console` (stderr under --json)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[status]}"), console=console,
                                 transient=True, refresh_per_second=4)
        self.task = None
        self.epochs, self.images, self.started, self.shown, self.moved, self.steps = 0, 0, time.perf_counter(), 0.0, 0.0, 0

    def on_start(self, info: RunStart) -> None:
        config, data = info.config, info.data
        resumed = f", resuming at step {info.resumed_at}" if info.resumed_at is not None else ""
        threads = f" ({info.threads} threads)" if info.device == "cpu" else ""
        self.console.print(labelled(
            f"{config.recipe or 'custom'}:", "bold",
            f"model {config.model.name} ({info.params:,} params) on "
            f"{data.get('dataset')} ({info.n_train:,} train / {info.n_test:,} test, {data.get('source')}"
            f"{', verified' if data.get('verified') else ', NOT verified'}), device {info.device}{threads}{resumed}"))
        if info.precision == "bfloat16" or "train.amp is on but" in info.precision_reason:
            self.console.print(f"precision: {info.precision} ({info.precision_reason})")
        for note in info.notes:
            self.console.print(note)
        self.console.print(f"run folder: {info.run_dir}")
        self.progress.start()

    def on_epoch_start(self, epoch: int, epochs: int, steps: int, start_step: int) -> None:
        self.console.print(f"Epoch {epoch + 1}\n-------------------------------")
        self.epochs, self.images, self.started, self.shown, self.moved = epochs, 0, time.perf_counter(), 0.0, 0.0
        self.steps = 0  # steps not yet shown on the bar
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"epoch {epoch + 1}/{epochs}", total=steps, completed=start_step,
                                           status="")

    def on_step(self, loss=None, images: int = 0) -> None:
        """Count the step; about ten times a second move the bar, and about twice a second read the latest loss back
        (one small sync) for the bar's status, so loss and images/s show from the first steps, whatever log_every
        is. Nothing else per step: the bar costs the loop next to nothing."""
        self.steps += 1
        self.images += images
        now = time.perf_counter()
        if now - self.moved < 0.1:
            return
        self.progress.advance(self.task, self.steps)
        self.steps, self.moved = 0, now
        if loss is not None and now - self.shown >= 0.5:
            rate = self.images / max(now - self.started, 1e-9)
            self.progress.update(self.task, status=f"loss {float(loss):.4f}  {rate:,.0f} img/s")
            self.shown = now

    def on_log(self, record: StepRecord) -> None:
        if record.loss_mean is not None:  # the PyTorch course's running mean: "[1,  300] loss: 0.412"
            self.console.print(f"[{record.epoch},{record.batch + 1:5d}] loss: {record.loss_mean:.3f}")
        else:  # the torchvision quick start's "loss: 0.293846  [  0/938]"
            self.console.print(f"loss: {record.loss:>7f}  [{record.batch:>3d}/{record.batches:>3d}]")

    def on_epoch_end(self, record: EvalRecord) -> None:
        if record.train_loss is not None:  # the PyTorch course's line: the epoch's mean training loss
            self.console.print(f"Epoch {record.epoch}/{self.epochs}, Loss: {record.train_loss:.4f}")
        if record.test_acc is not None:
            self.console.print(f"Test: \n Accuracy: {record.test_acc:>0.1f}%, Avg loss: {record.test_loss:>8f} \n")
        if record.val_acc is not None:
            self.console.print(f"Val: Accuracy: {record.val_acc:>0.1f}%, Avg loss: {record.val_loss:>8f}")

    def on_message(self, text: str) -> None:
        warn_fallback(text)

    def on_end(self, summary: RunSummary) -> None:
        self.progress.stop()
        acc, epochs, steps = summary.final_test_acc, summary.epochs or 0, summary.steps or 0
        timing = f"in {summary.train_seconds or 0:.1f} s ({summary.images_per_second or 0:,.0f} img/s)"
        if summary.ended == "max_steps":
            what = f"stopped at step {steps} (--max-steps), {plural(epochs, 'epoch')} complete"
        elif summary.ended == "asked":
            what = f"stopped early after {plural(epochs, 'epoch')}"
        else:
            what = f"finished {plural(epochs, 'epoch')} / {plural(steps, 'step')}"
        score = f"; test accuracy {acc:.2f}% (best {summary.best_test_acc:.2f}%)" if acc is not None else ""
        self.console.print(f"Done! {what} {timing}{score}")
        self.console.print(f"summary: {summary.run_dir}/summary.json")

    def stop(self) -> None:
        self.progress.stop()
