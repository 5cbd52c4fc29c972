"""Before a run trains: check the config against the registries, then build everything the loop needs.

    check_config(config)  every name checked by the registry that owns it (model, loss, optimizer, schedule,
                          dataset, device) and every value's range, before any data loads
"""

from __future__ import annotations

from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.errors import ConfigError


def check_config(config: Config) -> Config:
    """Ranges (config.validate), then names, each by its own registry; raises a one-line ConfigError."""
    from digitlab.data.catalog import DATASETS
    from digitlab.device import DEVICE_CHOICES
    from digitlab.models import list_models
    from digitlab.training.losses import LOSSES
    from digitlab.training.optim import OPTIMIZERS, SCHEDULES

    cfgmod.validate(config)
    for key, name, registry in (("data.dataset", config.data.dataset, DATASETS),
                                ("model.name", config.model.name, list_models()),
                                ("loss.name", config.loss.name, LOSSES), ("optim.name", config.optim.name, OPTIMIZERS),
                                ("schedule.name", config.schedule.name, SCHEDULES)):
        if name not in registry:
            raise ConfigError(f"{key} '{name}': choose one of {', '.join(registry)}")
    if config.train.device.split(":")[0] not in DEVICE_CHOICES:
        raise ConfigError(f"train.device '{config.train.device}': choose one of {', '.join(DEVICE_CHOICES)}")
    return config
