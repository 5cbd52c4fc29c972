"""The training loop, nanoGPT-style: one step, one epoch, one end-of-epoch, and a loop short enough to read.

    fit(session, reporter)      epochs from session.state onwards; returns why it ended ("done", "target",
                                "max_steps", "asked"), raises TrainingInterrupted (Ctrl-C / SIGTERM, saved) or
                                TrainingError (NaN/inf loss)

The loop reads values back from the device only at logging points and epoch ends, so on CUDA the host stays ahead
of the GPU. Each epoch's record is written to metrics.jsonl *before* the checkpoints that mark the epoch done, so a
kill between the two can never leave a finished epoch without its record (resume drops records past its step).
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace

import torch
import torch.nn as nn

from digitlab.device import synchronize
from digitlab.errors import TrainingError, TrainingInterrupted
from digitlab.metrics import quick_eval
from digitlab.records import EvalRecord, StepRecord
from digitlab.training.report import Reporter
from digitlab.training.setup import Session


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn, optimizer: torch.optim.Optimizer | None,
               scheduler, grad_clip: float, channels_last: bool = False, amp: bool = False) -> torch.Tensor:
    """One optimizer step; returns the (device) loss tensor, not read back. optimizer None: the parameters are
    updated inside backward (training/inbackward.py), so there is nothing to zero or step here."""
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    if amp:  # bf16 autocast: no loss scaling needed (bf16 has float32's exponent range)
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
            loss = loss_fn(model(x).float(), y)
    else:
        loss = loss_fn(model(x), y)
    if optimizer is None:
        if grad_clip > 0:
            raise ValueError("gradient clipping needs the update after backward (an optimizer to step)")
        loss.backward()
    else:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
    scheduler.step()
    return loss.detach()


class StopFlag:
    """Ctrl-C / SIGTERM set a flag the loop checks between steps, so a checkpoint is never half a step."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._old: dict = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.reason:  # second Ctrl-C: stop waiting
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def check_finite(s: Session) -> None:
    """Raise once a step's loss was NaN/inf (the kept per-step losses are read at logging points and checkpoints only)."""
    bad = s.book.first_nonfinite()
    if bad is not None:
        saved = s.book.saved_checkpoints()
        where = (f"the last good checkpoint ({saved}) is in {s.book.ckpt_dir}" if saved
                 else "no checkpoint was saved before it")
        raise TrainingError(
            f"loss became NaN/inf at step {bad} (epoch {s.state.epoch + 1}); stopped; {where}. Try a lower learning "
            f"rate (now {s.config.optim.lr}) or gradient clipping (--set optim.grad_clip=1.0)"
        )


def run_epoch(s: Session, reporter: Reporter, stop: StopFlag) -> bool:
    """Train from the loader's position to the end of the epoch (or a stop). Returns True when the epoch is done."""
    tc, state = s.config.train, s.state
    steps = len(s.data.train)
    s.data.train.set_epoch(state.epoch, state.step_in_epoch)
    reporter.on_epoch_start(state.epoch, tc.epochs, steps, state.step_in_epoch)
    loss_sum = torch.zeros((), device=s.device)  # the epoch's summed per-sample loss, kept on the device
    window = torch.zeros((), device=s.device)  # summed batch losses since the last log point (running-mean format)
    running_mean = tc.log_format == "running-mean"
    synchronize(s.device)
    t0 = time.perf_counter()
    for x, y in s.data.train:
        if tc.max_steps and state.global_step >= tc.max_steps:
            break
        batch = state.step_in_epoch
        loss = train_step(s.net, x, y, s.loss_fn, s.stepper, s.scheduler, s.config.optim.grad_clip,
                          tc.channels_last, s.precision.bf16)
        s.book.step_loss(loss)  # also what check_finite reads: no per-step NaN test on the device
        loss_sum.add_(loss, alpha=1 if s.config.loss.reduction == "sum" else len(y))
        s.epoch_samples += len(y)
        state.step_in_epoch += 1
        state.global_step += 1
        state.images_seen += len(y) * s.ddp.world_size
        reporter.on_step(loss, len(y) * s.ddp.world_size)
        if running_mean:
            window += loss
        if (batch + 1) % tc.log_every == 0 if running_mean else batch % tc.log_every == 0:
            check_finite(s)
            now = time.perf_counter()
            loss_mean = None
            if running_mean:  # the PyTorch course's format: the mean of the last log_every batch losses
                loss_mean = window.item() / tc.log_every
                window.zero_()
            record = StepRecord(step=state.global_step, epoch=state.epoch + 1, batch=batch, batches=steps,
                                loss=loss.item(), lr=s.optimizer.param_groups[0]["lr"], loss_mean=loss_mean,
                                images_per_second=state.images_seen / max(state.step_seconds + now - t0, 1e-9))
            s.book.log(record)
            reporter.on_log(record)
        if tc.ckpt_every and state.global_step % tc.ckpt_every == 0:
            check_finite(s)
            s.book.save_resume(s)
        if stop.reason:
            break
    synchronize(s.device)
    elapsed = time.perf_counter() - t0
    state.step_seconds += elapsed
    state.train_seconds += elapsed
    s.epoch_loss_sum += float(loss_sum.item())  # one read per epoch
    check_finite(s)
    return state.step_in_epoch >= steps


