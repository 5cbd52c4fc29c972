"""`digitlab sweep` (start or --resume a sweep), `digitlab sweep show DIR`, and the hidden `sweep worker`.

Parses options into one digitlab.sweep.SweepRequest, laid over the sweep file's settings and made into the sweep
folder by digitlab.sweep.new_sweep_from; then runs the trials here (--jobs 1) or in worker processes (--jobs N,
watched by polling the study); prints a bar over trials, the current best, one line per finished trial, and at
the end the sorted table, the best trial's test accuracy, and where best.toml and the plots are.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import typer
from rich.table import Table

from digitlab.cli.app import app
from digitlab.cli.console import DATA_DIR_HELP, err, fmt, handle_errors, labelled, out, print_json, warn, warn_fallback
from digitlab.errors import ConfigError, DigitlabError, TrainingInterrupted
from digitlab.records import EvalRecord
from digitlab.sweep.study import SweepEvents

sweep_app = typer.Typer(help="Hyper-parameter sweeps with Optuna: vary config keys, train each trial, report the best.")
app.add_typer(sweep_app, name="sweep")


def _value(value, metric: str) -> str:
    return fmt(value, ".2f" if metric.endswith("acc") else ".4f")


def _params_text(params: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


class SweepProgress(SweepEvents):
    """A bar over trials with the current best; one result line per finished trial, printed above it."""

    def __init__(self, console, metric: str, direction: str, target: int, done: int = 0) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console, self.metric, self.direction = console, metric, direction
        self.best: tuple[float, int] | None = None
        self.seen: set[int] = set()
        self.progress = Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[status]}"), console=console, transient=True)
        self.task = self.progress.add_task("trials", total=target, completed=done, status="")
        self.progress.start()

    def on_message(self, text: str) -> None:
        warn(text)

    def on_data_fallback(self, text: str) -> None:
        warn_fallback(text)

    def on_trial_start(self, number: int, params: dict, run_dir: Path) -> None:
        self.progress.update(self.task, status=self._best_text() + f"  trial {number}: {_params_text(params)}")

    def on_epoch(self, number: int, record: EvalRecord) -> None:
        self.progress.update(self.task, status=self._best_text() + f"  trial {number} epoch {record.epoch}: "
                             f"{self.metric} {_value(getattr(record, self.metric, None), self.metric)}")

    def on_trial_end(self, trial) -> None:
        from digitlab.sweep.report import row_for

        self.row(row_for(trial))

    def row(self, row) -> None:
        """Print one finished trial (once) and move the bar."""
        if row.number in self.seen or row.state in ("running", "interrupted"):
            return
        self.seen.add(row.number)
        better = (lambda a, b: a > b) if self.direction == "maximize" else (lambda a, b: a < b)
        if row.state == "complete" and row.value is not None and (self.best is None or better(row.value, self.best[0])):
            self.best = (row.value, row.number)
        if row.state in ("complete", "pruned"):
            self.progress.advance(self.task)
        style = {"complete": "green", "pruned": "yellow"}.get(row.state, "red")
        self.console.print(labelled(f"trial {row.number:>3d} {row.state:<8s}", style,
                                    f"{self.metric} {_value(row.value, self.metric)}  {_params_text(row.params)}  "
                                    f"({row.outcome}, {fmt(row.seconds, '.1f')} s)  {row.run}"))
        self.progress.update(self.task, status=self._best_text())

    def _best_text(self) -> str:
        if self.best is None:
            return ""
        return f"best {self.metric} {_value(self.best[0], self.metric)} (trial {self.best[1]})"

    def stop(self) -> None:
        self.progress.stop()


# ------------------------------------------------------------------------------------------- output
def print_result(result, as_json: bool, as_csv: bool, written: list[Path]) -> None:
    keys = [p.key for p in result.spec.params]
    if as_json:
        print_json({**result.to_dict(), "files": [str(p) for p in written]})
        return
    if as_csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["trial", "state", result.metric, *keys, "epochs", "seconds", "run", "outcome"])
        for r in result.rows:
            writer.writerow([r.number, r.state, r.value, *[r.params.get(k) for k in keys], r.epochs, r.seconds,
                             r.run, r.outcome])
        typer.echo(buf.getvalue(), nl=False)
        return
    table = Table(title=f"sweep {result.name}: {result.metric} on the validation split "
                        f"({'higher' if result.direction == 'maximize' else 'lower'} is better)")
    for col in ("#", "trial", "state", result.metric, *keys, "epochs", "s", "run"):
        table.add_column(col, justify="right" if col not in ("state", "run", *keys) else "left")
    for i, r in enumerate(result.rows, 1):
        table.add_row(str(i), str(r.number), r.state, _value(r.value, result.metric),
                      *[_params_text({k: r.params[k]}).split("=", 1)[1] if k in r.params else "-" for k in keys],
                      str(r.epochs), fmt(r.seconds, ".1f"), r.run)
    out.print(table)
    counts = result.counts
    out.print(f"{sum(counts.values())} trials (target {result.target}): {counts.get('complete', 0)} complete, "
              f"{counts.get('pruned', 0)} pruned, {counts.get('fail', 0)} failed (not counted)"
              + (f", {counts['running']} running" if counts.get("running") else "")
              + (f", {counts['interrupted']} interrupted (marked failed on --resume)" if counts.get("interrupted") else ""))
    if result.best is not None:
        test = (f"{result.best_test_acc:.2f}%" if result.best_test_acc is not None
                else "not in this folder (the trial ran on another machine sharing the study)")
        out.print(labelled("best:", "bold", f"trial {result.best.number} ({result.best.run}), {result.metric} "
                           f"{_value(result.best.value, result.metric)} on validation, {_params_text(result.best.params)}"))
        out.print(f"its test accuracy (reported once, never used to choose): {test}")
    for path in written:
        out.print(f"wrote {path}")


def _finish(folder: Path, as_json: bool, as_csv: bool) -> None:
    from digitlab.sweep.report import summarize, write_outputs

    result = summarize(folder)
    print_result(result, as_json, as_csv, write_outputs(result))


def _run(folder: Path, jobs: int, console) -> None:
    """Run the sweep's remaining trials here (jobs=1) or in worker processes, with progress."""
    from digitlab.sweep import run_worker
    from digitlab.sweep.choices import METRICS, target_trials
    from digitlab.sweep.report import summarize
    from digitlab.sweep.study import load_sweep

    spec, _ = load_sweep(folder)
    before = summarize(folder)
    done = before.counts.get("complete", 0) + before.counts.get("pruned", 0)
    progress = SweepProgress(console, spec.metric, METRICS[spec.metric].direction, target_trials(spec), done)
    progress.seen.update(r.number for r in before.rows if r.state != "running")
    try:
        if jobs == 1:
            run_worker(folder, progress)
            return
        from digitlab.sweep import workers
        from digitlab.sweep.study import dead_message, fail_dead

        dead = fail_dead(folder)  # here, so the message is seen (workers print nothing but errors)
        if dead:
            progress.on_message(dead_message(dead))
        procs = workers.spawn(folder, jobs)
        try:
            while workers.running(procs):
                time.sleep(1.0)
                for row in sorted(summarize(folder).rows, key=lambda r: r.number):
                    progress.row(row)
        except KeyboardInterrupt:
            workers.stop(procs)
            raise TrainingInterrupted(f"sweep interrupted (trials in progress are marked failed, not counted); "
                                      f"continue with: digitlab sweep --resume {folder}") from None
        for row in sorted(summarize(folder).rows, key=lambda r: r.number):
            progress.row(row)
        failed = [w for w in procs if w.process.returncode not in (0, None)]
        if failed:
            raise DigitlabError(f"sweep worker {failed[0].index} failed: {failed[0].last_error()}")
    finally:
        progress.stop()


