"""The rich progress reporter for training: a bar per epoch, the tutorials' log lines, the Test line."""

from __future__ import annotations

from rich.console import Console

from digitlab.cli.console import labelled, warn_fallback
from digitlab.training.report import Reporter


class RichReporter(Reporter):
    """Progress for people: a bar per epoch with live loss and images/s, the tutorials' log lines, and
    the tutorials' 'Test: Accuracy' line after each epoch. Writes to `console` (stderr under --json)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=console,
                                 transient=True, refresh_per_second=4)
        self.task = None

    def on_start(self, info: dict) -> None:
        config = info["config"]
        data = info["data"]
        resumed = f", resuming at step {info['resumed_at']}" if "resumed_at" in info else ""
        threads = f" ({info['threads']} threads)" if info["device"] == "cpu" and "threads" in info else ""
        self.console.print(labelled(
            f"{config.recipe or 'custom'}:", "bold",
            f"model {config.model.name} ({info['params']:,} params) on "
            f"{data['dataset']} ({info['n_train']:,} train / {info['n_test']:,} test, {data['source']}"
            f"{', verified' if data['verified'] else ', NOT verified'}), device {info['device']}{threads}{resumed}"))
        self.console.print(f"run folder: {info['run_dir']}")
        self.progress.start()

    def on_epoch_start(self, epoch: int, epochs: int, steps: int, start_step: int) -> None:
        self.console.print(f"Epoch {epoch + 1}\n-------------------------------")
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"epoch {epoch + 1}/{epochs}", total=steps, completed=start_step,
                                           status="")

    def on_step(self) -> None:
        self.progress.advance(self.task)

    def on_log(self, record: dict) -> None:
        self.console.print(f"loss: {record['loss']:>7f}  [{record['batch']:>3d}/{record['batches']:>3d}]")
        self.progress.update(self.task, status=f"loss {record['loss']:.4f}  {record['images_per_second']:,.0f} img/s")

    def on_epoch_end(self, record: dict) -> None:
        if record.get("test_acc") is not None:
            self.console.print(f"Test: \n Accuracy: {record['test_acc']:>0.1f}%, Avg loss: {record['test_loss']:>8f} \n")
        if record.get("val_acc") is not None:
            self.console.print(f"Val: Accuracy: {record['val_acc']:>0.1f}%, Avg loss: {record['val_loss']:>8f}")

    def on_message(self, text: str) -> None:
        warn_fallback(text)

    def on_end(self, summary: dict) -> None:
        self.progress.stop()
        acc = summary.get("final_test_acc")
        self.console.print(
            f"Done! {summary['status']} after {summary['epochs']} epochs / {summary['steps']} steps in "
            f"{summary['train_seconds']:.1f} s ({summary['images_per_second'] or 0:,.0f} img/s)"
            + (f"; test accuracy {acc:.2f}% (best {summary['best_test_acc']:.2f}%)" if acc is not None else ""))
        self.console.print(f"summary: {summary['run_dir']}/summary.json")

    def stop(self) -> None:
        self.progress.stop()
