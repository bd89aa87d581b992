"""What a sweep is: a grid of runs written in code, its baselines, and the grid reduced to a
budget or to some of its runs.

A `Sweep` names a claim, a base config and its `Run`s (config overrides plus the labels that
describe the run in the table), and `Baseline`s, rows computed instead of trained.
experiments.sweeps.engine trains the runs; experiments.sweeps.aggregate writes their results.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Mapping

import ml_collections

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
    # Runs of one group are one row of the results, their seeds joined (e.g. one run per
    # simulated population, the row's spread then being over populations).
    group: str | None = None
    # Config fields set to the folder of an earlier run of the sweep (e.g. {"gan.classifier":
    # "classifier_mnist"}: the network that scores a GAN's samples).
    uses: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # False: trained for the other runs (`uses`), not a row of the results.
    in_table: bool = True
    num_seeds: int | None = None  # this run's seeds (None: the sweep's)


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A row that the sweep's aggregation computes instead of training (bicubic up-sampling,
    zero flow, ridge regression): `figures(config)` -> {figure of the sweep: value} on the
    data of run `like` (the config saved in its folder). A baseline has no seeds: each of its
    per-seed figures repeats its one value, so a comparison with it tests the network's seeds
    against that value."""

    name: str
    like: str
    labels: Mapping[str, str]
    figures: Callable[[ml_collections.ConfigDict], Mapping[str, float]]
    group: str | None = None  # as Run.group


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
    # Rows computed by aggregation, not trained (experiments.sweeps.aggregate.baseline_row).
    baselines: tuple[Baseline, ...] = ()

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
    (re.search; None keeps every run), with the earlier runs they use (`Run.uses`). The runs
    keep their names, so a later invocation of the whole grid in the same workdir finds them
    finished."""
    if pattern is None:
        return sweep
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise ValueError(f"--runs {pattern!r} is not a regular expression: {e}") from None
    chosen = {run.name for run in sweep.runs if regex.search(run.name)}
    chosen |= {used for run in sweep.runs if run.name in chosen for used in run.uses.values()}
    runs = tuple(run for run in sweep.runs if run.name in chosen)
    if not runs:
        names = ", ".join(run.name for run in sweep.runs[:8])
        more = f" (and {len(sweep.runs) - 8} more)" if len(sweep.runs) > 8 else ""
        raise ValueError(
            f"--runs {pattern!r} matches none of the runs of sweep {sweep.name!r}: {names}{more}"
        )
    return dataclasses.replace(sweep, runs=runs)