# ------------------------------------------------------------------------------------------- commands
@sweep_app.callback(invoke_without_command=True)
@handle_errors
def sweep_cmd(
    ctx: typer.Context,
    recipe: str | None = typer.Option(None, "--recipe", "-r", help="Recipe the trials start from (default quickstart)."),
    params: list[str] | None = typer.Option(None, "--param", "-p",
                                            help="key=log:LOW:HIGH, lin:LOW:HIGH, int:LOW:HIGH[:STEP] or a,b,c"),
    sweep_file: str | None = typer.Option(None, "--file", "-f", help="A sweep TOML: a shipped name or a path."),
    trials: int | None = typer.Option(None, "--trials", "-n", min=1, help="Trials to finish (default 20; grid: all)."),
    sampler: str | None = typer.Option(None, "--sampler", help="tpe (default), random, grid"),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes sharing the study."),
    metric: str | None = typer.Option(None, "--metric", help="val_acc (default, maximize) or val_loss (minimize)"),
    pruner: str | None = typer.Option(None, "--pruner", help="median (default) or none"),
    seed: int | None = typer.Option(None, "--seed", help="Sampler seed (trial seeds are train.seed)."),
    name: str | None = typer.Option(None, "--name", help="Sweep folder name (under --root)."),
    root: Path | None = typer.Option(None, "--root", help="Where the sweep folder goes (default: the runs folder)."),
    overrides: list[str] | None = typer.Option(None, "--set", help="Fixed key=value for every trial."),
    config_file: Path | None = typer.Option(None, "--config", help="A TOML config applied over the recipe."),
    dataset: str | None = typer.Option(None, "--dataset", help="mnist, fashion-mnist, kmnist, mnist-sample, idx"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Epochs per trial."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda, mps"),
    storage: str | None = typer.Option(None, "--storage", help="Study database URL (default: SQLite in the folder); "
                                       "with --resume DIR: make DIR here from the study named DIR's name."),
    resume: Path | None = typer.Option(None, "--resume", help="Continue this sweep folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (progress goes to stderr)."),
    as_csv: bool = typer.Option(False, "--csv", help="Print the trial table as CSV."),
) -> None:
    """Run a sweep: vary config keys with --param (or a sweep --file), train each trial, report the best."""
    if ctx.invoked_subcommand is not None:
        return
    console = err if (as_json or as_csv) else out
    if resume is not None:
        given = [o for o, v in (("--recipe", recipe), ("--param", params), ("--file", sweep_file), ("--sampler", sampler),
                                ("--metric", metric), ("--pruner", pruner), ("--seed", seed), ("--name", name),
                                ("--root", root), ("--set", overrides), ("--config", config_file),
                                ("--dataset", dataset), ("--data-dir", data_dir), ("--epochs", epochs),
                                ("--device", device)) if v]
        if given:
            raise ConfigError(f"--resume continues a sweep as it was set up; drop {', '.join(given)} "
                              "(only --trials, --jobs, --storage, --json and --csv go with it)")
        from digitlab.sweep.study import adopt_sweep, raise_trials

        if storage:  # another machine's sweep, this machine has no folder of it yet: made from the study
            adopt_sweep(resume, storage)
            console.print(f"sweep folder: {resume} (from the study in the database)")
        if trials is not None:
            raise_trials(resume, trials)
        folder = resume
    else:
        from digitlab.sweep import SweepRequest, load_sweep_file, new_sweep_from

        named = {"data.dataset": dataset, "data.data_dir": str(data_dir) if data_dir else None, "train.epochs": epochs,
                 "train.device": device}  # typed values, applied between the config file and the --set texts
        request = SweepRequest(recipe=recipe, params=tuple(params or ()), trials=trials, sampler=sampler,
                               metric=metric, pruner=pruner, seed=seed, name=name, root=root, storage=storage,
                               overrides=tuple(overrides or ()), config_file=config_file,
                               values={k: v for k, v in named.items() if v is not None})
        folder = new_sweep_from(request.over(load_sweep_file(sweep_file) if sweep_file else None))
        console.print(f"sweep folder: {folder}")
    _run(folder, jobs, console)
    _finish(folder, as_json, as_csv)


