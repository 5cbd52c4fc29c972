"""digitlab: train, evaluate, compare, explain and serve handwritten-digit classifiers.

The public API (everything the CLI does is one of these plain functions):
    train(config) -> RunSummary         resume(run_dir) -> RunSummary
    evaluate(run_or_checkpoint) -> dict load_model(run_or_checkpoint) -> (model, checkpoint)
    load_dataset(name)                  get_model(name), list_models()
    load_recipe(name).config            Config, with_overrides
    list_runs() -> [RunRow]             RunSummary / RunRow / StepRecord / EvalRecord: the run folder's records

`import digitlab` loads neither torch nor the data stack: the names that need them are imported on first use
(PEP 562's module __getattr__), so `digitlab --help` and `digitlab --version` answer without loading torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib as _importlib  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

from digitlab.errors import DigitlabError  # noqa: E402

if TYPE_CHECKING:
    from digitlab.config import Config

# public name -> the module that defines it, imported when the name is first used
_LAZY = {"Config": "digitlab.config", "with_overrides": "digitlab.config", "load_dataset": "digitlab.data.sources",
         "get_model": "digitlab.models", "list_models": "digitlab.models", "list_runs": "digitlab.runs",
         **{name: "digitlab.records" for name in ("RunSummary", "RunRow", "StepRecord", "EvalRecord")}}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'digitlab' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def train(config: Config, **kwargs):
    """Train into a new run folder; see digitlab.training.engine.train."""
    from digitlab.training.engine import train as _train

    return _train(config, **kwargs)


def resume(run_dir, **kwargs):
    from digitlab.training.engine import resume as _resume

    return _resume(run_dir, **kwargs)


def evaluate(target, trust_code=False, **kwargs):
    """See digitlab.evaluation.evaluate; trust_code=True runs a checkpoint's recorded model code not on your trust list."""
    from digitlab.evaluation import evaluate as _evaluate
    from digitlab.models.trust import allowing

    with allowing(trust_code):
        return _evaluate(target, **kwargs)


def load_model(target, device="cpu", trust_code=False):
    from digitlab.inference import load_model as _load_model

    return _load_model(target, device, trust_code)


def check_config(config: Config) -> Config:
    """Every setting's range and every registry name checked, before any data loads; raises ConfigError."""
    from digitlab.training.setup import check_config as _check

    return _check(config)


def load_recipe(name: str):
    from digitlab.recipes import load_recipe as _load_recipe

    return _load_recipe(name)


__all__ = ["Config", "DigitlabError", "EvalRecord", "RunRow", "RunSummary", "StepRecord", "__version__", "check_config",
           "evaluate", "get_model", "list_models", "list_runs", "load_dataset", "load_model", "load_recipe", "resume",
           "train", "with_overrides"]
