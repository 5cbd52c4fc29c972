"""What a sweep varies and how: `--param` texts and sweep files (TOML) parsed into frozen, validated values.

    key=log:1e-3:1e-1     a float (or int) range on a log scale
    key=lin:0:0.5         a linear range; `float:A:B` / `int:A:B` say the same and check the key's type;
                          an optional fourth field is the step (`int:32:256:32`, `float:0:0.5:0.1`)
    key=a,b,c             a list of choices (TOML literals; bare words are strings)
    key=[512]|[512,512]   choices separated by `|` (easier to read for list-valued keys such as model.hidden)

Every key is one that `--set` accepts (`digitlab.config.valid_keys()`, and your own network's constructor arguments,
`model.args.NAME`), and every value a sweep can take is
checked by `digitlab.check_config` on the sweep's base config before anything trains: unknown keys, empty or
reversed ranges, a log range through zero, an unknown model name are each a one-line ConfigError.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.errors import ConfigError

RANGE_KINDS = ("log", "lin", "int", "float")
# Keys a sweep must not vary: they would change what is measured or where it runs, not the model.
FIXED_KEYS = {"data.val_size": "the validation split must be the same for every trial",
              "data.dataset": "trials must be measured on the same data", "data.data_dir": "not a hyper-parameter",
              "train.device": "placement, not a hyper-parameter"}


@dataclass(frozen=True)
class Param:
    """One swept config key: a range (kind "float" or "int", linear or log, optional step) or a list of choices."""

    key: str  # "section.key", e.g. "optim.lr"
    kind: str  # "float" | "int" | "choice"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple = ()  # bool/int/float/str values (tuple-valued keys keep their TOML text)

    def describe(self) -> str:
        if self.kind == "choice":
            return ",".join(c if isinstance(c, str) else literal(c) for c in self.choices)
        text = f"{'log' if self.log else self.kind}:{self.low}:{self.high}"
        return text + (f":{self.step}" if self.step is not None else "")

    def override(self, value: Any) -> str:
        """What `--set` would say for `value` (for messages: the sweep itself applies values typed, see apply)."""
        return f"{self.key}={literal(value)}"

    def typed(self, value: Any) -> Any:
        """A value the sweep chose, as the config takes it (list-valued choices travel through Optuna as their TOML
        text, `[512, 512]`: read back here, once)."""
        if self.kind == "choice" and isinstance(value, str) and value[:1] == "[":
            return cfgmod.tomllib.loads(f"v = {value}")["v"]
        return value

    def apply(self, config: Config, value: Any) -> Config:
        """`config` with this key set to `value` (typed: config.with_values, no --set text round trip)."""
        return cfgmod.with_values(config, {self.key: self.typed(value)}, origin=f"--param {self.key}")

    def grid(self) -> list:
        """Every value, for the grid sampler: choices, or a range with integer steps or an explicit step."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int" and not self.log:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is not None and not self.log:
            n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            return [round(self.low + i * self.step, 12) for i in range(n)]
        raise ConfigError(f"--param {self.key}={self.describe()}: the grid sampler needs a list of choices or a "
                          f"linear range with a step (e.g. {self.key}=float:{self.low}:{self.high}:STEP)")

    def to_dict(self) -> dict:
        return {"key": self.key, "kind": self.kind, "low": self.low, "high": self.high, "log": self.log,
                "step": self.step, "choices": list(self.choices)}

    @staticmethod
    def from_dict(raw: dict) -> Param:
        return Param(raw["key"], raw["kind"], raw.get("low"), raw.get("high"), bool(raw.get("log")), raw.get("step"),
                     tuple(raw.get("choices") or ()))


def literal(value: Any) -> str:
    """A TOML literal for a scalar (JSON spells bools, numbers and basic strings the same way)."""
    return value if isinstance(value, str) and value[:1] == "[" else json.dumps(value)


def resolve_key(key: str) -> tuple[str, type | None]:
    """'lr' or 'optim.lr' -> ('optim.lr', float); unknown or ambiguous keys are a ConfigError listing valid keys.
    'model.args.NAME' (an argument of your own network) has no declared type: None."""
    key = key.strip()
    if key.startswith("model.args."):
        if not key[len("model.args."):].isidentifier():
            raise ConfigError(f"--param {key}: model.args.NAME takes the name of one constructor argument")
        return key, None
    if "." not in key:
        section, name, _ = cfgmod.parse_override(f"{key}=0")  # finds the one section owning a bare key
        key = f"{section}.{name}"
    if key not in cfgmod.valid_keys():
        raise ConfigError(f"--param: unknown key '{key}'; valid keys: {', '.join(cfgmod.valid_keys())}")
    if key in FIXED_KEYS:
        raise ConfigError(f"--param {key}: cannot be swept ({FIXED_KEYS[key]}); set it with --set instead")
    section, name = key.split(".", 1)
    return key, type(getattr(getattr(Config(), section), name))