@sweep_app.command("show")
@handle_errors
def show_cmd(
    folder: Path = typer.Argument(..., help="A sweep folder."),
    by: str | None = typer.Option(None, "--by", help="Mean and spread of the metric per value of this swept key."),
    as_json: bool = typer.Option(False, "--json"),
    as_csv: bool = typer.Option(False, "--csv"),
) -> None:
    """Print a sweep's table, best trial and files again (and refresh best.toml and the plots)."""
    if by is None:
        _finish(folder, as_json, as_csv)
        return
    from digitlab.sweep.report import groups, summarize

    result = summarize(folder)
    rows = groups(result, by)
    if as_json:
        print_json({"by": by, "metric": result.metric, "groups": [g.to_dict() for g in rows]})
        return
    table = Table(title=f"sweep {result.name}: {result.metric} (validation) per {by}, complete trials")
    for col in (by, "n", "mean", "sd", "min", "max", "test acc mean", "test sd"):
        table.add_column(col, justify="left" if col == by else "right")
    for g in rows:
        table.add_row(str(g.value), str(g.n), _value(g.mean, result.metric), _value(g.std, result.metric),
                      _value(g.low, result.metric), _value(g.high, result.metric), fmt(g.test_mean, ".2f"),
                      fmt(g.test_std, ".2f"))
    out.print(table)
    out.print("test accuracy: at each trial's best validation epoch, read after the sweep (never used to choose)")


@sweep_app.command("worker", hidden=True)
@handle_errors
def worker_cmd(
    folder: Path = typer.Argument(...),
    index: int = typer.Option(0, "--index"),
) -> None:
    """One worker process of `digitlab sweep --jobs N`: runs trials until the sweep has its number."""
    from digitlab.sweep import run_worker

    run_worker(folder, worker=index)
