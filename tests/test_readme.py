"""Every command in README.md's ```bash blocks is run, in README order, so the README cannot drift from the CLI.

How a README line becomes a test command (the mapping, in one place):
  * lines joined at a trailing backslash; `# comments` dropped; `a && b` is two commands;
  * an optional part in square brackets is taken in its first form: `[--json|--csv]` -> `--json`,
    `[--csv out.csv]` -> `--csv out.csv` (so the options the README shows are exercised too);
  * `python -m digitlab ...` is run as `digitlab ...`;
  * small step counts (SMALL): `train` gets `--max-steps 3` (a `--resume` gets `--max-steps 6`, three more),
    `compare --recipes` gets `--set train.max_steps=3`, a new `sweep` gets `--trials 2 --epochs 1` on 1,500
    training images with a 300-image validation split;
  * data: `../shared/data/mnist` is the shared MNIST copy (tests/helpers.py SHARED_MNIST). When it exists, the README's
    first line installs it into this test's own data home, as `make demo` does, and every later command must then
    find full MNIST on its own (no run may fall back to the sample). Without it, the lines that need the real files
    are skipped (NEEDS_SHARED) and `--data-dir ../shared/data/mnist` is dropped, so those commands run on the offline
    sample (digitlab's stand-in, with its warning);
  * placeholders the README does not create are made first (PLACEHOLDERS): runs/a and runs/b (3-step runs),
    photo.jpg, drawings/, a MindSpore model.ckpt, the repository's examples/ (your own network's file), and your own
    data: Kaggle's train.csv and test.csv, Keras's mnist.npz, folders of digit images my-digits/ and my-hand/ (small
    synthetic ones);
  * commands that cannot run in a test are listed in NOT_RUN with the reason; any other program fails the test, so a
    new README line must be runnable or listed here.
The ```python block (the library snippet) is run as well, with `train.max_steps=3` added to its overrides.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import torch
from typer.testing import CliRunner

from digitlab.cli import app
from digitlab.interop.mindspore import write_ckpt
from digitlab.models import get_model
from tests.data.test_ownfiles import write_csv, write_folder
from tests.helpers import SHARED_MNIST, synthetic_digits
from tests.test_preprocess import png_bytes, stroke_image

README = Path(__file__).resolve().parents[1] / "README.md"
SHARED_IN_README = "../shared/data/mnist"

# program (or "digitlab <command>") -> why it is not run here
NOT_RUN = {
    "make": "sets up .venv and runs the whole suite or a full training; the suite itself is `make test`",
    "torchrun": "starts several processes (and for two nodes, two machines); tests/test_distributed.py covers DDP",
    "digitlab torchrun": "two machines; tests/test_distributed_hosts.py runs it on two network namespaces",
    "tensorboard": "a long-running server from another package; the --tensorboard run before it is run",
    "digitlab serve": "a long-running web server; tests/serve/ covers it, in a real browser too",
}
# README lines that need the real MNIST files (skipped when ../shared/data/mnist is absent)
NEEDS_SHARED = ("digitlab data fetch mnist --from",)
OWN_DATA = ("folder", "csv", "npz")  # the README's "Your own data" datasets, read from the placeholders
SWEEP_DATA = ["--set", "data.limit=1500", "--set", "data.val_size=300"]

runner = CliRunner()


def bash_commands(text: str) -> list[list[str]]:
    """Every command of the ```bash blocks, as argument lists, in order."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            tokens = expand_optional(shlex.split(line, comments=True))
            while tokens:
                cut = tokens.index("&&") if "&&" in tokens else len(tokens)
                commands.append(tokens[:cut])
                tokens = tokens[cut + 1 :]
    return [c for c in commands if c]


def expand_optional(tokens: list[str]) -> list[str]:
    """`[--json|--csv]` -> `--json`; `[--csv out.csv]` -> `--csv out.csv` (an optional part in its first form)."""
    out, group = [], None
    for token in tokens:
        if group is None and token.startswith("["):
            group, token = [], token[1:]
        if group is None:
            out.append(token)
            continue
        closed = token.endswith("]")
        group.append(token[:-1] if closed else token)
        if closed:
            out += " ".join(group).split("|")[0].split()
            group = None
    return out


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def not_run_reason(cmd: list[str]) -> str | None:
    return NOT_RUN.get(cmd[0]) or NOT_RUN.get(" ".join(cmd[:2]))


def as_digitlab(cmd: list[str]) -> list[str] | None:
    """The digitlab arguments of a README command, or None when it is not a digitlab command."""
    if cmd[0] == "digitlab":
        return cmd[1:]
    if cmd[:3] == ["python", "-m", "digitlab"]:
        return cmd[3:]
    return None


def small(args: list[str], shared: bool) -> list[str]:
    """The README command with SMALL step counts and the data substitutions of the module docstring."""
    args = list(args)
    if SHARED_IN_README in args:
        at = args.index(SHARED_IN_README)
        if shared:
            args[at] = str(SHARED_MNIST)
        elif args[at - 1] == "--data-dir":
            del args[at - 1 : at + 1]
    if args[0] == "train":
        args += ["--max-steps", "6" if "--resume" in args else "3"]
    elif args[0] == "compare" and "--recipes" in args:
        args += ["--set", "train.max_steps=3"]
    elif args[0] == "sweep" and len(args) > 1 and args[1] not in ("show", "--resume"):
        for option, value in (("--trials", "2"), ("--epochs", "1")):
            if option in args:
                args[args.index(option) + 1] = value
            else:
                args += [option, value]
        args += SWEEP_DATA
    return args


def make_placeholders(shared: bool) -> None:
    """What README lines name but no README line creates: two runs, a photo, a folder of drawings, a MindSpore file,
    and your own data in the three layouts."""
    for name in ("a", "b"):
        data = ["--data-dir", str(SHARED_MNIST)] if shared else ["--dataset", "mnist-sample"]
        result = runner.invoke(app, ["train", "--max-steps", "3", "--run-dir", f"runs/{name}", *data])
        assert result.exit_code == 0, result.output
    Path("photo.jpg").write_bytes(png_bytes(stroke_image(), "JPEG"))
    Path("drawings").mkdir()
    Path("drawings/one.png").write_bytes(png_bytes(stroke_image()))
    Path("drawings/bar.png").write_bytes(png_bytes(stroke_image(box=(20, 90, 180, 110))))
    write_ckpt("model.ckpt", {k: v.numpy() for k, v in get_model("lenet5").state_dict().items()})
    shutil.copytree(README.parent / "examples", "examples")  # the README's own network file
    write_csv(Path("train.csv"), n=200)
    write_csv(Path("test.csv"), n=20, labelled=False)
    x, y = synthetic_digits(120, 5)
    np.savez("mnist.npz", x_train=x[:80], y_train=y[:80], x_test=x[80:], y_test=y[80:])
    write_folder(Path("my-digits"), n=80)
    write_folder(Path("my-hand"), n=40, seed=2)


def test_parser_reads_the_readme_forms():
    text = ("```bash\ndigitlab compare runs/a runs/b [--json|--csv]   # note [x]\n"
            "digitlab sweep --recipe q --param a=1 \\\n    --trials 12   # [--jobs 2]\n"
            "digitlab train --tensorboard && tensorboard --logdir runs\n```\n")
    assert bash_commands(text) == [["digitlab", "compare", "runs/a", "runs/b", "--json"],
                                   ["digitlab", "sweep", "--recipe", "q", "--param", "a=1", "--trials", "12"],
                                   ["digitlab", "train", "--tensorboard"], ["tensorboard", "--logdir", "runs"]]
    assert expand_optional(["predict", "x", "[--csv", "out.csv]", "[--split", "test|train]"]) == [
        "predict", "x", "--csv", "out.csv", "--split", "test"]
    assert small(["sweep", "--trials", "12", "--data-dir", SHARED_IN_README], shared=False) == [
        "sweep", "--trials", "2", "--epochs", "1", *SWEEP_DATA]


