"""What a new sweep is asked for (`SweepRequest`), and how it is laid over a sweep file's settings.

    SweepRequest(recipe=..., params=(...), ...)   the command line's options, or a Python caller's arguments;
                                                  a field left None was not given
    request.over(sweep_file) -> SweepRequest      the file's settings under the given ones, then the defaults:
                                                  every field resolved, ready for digitlab.sweep.new_sweep_from

Precedence, field by field: what the request gives, else the sweep file's [sweep] setting, else the default
(recipe quickstart, sampler tpe, metric val_acc, pruner median, seed 0, trials 20 or, for grid, all of the grid).
A `--param` replaces the file's [params] entry of the same key; the file's other entries come first, in its order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from digitlab.sweep.params import SweepFile

DEFAULTS = {"recipe": "quickstart", "sampler": "tpe", "metric": "val_acc", "pruner": "median", "seed": 0}
DEFAULT_TRIALS = 20
GRID_TRIALS = 10**6  # "all of the grid": the study stops at the grid's size


def param_key(text: str) -> str:
    """The key of a "key=SPEC" text, as written (`lr` and `optim.lr` are different texts here)."""
    return text.partition("=")[0].strip()


@dataclass(frozen=True)
class SweepRequest:
    """Everything `new_sweep_from` needs to make a sweep folder; None (or empty) = not given."""

    recipe: str | None = None
    params: tuple[str, ...] = ()  # "key=SPEC" texts, as --param takes them
    trials: int | None = None
    sampler: str | None = None
    metric: str | None = None
    pruner: str | None = None
    seed: int | None = None
    name: str | None = None  # None after .over(): a name is made from the recipe and the time
    root: str | os.PathLike | None = None  # None: the runs folder
    storage: str | None = None  # "" after .over(): SQLite in the sweep folder
    overrides: tuple[str, ...] = ()  # --set texts, applied last
    config_file: str | os.PathLike | None = None
    values: dict[str, Any] = field(default_factory=dict)  # typed option values by "section.key", given ones only
    file_overrides: tuple[str, ...] = ()  # a sweep file's [set] texts, applied before `values`

    def over(self, sweep_file: SweepFile | None) -> SweepRequest:
        """This request laid over `sweep_file` (None: no file), with the defaults filling what neither gives."""
        settings = dict(sweep_file.settings) if sweep_file else {}
        file_params = tuple(sweep_file.params) if sweep_file else ()
        given = {param_key(p) for p in self.params}
        sampler = self.sampler or settings.get("sampler", DEFAULTS["sampler"])
        trials = self.trials if self.trials is not None else settings.get("trials")  # 0 is refused later, not 20
        trials = trials if trials is not None else (GRID_TRIALS if sampler == "grid" else DEFAULT_TRIALS)
        return replace(
            self,
            recipe=self.recipe or settings.get("recipe", DEFAULTS["recipe"]),
            params=tuple(p for p in file_params if param_key(p) not in given) + tuple(self.params),
            trials=int(trials),
            sampler=sampler,
            metric=self.metric or settings.get("metric", DEFAULTS["metric"]),
            pruner=self.pruner or settings.get("pruner", DEFAULTS["pruner"]),
            seed=self.seed if self.seed is not None else int(settings.get("seed", DEFAULTS["seed"])),
            name=self.name or settings.get("name"),
            storage=self.storage or "",
            file_overrides=(tuple(sweep_file.overrides) if sweep_file else ()) + tuple(self.file_overrides),
        )
