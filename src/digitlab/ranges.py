"""Every config value's range and cross-field rules (`config.validate`), each a one-line ConfigError, so a bad value
is refused before any data loads, not as a traceback from torch later. Names (model, loss, optimizer, ...) are
checked by their registries (digitlab.training.setup.check_config): this module imports none, nor the config module
(it reads a Config's attributes), so config.py can re-export it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from digitlab.errors import ConfigError

LOG_FORMATS = ("batch", "running-mean")
MAX_THREADS = 4096  # torch.set_num_threads takes a C int; no machine has more cores than this


def validate(config: Any) -> Any:
    """Every value's range and cross-field rules of a digitlab.config.Config (typed Any: importing config here
    would be a circle, since config.py re-exports this); returns the config unchanged when all hold."""
    for section in (f.name for f in dataclasses.fields(config) if dataclasses.is_dataclass(getattr(config, f.name))):
        for key, value in dataclasses.asdict(getattr(config, section)).items():
            values = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                raise ConfigError(f"{section}.{key} must be a finite number, got {value!r}")
            if any(isinstance(v, int) and not -(2**63) <= v < 2**63 for v in values):  # torch takes int64 at most
                raise ConfigError(f"{section}.{key} must fit a 64-bit integer, got {value!r}")
    d, lo, o, sc, t = config.data, config.loss, config.optim, config.schedule, config.train
    checks = [
        (t.epochs >= 1, f"train.epochs must be at least 1, got {t.epochs}"),
        (t.batch_size >= 1, f"train.batch_size must be at least 1, got {t.batch_size}"),
        (0 <= t.seed < 2**63, f"train.seed must be between 0 and 2**63-1, got {t.seed}"),
        (t.max_steps >= 0, "train.max_steps must be 0 (no limit) or positive"),
        (t.log_every >= 1, "train.log_every must be at least 1"),
        (t.log_format in LOG_FORMATS, f"train.log_format '{t.log_format}': choose one of {', '.join(LOG_FORMATS)}"),
        (0 <= t.threads <= MAX_THREADS, f"train.threads must be 0 (torch's choice) or 1..{MAX_THREADS}, got {t.threads}"),
        (t.ckpt_every >= 0, "train.ckpt_every must be 0 (epoch ends only) or positive"),
        (t.dist_timeout > 0, f"train.dist_timeout is in seconds and must be positive, got {t.dist_timeout}"),
        (0 <= t.target_acc <= 100, f"train.target_acc is a percentage (0 = off), got {t.target_acc}"),
        (o.lr > 0, f"optim.lr must be positive, got {o.lr}"),
        (config.model.init_std > 0, f"model.init_std must be positive, got {config.model.init_std}"),
        (config.model.input_size == 0 or 4 <= config.model.input_size <= 1024,
         f"model.input_size must be 0 (the model's own) or 4..1024 pixels, got {config.model.input_size}"),
        (all(0 < w <= 65536 for w in config.model.hidden + config.model.channels) and 0 <= config.model.layers <= 64,
         "model.hidden and model.channels take widths in 1..65536, model.layers 0 (the model's own) to 64"),
        (0 <= o.momentum < 1, f"optim.momentum must be in [0, 1), got {o.momentum}"),
        (0 <= o.dampening <= 1, f"optim.dampening must be in [0, 1], got {o.dampening}"),
        (not o.nesterov or o.name == "momentum" or (o.momentum > 0 and o.dampening == 0),
         "optim.nesterov needs optim.momentum > 0 and optim.dampening = 0"),
        (o.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {o.weight_decay}"),
        (0 <= o.beta1 < 1 and 0 <= o.beta2 < 1, f"optim.beta1 and optim.beta2 must be in [0, 1), got {o.beta1}, {o.beta2}"),
        (o.eps >= 0, f"optim.eps must be >= 0 (0 = the optimizer's default), got {o.eps}"),
        (0 <= o.rho <= 1, f"optim.rho must be in [0, 1], got {o.rho}"),
        (o.grad_clip >= 0, f"optim.grad_clip must be >= 0 (0 = off), got {o.grad_clip}"),
        (sc.warmup_steps >= 0, "schedule.warmup_steps must be >= 0"),
        (sc.step_size >= 1, "schedule.step_size must be at least 1 (epochs between decays)"),
        (sc.gamma > 0, f"schedule.gamma must be positive, got {sc.gamma}"),
        (0 <= sc.min_lr_ratio <= 1, f"schedule.min_lr_ratio must be in [0, 1], got {sc.min_lr_ratio}"),
        (0 < sc.pct_start < 1, f"schedule.pct_start must be in (0, 1), got {sc.pct_start}"),
        (0 <= lo.label_smoothing < 1, "loss.label_smoothing must be in [0, 1)"),
        (lo.reduction in ("mean", "sum"), "loss.reduction must be mean or sum"),
        (all(w >= 0 for w in lo.class_weights) and (not lo.class_weights or sum(lo.class_weights) > 0),
         "loss.class_weights must be >= 0, and not all 0"),
        (d.eval_batch_size >= 1, "data.eval_batch_size must be at least 1"),
        (0 < d.test_size < 1, f"data.test_size is the fraction of a folder or CSV carved off as test, in (0, 1), "
                              f"got {d.test_size}"),
        (t.freeze >= 0, f"train.freeze is how many last layers train (0 = all), got {t.freeze}"),
        (0 <= d.resize <= 1024 and 0 <= d.pad <= 256, "data.resize must be in 0..1024 and data.pad in 0..256"),
        (d.val_size >= 0, f"data.val_size must be >= 0 (0 = no validation split), got {d.val_size}"),
        (d.limit >= 0, f"data.limit must be >= 0 (0 = all), got {d.limit}"),
        (all(c >= 0 for c in d.classes) and len(set(d.classes)) == len(d.classes),
         f"data.classes must be distinct class numbers >= 0, got {list(d.classes)}"),
        (d.augment_shift >= 0 and 0 <= d.augment_rotate <= 180 and 0 <= d.augment_scale < 1,
         "data.augment_shift must be >= 0, data.augment_rotate in [0, 180] degrees, data.augment_scale in [0, 1)"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    return config