def test_every_readme_command_runs(tmp_path, monkeypatch):
    shared = SHARED_MNIST.exists()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGITLAB_RUNS")  # the README's runs/NAME paths are ./runs, digitlab's default
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    text = README.read_text(encoding="utf-8")
    commands = bash_commands(text)
    assert len(commands) > 20, "the README's bash blocks were not found"
    make_placeholders(shared)
    ran, skipped = [], []
    for cmd in commands:
        line = " ".join(cmd)
        if not_run_reason(cmd):
            skipped.append(line)
            continue
        args = as_digitlab(cmd)
        assert args is not None, f"README runs `{line}`: make it a digitlab command or list it in NOT_RUN with why"
        if not shared and line.startswith(NEEDS_SHARED):
            skipped.append(line)
            continue
        result = runner.invoke(app, small(args, shared))
        assert result.exit_code == 0, f"README line `{line}` failed:\n{result.output}"
        assert "Traceback" not in result.output, line
        ran.append(line)
    for code in python_blocks(text):
        assert '["train.epochs=2"]' in code, "the library snippet changed: update its small-steps substitution"
        exec(compile(code.replace('["train.epochs=2"]', '["train.epochs=2", "train.max_steps=3"]'), "README", "exec"),
             {})
    assert {line.split()[1] for line in ran} >= {"data", "train", "eval", "predict", "plot", "compare", "runs",
                                                  "export", "import-mindspore", "recipes", "models"}
    assert all(not_run_reason(line.split()) for line in skipped if not line.startswith(NEEDS_SHARED))
    if shared:  # after the README's first line (`make demo`'s install), nothing may fall back to the sample
        rows = [r for r in json.loads(runner.invoke(app, ["runs", "--json"]).stdout) if r["status"] != "imported"]
        # (the README's own-data runs read the placeholder files on purpose: they must not fall back either)
        assert rows and not [r["run"] for r in rows if r["fallback"] or r["data"] not in ("mnist", *OWN_DATA)]