def _number(text: str, key: str, kind: type) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--param {key}: '{text}' is not a number") from None
    if kind is int:
        if value != int(value):
            raise ConfigError(f"--param {key}: {key} is an int, '{text}' is not")
        return int(value)
    return value


def _split_choices(text: str) -> list[str]:
    """Split on `|` when there is one outside brackets, else on commas outside brackets, so list-valued keys can take
    `[1,2]|[3,4]` or `[1,2],[3,4]`."""
    parts, depth, current = [], 0, ""
    sep = "|" if _outside("|", text) else ","
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p.strip() for p in [*parts, current]]


def _outside(sep: str, text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == sep and depth == 0:
            return True
    return False


def _choice_value(key: str, text: str) -> Any:
    _, _, value = cfgmod.parse_override(f"{key}={text}")
    return text if isinstance(value, list) else value  # tuple-valued keys keep their TOML text for Optuna


def parse_param(text: str) -> Param:
    """One `--param key=SPEC` into a Param (range checks here; values against the config in check_params)."""
    if "=" not in text:
        raise ConfigError(f"--param '{text}': write key=SPEC, e.g. optim.lr=log:1e-3:1e-1 or model.name=mlp,mlp-deep")
    raw_key, _, spec = text.partition("=")
    key, kind = resolve_key(raw_key)
    spec = spec.strip()
    head = spec.split(":", 1)[0]
    if kind is None:  # model.args.NAME: the range says the type
        kind = int if head == "int" else float
    if head in RANGE_KINDS and ":" in spec:
        parts = spec.split(":")[1:]
        if len(parts) not in (2, 3):
            raise ConfigError(f"--param {key}={spec}: a range is {head}:LOW:HIGH or {head}:LOW:HIGH:STEP")
        if kind not in (int, float):
            raise ConfigError(f"--param {key}: a {kind.__name__} takes a list of choices (a,b,c), not a range")
        if head in ("int", "float") and head != kind.__name__:
            raise ConfigError(f"--param {key}: {key} is a {kind.__name__}; write {kind.__name__}:LOW:HIGH or log:LOW:HIGH")
        low, high = (_number(p, key, kind) for p in parts[:2])
        step = _number(parts[2], key, kind) if len(parts) == 3 else None
        if not low < high:
            raise ConfigError(f"--param {key}={spec}: the range is empty; LOW must be below HIGH")
        if head == "log" and low <= 0:
            raise ConfigError(f"--param {key}={spec}: a log range must be above zero; use lin:{low}:{high}")
        if step is not None and (head == "log" or step <= 0 or step > high - low):
            raise ConfigError(f"--param {key}={spec}: a step must be positive, at most HIGH-LOW, on a linear range")
        return Param(key, kind.__name__, low, high, head == "log", step)
    choices = [c for c in _split_choices(spec) if c]
    if len(choices) < 2:
        raise ConfigError(f"--param {key}={spec}: give at least two choices (a,b) or a range (lin:A:B, log:A:B); "
                          "use --set for a fixed value")
    values = tuple(_choice_value(key, c) for c in choices)
    if len(set(map(literal, values))) != len(values):
        raise ConfigError(f"--param {key}={spec}: a choice is listed twice")
    return Param(key, "choice", choices=values)


def parse_params(texts: list[str]) -> tuple[Param, ...]:
    params = tuple(parse_param(t) for t in texts)
    keys = [p.key for p in params]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ConfigError(f"--param {dupes[0]}: given twice; give each key once")
    return params


def check_params(base: Config, params: tuple[Param, ...]) -> None:
    """Put every choice and both ends of every range into the base config and check it (ranges, registry names)."""
    from digitlab import check_config

    if not params:
        raise ConfigError("a sweep needs at least one --param key=SPEC (or a sweep file with a [params] table)")
    for p in params:
        values = p.choices if p.kind == "choice" else (p.low, p.high)
        for value in values:
            try:
                check_config(p.apply(base, value))
            except ConfigError as exc:
                raise ConfigError(f"--param {p.key}={p.describe()}: {literal(value)} is refused ({exc}; as "
                                  f"--set {p.override(value)})") from None


# ------------------------------------------------------------------------------------------- sweep files
@dataclass(frozen=True)
class SweepFile:
    """A sweep file: the [sweep] table's settings, its [params] and its fixed [set] values, as CLI texts."""

    path: str
    settings: dict  # recipe, trials, sampler, metric, pruner, seed, name, description, source
    params: tuple[str, ...]  # "key=SPEC" texts, exactly as --param takes them
    overrides: tuple[str, ...]  # "key=value" texts, exactly as --set takes them


SETTINGS = ("recipe", "trials", "sampler", "metric", "pruner", "seed", "name", "description", "source")


def _bundled() -> dict[str, Any]:
    from importlib import resources

    folder = resources.files("digitlab") / "sweeps"
    return {p.name[:-5]: p for p in folder.iterdir() if p.name.endswith(".toml")} if folder.is_dir() else {}


def bundled_sweeps() -> list[str]:
    return sorted(_bundled())


def load_sweep_file(name_or_path: str) -> SweepFile:
    """A shipped sweep by name (see `digitlab sweep --file` names) or a TOML file by path."""
    bundled = _bundled()
    if name_or_path in bundled:
        origin, raw = f"sweep {name_or_path}", cfgmod.tomllib.loads(bundled[name_or_path].read_text(encoding="utf-8"))
    elif Path(name_or_path).exists():
        origin, raw = name_or_path, cfgmod.load_toml(name_or_path)  # a path: its own one-line error if it is no file
    else:
        raise ConfigError(f"--file {name_or_path}: no such file and no shipped sweep of that name; "
                          f"shipped: {', '.join(bundled_sweeps()) or 'none'}")
    unknown = sorted(set(raw) - {"sweep", "params", "set"})
    if unknown:
        raise ConfigError(f"{origin}: unknown table [{unknown[0]}]; a sweep file has [sweep], [params] and [set]")
    not_tables = [k for k in ("sweep", "params", "set") if not isinstance(raw.get(k, {}), dict)]
    if not_tables:
        raise ConfigError(f"{origin}: '{not_tables[0]}' must be a table ([{not_tables[0]}] with keys under it)")
    settings = dict(raw.get("sweep", {}))
    bad = sorted(set(settings) - set(SETTINGS))
    if bad:
        raise ConfigError(f"{origin}: unknown [sweep] key '{bad[0]}'; valid: {', '.join(SETTINGS)}")
    for key, value in settings.items():  # a wrong type here would surface later as a traceback, or a default
        kind = int if key in ("trials", "seed") else str
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{origin}: [sweep] {key} = {value!r}: must be "
                              f"{'a whole number' if kind is int else 'a string'}")
    if settings.get("trials", 1) < 1:
        raise ConfigError(f"{origin}: [sweep] trials = {settings['trials']}: a sweep needs at least one trial")
    params = []
    for key, spec in _flatten(raw.get("params", {}), origin=origin).items():
        if isinstance(spec, list):
            spec = ",".join(literal(v) if not isinstance(v, str) else v for v in spec)
        params.append(f"{key}={spec}")
    overrides = tuple(f"{k}={literal(v) if not isinstance(v, list) else json.dumps(v)}"
                      for k, v in _flatten(raw.get("set", {}), origin=origin).items())
    return SweepFile(str(name_or_path), settings, tuple(params), overrides)


