"""Run bookkeeping: what a training session writes into its run folder, and the summary it ends with.

    RunBook(run_dir, config, preprocessing, ddp, output, code)
      .log(record)                a StepRecord / EvalRecord (records.py) to metrics.jsonl (+ TensorBoard) and the
                                  in-memory history the summary is built from
      .save_weights / .save_resume  checkpoints/last|best|resume.safetensors, each with its CheckpointInfo
      .resume_history(step)       the records of a run being resumed, cut to what its checkpoint holds
      .step_loss(loss)            every step's loss, kept on the device and appended to losses.f32 at each
                                  checkpoint (float32, entry i = step i + 1), whatever log_every is
      .first_nonfinite()          the first step whose loss was NaN/inf, from those same losses (read at logging
                                  points only, so the loop adds no per-step check)
      .summary(session, ended)    the RunSummary (summary.json), built from the history (metrics.jsonl is not re-read)

Only rank 0 writes under torchrun; the other ranks' books write nothing.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from digitlab import __version__, checkpoint, runs, steplosses
from digitlab.config import Config
from digitlab.contract import CheckpointInfo, Preprocessing, UserCode
from digitlab.distributed import Dist
from digitlab.models import count_parameters
from digitlab.records import EvalRecord, Record, RunSummary
from digitlab.training import finetune


class Session(Protocol):
    """What the book reads from a training session (training/setup.py's Session, which holds this book). A protocol,
    so this module does not import setup.py, which imports it."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    state: Any  # setup.State: epoch, global_step, best_epoch, train_seconds, step_seconds, images_seen
    data: Any  # setup.Prepared: dataset, train, test, val
    ddp: Dist
    device: torch.device
    precision: Any  # device.Precision

    def update_info(self) -> Any: ...  # setup.Update: how, reason

CHECKPOINTS = ("best.safetensors", "last.safetensors", "resume.safetensors")


def versions() -> dict:
    return {"digitlab": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


class RunBook:
    def __init__(self, run_dir: Path, config: Config, preprocessing: Preprocessing, ddp: Dist, output: str = "logits",
                 code: UserCode | None = None) -> None:
        self.run_dir, self.config, self.preprocessing = run_dir, config, preprocessing
        self.output, self.code = output, code  # the model's output kind; the user's code every checkpoint carries
        self.writes = ddp.is_main
        self.ckpt_dir = run_dir / "checkpoints"
        self.history: list[Record] = []  # every record of the run, oldest first (also those before a resume)
        self._pending = steplosses.PendingLosses()  # steps not yet in losses.f32, on the device (every rank keeps them)
        self._checked = 0  # how many of _pending have been checked for NaN/inf
        self._flushed = 0  # steps before _pending[0] (already in losses.f32, or held by the resumed checkpoint)
        self._log = runs.MetricsLog(run_dir / "metrics.jsonl") if self.writes else runs.NullLog()
        self._tb = None
        if config.train.tensorboard and self.writes:
            from digitlab.training.tensorboard import TensorBoardLog

            self._tb = TensorBoardLog(run_dir)

    # ---------------------------------------------------------------------------------------- records
    def resume_history(self, step: int, epochs_done: int) -> None:
        """Keep (on disk and here) only the records the checkpoint holds: none past its `step`, and no epoch record
        past its `epochs_done` (a --ckpt-every checkpoint at an epoch's last step precedes that epoch's record)."""
        path = self.run_dir / "metrics.jsonl"
        if self.writes:
            runs.MetricsLog.truncate_after(path, step, epochs_done)
        self.history = [r for r in runs.MetricsLog.read(path) if r.step <= step
                        and (r.kind != "epoch" or r.epoch <= epochs_done)]
        if self.writes:
            steplosses.truncate_step_losses(self.run_dir, step)
        self._flushed = step

    def step_loss(self, loss: torch.Tensor) -> None:
        """Keep one step's loss (a device scalar; nothing is read back here)."""
        self._pending.append(loss)

    def first_nonfinite(self) -> int | None:
        """The 0-based index of the first step whose loss was NaN/inf among those not yet checked, else None."""
        new = self._pending.values(self._checked)
        if not len(new):
            return None
        bad = ~torch.isfinite(new)
        if bool(bad.any()):  # the one device read
            return self._flushed + self._checked + int(bad.int().argmax())
        self._checked = len(self._pending)
        return None

    def flush_step_losses(self) -> None:
        """Append the pending losses to losses.f32 (one device read per checkpoint)."""
        if len(self._pending):
            values = self._pending.values().cpu().numpy().astype("<f4")  # a copy: the slots are reused
            if self.writes:
                steplosses.append_step_losses(self.run_dir, values)
            self._flushed += len(self._pending)
            self._pending.clear()
            self._checked = 0

    def log(self, record: Record) -> None:
        self.history.append(record)
        self._log.write(record)
        if self._tb and record.kind == "step":
            self._tb.step(record)

    def tensorboard_epoch(self, record: EvalRecord, s: Session) -> None:
        if self._tb:
            self._tb.epoch(record, s.model, s.data.test, self.preprocessing)

    def close(self) -> None:
        self.flush_step_losses()
        self._log.close()
        if self._tb:
            self._tb.close()

    # ---------------------------------------------------------------------------------------- checkpoints
    def info(self, s: Session, test_acc: float | None = None) -> CheckpointInfo:
        return CheckpointInfo(model=self.config.model.name, num_classes=len(self.preprocessing.classes),
                              output=self.output, preprocessing=self.preprocessing, config=self.config,
                              epoch=s.state.epoch, step=s.state.global_step, test_acc=test_acc, code=self.code)

    def save_weights(self, s: Session, test_acc: float | None, best: bool) -> None:
        if not self.writes:
            return
        info = self.info(s, test_acc)
        if best:
            checkpoint.save_weights(self.ckpt_dir / "best.safetensors", s.model, info)
        checkpoint.save_weights(self.ckpt_dir / "last.safetensors", s.model, info)

    def save_resume(self, s: Session) -> None:
        self.flush_step_losses()  # the losses file always covers at least the steps the checkpoint holds
        if self.writes:
            checkpoint.save_resume(self.ckpt_dir / "resume.safetensors", s.model, s.optimizer, s.scheduler,
                                   dict(vars(s.state)), self.info(s))

    def saved_checkpoints(self) -> str:
        """Which checkpoints exist now, for messages ("" when none)."""
        return ", ".join(name for name in CHECKPOINTS if (self.ckpt_dir / name).exists())

    # ---------------------------------------------------------------------------------------- the end
    def summary(self, s: Session, ended: str) -> RunSummary:
        """summary.json: status, accuracies, timing, provenance. ended: why fit() returned."""
        evaluated = [r for r in self.history if isinstance(r, EvalRecord) and r.test_acc is not None]
        epochs = [r for r in self.history if r.kind == "epoch"]
        last = evaluated[-1] if evaluated else EvalRecord()
        state, data, code, update = s.state, s.data, self.code, s.update_info()
        return RunSummary(
            run=self.run_dir.name,
            run_dir=str(self.run_dir),
            status="finished" if ended in ("done", "target") else "stopped",
            ended=ended,
            recipe=self.config.recipe,
            model=self.config.model.name,
            model_code={"file": code.file, "name": code.attr, "sha256": code.sha256, "args": dict(code.args),
                        **({"missing": code.missing} if code.missing else {})} if code else None,
            params=count_parameters(s.model),
            final_test_acc=last.test_acc,
            best_test_acc=max((r.test_acc for r in evaluated), default=None),
            final_test_loss=last.test_loss,
            final_val_acc=last.val_acc,
            final_train_loss=epochs[-1].train_loss if epochs else None,
            best_epoch=state.best_epoch,
            best_chosen_on="val" if data.val is not None else "test",
            reached_target=last.reached_target,
            epochs=state.epoch,
            steps=state.global_step,
            train_seconds=round(state.train_seconds, 3),
            images_per_second=round(state.images_seen / state.step_seconds, 1) if state.step_seconds else None,
            device=str(s.device),
            threads=torch.get_num_threads(),
            precision=s.precision.dtype,
            precision_reason=s.precision.reason,
            update=update.how,
            update_reason=update.reason,
            seed=self.config.train.seed,
            batch_size=self.config.train.batch_size,
            optimizer=self.config.optim.name,
            lr=self.config.optim.lr,
            data=data.dataset.provenance(),
            init_from=finetune.recorded(self.run_dir),
            data_verified=data.dataset.verified,
            n_train=len(data.train.labels),
            n_test=len(data.test.labels),
            world_size=s.ddp.world_size,
            versions=versions(),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