def evaluate_now(s: Session, kind: str) -> EvalRecord:
    """Test (and validation) accuracy and loss at this point, as a metrics record of `kind` ("epoch" or "stop")."""
    t0 = time.perf_counter()
    out_kind, tta, background = s.output_kind, s.config.train.tta, s.data.preprocessing.background
    acc, loss = quick_eval(s.model, s.data.test, out_kind, tta, background)
    record = EvalRecord(kind=kind, epoch=s.state.epoch + 1, step=s.state.global_step, test_acc=acc, test_loss=loss)
    if s.data.val is not None:
        vacc, vloss = quick_eval(s.model, s.data.val, out_kind, tta, background)
        record = replace(record, val_acc=vacc, val_loss=vloss)
    synchronize(s.device)
    s.state.train_seconds += time.perf_counter() - t0
    s.model.train()
    return record


def end_epoch(s: Session, reporter: Reporter) -> EvalRecord:
    """Evaluate, log the epoch's record, then write best/last/resume checkpoints; returns the record."""
    tc, state = s.config.train, s.state
    if tc.eval_every_epoch or state.epoch == tc.epochs - 1:
        record = evaluate_now(s, "epoch")
    else:
        record = EvalRecord(kind="epoch", epoch=state.epoch + 1, step=state.global_step)
    # mean training loss over the samples this process trained on in the epoch (since the resume, if resumed)
    record = replace(record, train_loss=round(s.epoch_loss_sum / max(s.epoch_samples, 1), 6),
                     train_seconds=state.train_seconds, lr=s.optimizer.param_groups[0]["lr"])
    s.epoch_loss_sum, s.epoch_samples = 0.0, 0
    if tc.target_acc and (record.test_acc or 0) >= tc.target_acc:
        record = replace(record, reached_target=tc.target_acc)
    state.epoch, state.step_in_epoch = state.epoch + 1, 0
    score = record.score()
    is_best = score is not None and score > state.best_acc
    if is_best:
        state.best_acc, state.best_epoch = score, state.epoch
    s.book.log(record)  # the record first: a kill after it but before the checkpoints replays the epoch on resume
    s.book.save_weights(s, record.test_acc, best=is_best)
    s.book.save_resume(s)
    s.book.tensorboard_epoch(record, s)
    reporter.on_epoch_end(record)
    return record


def end_early(s: Session, reporter: Reporter) -> EvalRecord:
    """A run stopped inside an epoch (--max-steps): evaluate there, keep its weights as last.safetensors."""
    record = evaluate_now(s, "stop")
    s.book.log(record)
    s.book.save_weights(s, record.test_acc, best=False)
    s.book.save_resume(s)
    reporter.on_epoch_end(record)
    return record


def fit(s: Session, reporter: Reporter) -> str:
    """The loop. Returns why it ended: done, target (target_acc reached), max_steps, or asked (reporter)."""
    s.model.train()
    with StopFlag() as stop:
        while s.state.epoch < s.config.train.epochs:
            if not run_epoch(s, reporter, stop) or stop.reason:
                s.book.save_resume(s)
                if stop.reason:
                    raise TrainingInterrupted(f"interrupted ({stop.reason}) at step {s.state.global_step}; saved. "
                                              f"Resume with: digitlab train --resume {s.run_dir}")
                end_early(s, reporter)
                return "max_steps"
            record = end_epoch(s, reporter)
            if record.reached_target is not None:
                return "target"
            if reporter.should_stop():
                return "asked"
    return "done"
