"""The Reporter: how the training loop tells the outside world what it is doing (and may be asked to stop).

Every method is optional. The default is silent; the CLI's RichReporter draws the progress bar and prints the
tutorials' lines; a sweep's reporter passes each epoch's validation score to Optuna and answers should_stop.
The values it receives are records.py's typed records. This module imports nothing heavy, so a CLI or a sweep can
subclass it without loading torch.
"""

from __future__ import annotations

from digitlab.records import EvalRecord, RunStart, RunSummary, StepRecord


class Reporter:
    """Receives progress from the loop: the run's header, each logged step and evaluation (as metrics.jsonl holds
    them), and the summary."""

    def on_start(self, info: RunStart) -> None: ...
    def on_epoch_start(self, epoch: int, epochs: int, steps: int, start_step: int) -> None: ...
    def on_step(self, loss=None, images: int = 0) -> None:
        """After each step: `loss` is the step's loss as a device tensor (reading it syncs the device: do it
        rarely), `images` how many images the step trained on (all processes)."""
    def on_log(self, record: StepRecord) -> None: ...
    def on_epoch_end(self, record: EvalRecord) -> None: ...
    def on_message(self, text: str) -> None: ...
    def on_end(self, summary: RunSummary) -> None: ...

    def should_stop(self) -> bool:
        """Asked after each epoch's end; True ends the run there as 'stopped' (e.g. a pruned sweep trial)."""
        return False
