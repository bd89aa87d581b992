"""Sweeps: a grid of runs written in code and run one after another.

A `Sweep` names a claim, a base config and its `Run`s (config overrides plus the labels that
describe the run in the table). `run_sweep` trains every run in <workdir>/<run name>/ with
`config.num_seeds` seeds in one multi-seed run (cnnjax.train.run), skipping runs whose
summary.json already belongs to the same config, so an interrupted sweep resumes where it
stopped (a half-finished run resumes from its checkpoint). experiments.sweeps.aggregate then
writes results.json (every figure of every seed, the verdicts, where each run trained) and the
plots, and experiments.sweeps.page renders results.md from results.json alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any, Callable, Mapping

import ml_collections

from cnnjax import report
from cnnjax.train import errors, loop, probe
from cnnjax.train import workdir as workdir_lib
from experiments.sweeps import verdicts


@dataclasses.dataclass(frozen=True)
class Run:
    """One point of the grid: `overrides` maps dotted config paths to values, applied to
    `base` (a get_config function; default: the sweep's)."""

    name: str
    overrides: Mapping[str, Any]
    labels: Mapping[str, str]
    base: Callable[[], ml_collections.ConfigDict] | None = None
    target_accuracy: float | None = None  # this run's 'epochs_to_target' (default: sweep's)
    init_from: str | None = None  # an earlier run of the sweep: its workdir is transfer.init_from
    probe: bool = False  # a linear-SVM probe of init_from's network (cnnjax.train.probe)


@dataclasses.dataclass(frozen=True)
class Sweep:
    name: str
    claim: str
    base: Callable[[], ml_collections.ConfigDict]
    runs: tuple[Run, ...]
    num_seeds: int = 3
    figures: tuple[str, ...] = ("test_accuracy", "best_val_accuracy", "final_train_loss")
    curves: tuple[str, ...] = ("val_accuracy", "train_loss")
    target_accuracy: float | None = None  # adds 'epochs_to_target' (validation accuracy)
    best_by: tuple[str, str] | None = None  # (label, figure): the best run per label value
    # A numeric label searched over for best_by (e.g. "lr"): the best-run table says whether
    # each best value is an interior point of its grid or the lowest or highest one tried.
    grid: str | None = None
    # plots(sweep, workdir, results_dir, summaries) -> file names of the sweep's own plots
    plots: Callable[..., list[str]] | None = None
    # Why this sweep compares runs trained on different device kinds or library versions on
    # purpose (said loudly in its results.md); '' refuses to aggregate such a mix.
    mixed_setups: str = ""
    # The claim as tests (experiments.sweeps.verdicts): verdicts computed, never typed.
    comparisons: tuple[verdicts.Comparison, ...] = ()
    # What the results mean, in Markdown, shown in results.md under "What it shows": prose
    # without typed figures; every figure is a placeholder filled from results.json
    # (experiments.sweeps.page.fill, e.g. {{pct test_accuracy best:adam}}).
    notes: str = ""

    @property
    def has_target(self) -> bool:
        return self.target_accuracy is not None or any(r.target_accuracy for r in self.runs)


def with_budget(
    sweep: Sweep,
    epochs: int | None = None,
    train_size: int | None = None,
    num_seeds: int | None = None,
) -> tuple[Sweep, dict[str, Any]]:
    """A reduced (or enlarged) budget for every run of `sweep`: (the sweep with `num_seeds`,
    the `extra` overrides of `run_sweep` setting `epochs` and `dataset.train_size`); None keeps
    the sweep's own. A sweep whose runs differ in one of these by design (epochs against
    iterations, capacity against training-set size) refuses an override of it."""
    extra = {"epochs": epochs, "dataset.train_size": train_size}
    extra = {k: v for k, v in extra.items() if v is not None}
    for field in extra:
        own = {run.overrides.get(field) for run in sweep.runs}
        if len(own) > 1:
            raise ValueError(
                f"sweep {sweep.name!r} sets {field} differently in its runs "
                f"({sorted(own, key=str)}) by design: a budget override would erase that"
            )
    if num_seeds is not None:
        sweep = dataclasses.replace(sweep, num_seeds=num_seeds)
    return sweep, extra


def select_runs(sweep: Sweep, pattern: str | None) -> Sweep:
    """The sweep restricted to the runs whose name matches the regular expression `pattern`
    (re.search; None keeps every run). The runs keep their names, so a later invocation of the
    whole grid in the same workdir finds them finished."""
    if pattern is None:
        return sweep
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise ValueError(f"--runs {pattern!r} is not a regular expression: {e}") from None
    runs = tuple(run for run in sweep.runs if regex.search(run.name))
    if not runs:
        names = ", ".join(run.name for run in sweep.runs[:8])
        more = f" (and {len(sweep.runs) - 8} more)" if len(sweep.runs) > 8 else ""
        raise ValueError(
            f"--runs {pattern!r} matches none of the runs of sweep {sweep.name!r}: {names}{more}"
        )
    return dataclasses.replace(sweep, runs=runs)


DIVERGED = "diverged.json"  # written instead of summary.json when the training loss diverged


def set_field(config: ml_collections.ConfigDict, path: str, value: Any) -> None:
    """config.<path> = value for a dotted path; raises KeyError naming an unknown field."""
    *parents, leaf = path.split(".")
    node = config
    for part in parents:
        if part not in node:
            raise KeyError(f"sweep override {path!r}: config has no field {part!r}")
        node = node[part]
    if leaf not in node:
        raise KeyError(f"sweep override {path!r}: config has no field {leaf!r}")
    node[leaf] = value


def run_config(
    sweep: Sweep,
    run: Run,
    data_dir: str | None,
    extra: Mapping[str, Any] | None = None,
    workdir: str = "",
) -> ml_collections.ConfigDict:
    """The base config with the run's overrides, then `extra` (the same for every run);
    a run that starts from an earlier one gets that run's folder under `workdir`."""
    config = (run.base or sweep.base)()
    for path, value in {**run.overrides, **(extra or {})}.items():
        set_field(config, path, value)
    if run.init_from:
        config.transfer.init_from = os.path.abspath(os.path.join(workdir, run.init_from))
    config.num_seeds = sweep.num_seeds
    if data_dir:
        config.dataset.data_dir = data_dir
    return config


def _finished(workdir: str) -> dict | None:
    """The summary of the finished run in `workdir` (a diverged run's summary is
    {"diverged": <error>}), else None; whether it is of the right config is `_holds_config`'s."""
    for name in ("summary.json", DIVERGED):
        if os.path.exists(os.path.join(workdir, name)):
            return report.read_json(os.path.join(workdir, name))
    return None


def _holds_config(config: ml_collections.ConfigDict, workdir: str) -> bool:
    """Whether `workdir` holds a run (finished or not) of this very config: an unfinished one
    resumes from its checkpoint, a folder of any other config is overwritten."""
    saved = os.path.join(workdir, "config.json")
    return os.path.exists(saved) and not workdir_lib.config_differences(
        report.read_json(saved), json.loads(config.to_json())
    )


def run_sweep(
    sweep: Sweep,
    workdir: str,
    data_dir: str | None = None,
    extra: Mapping[str, Any] | None = None,
    log: Callable = print,
) -> dict[str, dict]:
    """Trains every run not finished yet; returns {run name: summary.json contents}.

    `extra` overrides config fields of every run (e.g. a smaller data set)."""
    summaries = {}
    for i, run in enumerate(sweep.runs):
        config = run_config(sweep, run, data_dir, extra, workdir)
        folder = os.path.join(workdir, run.name)
        ours = _holds_config(config, folder)
        summary = _finished(folder) if ours else None
        if summary is None:
            log(f"[{i + 1}/{len(sweep.runs)}] {sweep.name}: training {run.name}")
            try:
                train = probe.run_probe if run.probe else loop.run
                summary = train(config, folder, progress=False, overwrite=not ours)
            except errors.NonFiniteLossError as e:  # a result, not a failure of the sweep
                log(f"{sweep.name}: {run.name} diverged: {e}")
                summary = {"diverged": str(e)}
                report.write_json(os.path.join(folder, DIVERGED), summary)
        else:
            log(f"[{i + 1}/{len(sweep.runs)}] {sweep.name}: {run.name} already finished")
        summaries[run.name] = summary
    return summaries


