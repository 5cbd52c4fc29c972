"""Training's two entry points: a new run, or an old one continued exactly where its last checkpoint left it.

    train(config) -> RunSummary     a new run in runs/<name>/
    resume(run_dir) -> RunSummary   continue from checkpoints/resume.safetensors

Both check the config, prepare the data (rank 0 first under torchrun), open a Session (training/setup.py), run the
loop (training/loop.py) and close the run: status in run.json, summary.json, loss.png. Progress goes to a Reporter.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from digitlab import __version__, checkpoint, distributed, runlock, runs, steplosses
from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.data.sources import Dataset
from digitlab.device import apply_threads, pick_device
from digitlab.errors import CheckpointError, ConfigError, DigitlabNote, TrainingError, TrainingInterrupted
from digitlab.io import atomic_write, write_json
from digitlab.models import build, count_parameters, trust, user
from digitlab.records import RunStart, RunSummary
from digitlab.training import finetune, loop
from digitlab.training.inbackward import check_opt_in
from digitlab.training.report import Reporter
from digitlab.training.setup import (
    RESUME_OVERRIDABLE,
    ModelSource,
    Session,
    check_config,
    model_source,
    open_session,
    preflight,
    prepare_shared,
)


def _start_info(s: Session) -> RunStart:
    split = s.data.dataset.extra.get("split")
    update = s.update_info()
    return RunStart(run_dir=str(s.run_dir), config=s.config, device=str(s.device), params=count_parameters(s.model),
                    data=s.data.dataset.provenance(), threads=torch.get_num_threads(), precision=s.precision.dtype,
                    precision_reason=s.precision.reason, update=update.how, update_reason=update.reason,
                    n_train=len(s.data.train.labels), n_test=len(s.data.test.labels), resumed_at=s.resumed_at,
                    notes=tuple([f"data split: {split}"] if split else [])
                    + ((s.data.dataset.notice,) if s.data.dataset.notice else ()) + tuple(s.notes))


def _run(s: Session, reporter: Reporter) -> RunSummary:
    """Run the loop and close the run: status, summary.json, loss.png. Only rank 0 writes."""
    main = s.ddp.is_main
    broken = False  # the process group lost a peer: leave it without the closing barrier
    if main:
        runs.set_status(s.run_dir, "running", recipe=s.config.recipe, model=s.config.model.name,
                        world_size=s.ddp.world_size)
    try:  # the reporter prints: a closed pipe there is handled like one during training
        if s.data.dataset.fallback:
            reporter.on_message(s.data.dataset.fallback)
        reporter.on_start(_start_info(s))
        # a run killed after its last epoch but before it was closed has nothing left to train: it is only finished
        ended = loop.fit(s, reporter) if s.state.epoch < s.config.train.epochs else "done"
    except TrainingInterrupted:
        if main:
            runs.set_status(s.run_dir, "interrupted", step=s.state.global_step)
        raise
    except BrokenPipeError:  # `digitlab train | head`: the reader left; the run itself did not fail
        if main:
            s.book.save_resume(s)
            runs.set_status(s.run_dir, "interrupted", step=s.state.global_step, reason="output closed")
        raise
    except BaseException as exc:
        if s.ddp.enabled and distributed.is_peer_failure(exc):
            broken = True
            lost = distributed.lost_peer(s.ddp, exc, s.state.global_step, s.config.train.dist_timeout, s.run_dir)
            if main:  # resumable from its last checkpoint: interrupted, not failed
                runs.set_status(s.run_dir, "interrupted", step=s.state.global_step, reason="lost a process")
            raise lost from None
        if main:
            runs.set_status(s.run_dir, "failed", error=(str(exc) or type(exc).__name__)[:500])
        if s.code is not None and isinstance(exc, Exception) and user.where_in_user_code(exc, s.code):
            raise user.failed(s.code, f"training (step {s.state.global_step + 1})", exc) from None
        if s.config.train.compile and type(exc).__module__.startswith(("torch._dynamo", "torch._inductor")):
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise TrainingError(f"train.compile: torch.compile failed on {s.device} ({first}); train without "
                                "--set train.compile=true") from None
        raise
    finally:
        if s.in_backward is not None:
            s.in_backward.remove()
        s.book.close()
        distributed.cleanup(s.ddp, broken)
    if not main:
        return RunSummary(run=s.run_dir.name, run_dir=str(s.run_dir), rank=s.ddp.rank, steps=s.state.global_step)
    summary = s.book.summary(s, ended)
    write_json(s.run_dir / "summary.json", summary.to_json())
    with contextlib.suppress(Exception):  # a plot is a convenience; its failure must not lose the run
        from digitlab.curves import loss_curves, with_every_step

        if s.config.train.loss_plot:
            records = with_every_step(s.book.history, steplosses.read_step_losses(s.run_dir))
            loss_curves(records, s.run_dir / "loss.png", title=f"{s.run_dir.name} ({s.config.model.name})")
    runs.set_status(s.run_dir, summary.status, step=s.state.global_step)
    reporter.on_end(summary)
    return summary


def train(config: Config, name: str | None = None, run_dir: str | Path | None = None, reporter: Reporter | None = None,
          dataset: Dataset | None = None, progress=None, model=None) -> RunSummary:
    """Train a model from a config into a new run folder; returns its summary (summary.json's RunSummary).

    model: your own network as a class or factory (else the config's model.name: a registry name or
    "FILE.py:Name"); its source file is recorded in every checkpoint when Python can find it."""
    if model is not None:
        code = build.source_code(config.model, model)
        config = replace(config, model=replace(config.model, name=code.ref))
    origin = finetune.origin(config.train.init_from) if config.train.init_from else None
    # a fine-tune of a user's own network continues the code its origin recorded (once trusted), never a file that
    # the origin's config names
    recorded = origin.checkpoint.info.code if origin is not None and model is None \
        and origin.checkpoint.info.model == config.model.name else None
    if recorded is not None:
        trust.require(recorded, str(origin.checkpoint.path))
    elif origin is not None and model is None and user.is_user_ref(config.model.name):
        raise CheckpointError(f"--init-from {config.train.init_from}: a fine-tune of your own network needs the code "
                              "its checkpoint recorded; this one records none for it")
    config = check_config(config, recorded)
    if config.data.data_dir:  # recorded absolute: eval, predict and --resume find the data from any folder
        config = replace(config, data=replace(config.data, data_dir=str(Path(config.data.data_dir).expanduser().absolute())))
    source = model_source(config, model, recorded)
    if origin is not None:
        finetune.check(config, origin)
    ddp = distributed.from_env()
    reporter = (reporter or Reporter()) if ddp.is_main else Reporter()
    device = distributed.setup(ddp, pick_device(config.train.device), config.train.dist_timeout)
    check_opt_in(config, device, ddp)
    apply_threads(config.train.threads)
    data = prepare_shared(config, device, ddp, dataset, progress, source.traits, origin.statistics if origin else None)
    if data.dataset.fallback:  # record the data actually used
        config = replace(config, data=replace(config.data, dataset=data.dataset.name))
    preflight(config, source, data)
    folder, lock = None, None
    if ddp.is_main:
        folder, lock = runlock.claim_new_run_dir(name, run_dir, config.recipe)
    try:
        if folder is not None:
            if source.code is not None:
                trust.add(source.code, "trained")  # this user ran it: their own checkpoints rebuild it without asking
            atomic_write(folder / "config.toml", cfgmod.dumps(config))
            write_json(folder / "data.json", data.dataset.provenance())
            if origin is not None:
                finetune.record(folder, origin)
        folder = Path(distributed.broadcast_text(ddp, str(folder) if folder else None))
        return _run(open_session(config, folder, device, ddp, data, source=source, origin=origin), reporter)
    finally:
        if lock is not None:
            lock.release()


def resume(run_dir: str | Path, overrides: list[str] | None = None, reporter: Reporter | None = None,
           progress=None, values: dict | None = None) -> RunSummary:
    """Continue a run from checkpoints/resume.safetensors; only RESUME_OVERRIDABLE settings may change, as
    `--set`-style overrides or typed values by "section.key" (None = unchanged)."""
    ddp = distributed.from_env()
    reporter = (reporter or Reporter()) if ddp.is_main else Reporter()
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").exists():
        raise ConfigError(f"--resume {run_dir}: not a run folder (no config.toml)")
    ckpt = run_dir / "checkpoints" / "resume.safetensors"
    if not ckpt.exists():
        raise ConfigError(f"--resume {run_dir}: no checkpoints/resume.safetensors yet; start the run again instead")
    raw = cfgmod.load_toml(run_dir / "config.toml")
    saved = cfgmod.from_dict(raw, str(run_dir / "config.toml"))
    # config.toml is the record of the run: if it no longer matches what the checkpoint trained with (emptied,
    # damaged, edited), refuse rather than continue a different experiment and overwrite the record
    info, position, recorded = checkpoint.read_resume_header(ckpt)  # header only: tensors load once, in open_session
    changed = [k for k in cfgmod.diff_keys(info.config, saved) if k not in RESUME_OVERRIDABLE]
    # digitlab writes every key: a file from this version lacking one was cut (its value would silently be a default)
    # (a key this version added since the run began is absent from both files: that is no cut)
    if info.version == __version__:
        changed += [k for k in cfgmod.valid_keys() if k in recorded
                    and k.partition(".")[2] not in (raw.get(k.partition(".")[0]) or {})]
    if changed:
        raise CheckpointError(f"{run_dir / 'config.toml'}: differs from the config its checkpoint was trained with "
                              f"({', '.join(changed[:4])}); restore it: it is the record of the run")
    values = {k: v for k, v in (values or {}).items() if v is not None}
    keys = [cfgmod.override_key(text) for text in overrides or []] + list(values)
    bad = [k for k in keys if k not in RESUME_OVERRIDABLE]
    if bad:
        raise ConfigError(f"--resume: '{bad[0]}' cannot change mid-run; only {', '.join(RESUME_OVERRIDABLE)} can")
    # a run of the user's own network continues the code its checkpoint recorded, once trusted; a file the run
    # folder merely names is never read (it is a record, and somebody else's folder may name any file)
    if user.is_user_ref(saved.model.name) and info.code is None:
        raise CheckpointError(f"{ckpt}: its config names the model '{saved.model.name}' but the checkpoint records no "
                              "code for it; refusing to run a file a run folder names")
    if info.code is not None:
        trust.require(info.code, str(ckpt))
    config = check_config(cfgmod.with_overrides(cfgmod.with_values(saved, values), overrides), info.code)
    # the epochs asked for are done: refuse, unless the run did all of its own epochs but was killed before it was
    # closed (summary, status): then resuming only finishes it
    complete = int(position.get("epoch", 0)) >= config.train.epochs
    if complete and (runs.run_status(run_dir) == "finished" or "train.epochs" in keys):
        raise ConfigError(f"--resume {run_dir}: already trained {position.get('epoch')} epochs; raise --epochs to go on")
    if config.train.max_steps and int(position.get("global_step", 0)) >= config.train.max_steps \
            and "train.max_steps" not in keys:
        config = replace(config, train=replace(config.train, max_steps=0))  # the smoke cap was reached: go on
    source = None
    if info.code is not None:  # the code recorded in the checkpoint, not the file as it is now
        if note := build.changed_on_disk(info.code):
            warnings.warn(note, DigitlabNote, stacklevel=2)  # the CLI prints it as one `warning:` line
        source = ModelSource(info.code, build.traits(config.model, info.code))
    lock = runlock.RunLock(run_dir, "--resume") if ddp.is_main else None  # refused while another process trains it
    try:
        # (an old run's in-backward setting: as before)
        device = distributed.setup(ddp, pick_device(config.train.device), config.train.dist_timeout)
        apply_threads(config.train.threads)
        # a fine-tune normalizes with its origin's statistics, which its checkpoints carry
        kept = (info.preprocessing.mean, info.preprocessing.std) if config.train.init_from else None
        data = prepare_shared(config, device, ddp, progress=progress, traits=source.traits if source else None,
                              statistics=kept)
        s = open_session(config, run_dir, device, ddp, data, resume_from=ckpt, horizon_epochs=saved.train.epochs,
                         source=source)
        if ddp.is_main:
            atomic_write(run_dir / "config.toml", cfgmod.dumps(config))
        return _run(s, reporter)
    finally:
        if lock is not None:
            lock.release()
