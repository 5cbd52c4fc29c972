"""Hostile class 1a: bad `digitlab train` option values and `--set` values of every type.

Each is refused before anything loads or any run folder is made, in one `error:` line naming the key or option.
"""

from __future__ import annotations

import pytest

from tests.hostile.conftest import assert_one_line_error, invoke, train_args

# (override, words the error line must hold): negative, NaN/inf, wrong type, out of range, unknown key, bad tuple
BAD_SETS = [
    ("optim.momentum=-5", "optim.momentum"),
    ("optim.momentum=1", "optim.momentum"),
    ("optim.beta1=2", "optim.beta1"),
    ("optim.beta2=1.0", "optim.beta2"),
    ("optim.lr=0", "optim.lr"),
    ("optim.lr=-0.1", "optim.lr"),
    ("optim.lr=nan", "finite"),
    ("optim.lr=inf", "finite"),
    ("optim.lr=-inf", "finite"),
    ("optim.lr=fast", "optim.lr"),
    ("optim.lr=[0.1, 0.2]", "optim.lr"),
    ("optim.lr=true", "optim.lr"),
    ("optim.weight_decay=-1", "optim.weight_decay"),
    ("optim.eps=-1e-8", "optim.eps"),
    ("optim.rho=1.5", "optim.rho"),
    ("optim.grad_clip=-1", "optim.grad_clip"),
    ("optim.dampening=2", "optim.dampening"),
    ("optim.nesterov=1", "optim.nesterov"),
    ("optim.nesterov=yes", "optim.nesterov"),
    ("optim.name=lbfgs", "optim.name"),
    ("train.epochs=0", "train.epochs"),
    ("train.epochs=2.5", "train.epochs"),
    ("train.epochs=1e400", "train.epochs"),
    ("train.batch_size=0", "train.batch_size"),
    ("train.batch_size=-64", "train.batch_size"),
    ("train.seed=-1", "train.seed"),
    ("train.seed=99999999999999999999", "train.seed"),
    ("train.max_steps=-1", "train.max_steps"),
    ("train.log_every=0", "train.log_every"),
    ("train.threads=-2", "train.threads"),
    ("train.ckpt_every=-1", "train.ckpt_every"),
    ("train.target_acc=150", "train.target_acc"),
    ("train.target_acc=nan", "finite"),
    ("train.device=tpu", "train.device"),
    ("train.amp=maybe", "train.amp"),
    ("data.limit=-5", "data.limit"),
    ("data.val_size=-1", "data.val_size"),
    ("data.resize=5000", "data.resize"),
    ("data.pad=-1", "data.pad"),
    ("data.classes=[1, 1]", "data.classes"),
    ("data.classes=[10]", "data.classes"),
    ("data.classes=[-1]", "data.classes"),
    ("data.classes=[1.5, 2]", "data.classes"),
    ("data.classes=three", "data.classes"),
    ("data.augment_rotate=500", "data.augment_rotate"),
    ("data.augment_scale=1.5", "data.augment_scale"),
    ("data.augment_shift=-2", "data.augment_shift"),
    ("data.eval_batch_size=0", "data.eval_batch_size"),
    ("data.dataset=cifar", "data.dataset"),
    ("loss.class_weights=[1, 2]", "loss.class_weights"),
    ("loss.class_weights=[-1, 1, 1, 1, 1, 1, 1, 1, 1, 1]", "loss.class_weights"),
    ("loss.class_weights=[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]", "loss.class_weights"),
    ("loss.class_weights=[nan, 1, 1, 1, 1, 1, 1, 1, 1, 1]", "finite"),
    ("loss.class_weights=heavy", "loss.class_weights"),
    ("loss.label_smoothing=1.0", "loss.label_smoothing"),
    ("loss.label_smoothing=-0.1", "loss.label_smoothing"),
    ("loss.reduction=none", "loss.reduction"),
    ("loss.ignore_index=3.5", "loss.ignore_index"),
    ("loss.name=hinge", "loss.name"),
    ("schedule.step_size=0", "schedule.step_size"),
    ("schedule.gamma=0", "schedule.gamma"),
    ("schedule.pct_start=1", "schedule.pct_start"),
    ("schedule.min_lr_ratio=2", "schedule.min_lr_ratio"),
    ("schedule.warmup_steps=-1", "schedule.warmup_steps"),
    ("schedule.name=exp", "schedule.name"),
    ("model.name=resnet", "model.name"),
    ("bogus=1", "unknown key 'bogus'"),
    ("optim.bogus=1", "optim.bogus"),
    ("bogus.key=1", "unknown section 'bogus'"),
    ("noequals", "key=value"),
    ("lr=", "optim.lr"),
]


@pytest.mark.parametrize("override,words", BAD_SETS, ids=[s for s, _ in BAD_SETS])
def test_bad_set_value_is_one_line_before_any_run_folder(idx_dir, tmp_path, override, words):
    run = tmp_path / "run"
    result = invoke(*train_args(idx_dir, run, "--set", override))
    assert_one_line_error(result, words, code=2)
    assert not run.exists()  # refused before a run folder was made


# values the config accepts on its own but the data refuses: still one line, still no run folder
DATA_DEPENDENT = [
    (["--set", "data.resize=20"], "data.resize"),
    (["--set", "data.val_size=100000"], "val"),
    (["--batch-size", "100000", "--set", "data.drop_last=true"], "batch"),
    (["--set", "data.limit=1", "--set", "data.val_size=1"], "data."),
]


@pytest.mark.parametrize("extra,words", DATA_DEPENDENT, ids=["resize-vs-model", "val-too-big", "drop-last-empty",
                                                              "nothing-left"])
def test_data_dependent_mistakes(idx_dir, tmp_path, extra, words):
    run = tmp_path / "run"
    assert_one_line_error(invoke(*train_args(idx_dir, run, *extra)), words)
    assert not run.exists()


BAD_OPTIONS = [
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "abc"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--lr", "nan"], "finite"),
    (["--lr", "-1"], "optim.lr"),
    (["--lr", "inf"], "finite"),
    (["--max-steps", "-1"], "--max-steps"),
    (["--ckpt-every", "-3"], "--ckpt-every"),
    (["--threads", "0"], "--threads"),
    (["--seed", "-1"], "train.seed"),
    (["--device", "tpu"], "tpu"),
    (["--dataset", "nope"], "nope"),
    (["--model", "nope"], "nope"),
    (["--optimizer", "nope"], "nope"),
    (["--loss", "nope"], "nope"),
    (["--recipe", "nope"], "nope"),
    (["--bogus-option"], "--bogus-option"),
]


@pytest.mark.parametrize("extra,words", BAD_OPTIONS, ids=[" ".join(e) for e, _ in BAD_OPTIONS])
def test_bad_option_value_is_one_line(idx_dir, tmp_path, extra, words):
    run = tmp_path / "run"
    assert_one_line_error(invoke(*train_args(idx_dir, run, *extra)), words)
    assert not run.exists()


def test_cuda_asked_for_on_a_machine_without_it(idx_dir, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    run = tmp_path / "run"
    assert_one_line_error(invoke(*train_args(idx_dir, run, "--device", "cuda")), "cuda")
    assert not run.exists()