def _flatten(table: dict, prefix: str = "", origin: str = "sweep file") -> dict[str, Any]:
    """`optim.lr = ...` (a nested table in TOML) and `"optim.lr" = ...` both become {"optim.lr": ...}."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        inner = _flatten(value, f"{prefix}{key}.", origin) if isinstance(value, dict) else {f"{prefix}{key}": value}
        twice = sorted(set(inner) & set(flat))
        if twice:  # `"optim.lr" = ...` beside `optim.lr = ...`: TOML allows both, and one would silently win
            raise ConfigError(f"{origin}: key '{twice[0]}' given twice; give each key once")
        flat.update(inner)
    return flat


# ------------------------------------------------------------------------------------------- the sweep itself
@dataclass(frozen=True)
class SweepSpec:
    """Everything a sweep's workers need, saved as sweep.json in its folder (the base config beside it)."""

    name: str
    recipe: str
    params: tuple[Param, ...]
    trials: int  # trials to finish (complete or pruned); failed ones are not counted
    sampler: str = "tpe"
    metric: str = "val_acc"
    pruner: str = "median"
    seed: int = 0
    storage: str = ""  # "" = sqlite:///<sweep folder>/study.db
    study_name: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "recipe": self.recipe, "params": [p.to_dict() for p in self.params],
                "trials": self.trials, "sampler": self.sampler, "metric": self.metric, "pruner": self.pruner,
                "seed": self.seed, "storage": self.storage, "study_name": self.study_name}

    @staticmethod
    def from_dict(raw: dict) -> SweepSpec:
        return SweepSpec(raw["name"], raw.get("recipe", ""), tuple(Param.from_dict(p) for p in raw["params"]),
                         int(raw["trials"]), raw.get("sampler", "tpe"), raw.get("metric", "val_acc"),
                         raw.get("pruner", "median"), int(raw.get("seed", 0)), raw.get("storage", ""),
                         raw.get("study_name", ""))


def apply_all(config: Config, params: tuple[Param, ...], values: dict[str, Any]) -> Config:
    """`config` with every swept key set to its value in `values` (by key)."""
    for p in params:
        config = p.apply(config, values[p.key])
    return config
