"""Running a sweep (experiments.sweeps.grid): its runs one after another.

`run_sweep` trains every run in <workdir>/<run name>/ with
`config.num_seeds` seeds in one multi-seed run (cnnjax.train.run), skipping runs whose
summary.json already belongs to the same config, so an interrupted sweep resumes where it
stopped (a half-finished run resumes from its checkpoint). experiments.sweeps.aggregate then
writes results.json (every figure of every seed, the verdicts, where each run trained) and the
plots, and experiments.sweeps.page renders results.md from results.json alone.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping

import ml_collections

from cnnjax import report
from cnnjax.train import errors, loop, probe
from cnnjax.train import workdir as workdir_lib
from experiments.sweeps.grid import Run, Sweep

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
    for path, earlier in run.uses.items():
        set_field(config, path, os.path.abspath(os.path.join(workdir, earlier)))
    config.num_seeds = run.num_seeds or sweep.num_seeds
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
