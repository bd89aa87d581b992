"""A finished sweep's results: results.json (every figure of every seed, the verdicts, where and
from which code each run trained), its plots, and results.md rendered from results.json alone
(experiments.sweeps.page), so that re-rendering a committed results.json gives its results.md.

Every row also records the model's parameters and multiply-accumulates per example
(cnnjax.summary). A sweep's rows must share one training setup (device kind and count, library
versions, matmul precision: cnnjax.provenance.training_setup) unless the sweep declares the mix
in `Sweep.mixed_setups`.
"""

from __future__ import annotations

import collections
import os
import platform
import time
from typing import Any

import jax

from cnnjax import provenance, report
from cnnjax.train.trained import run_config as saved_config
from experiments.sweeps import figures as figures_lib
from experiments.sweeps import page, verdicts
from experiments.sweeps.grid import Baseline, Sweep

COMPUTED = "computed, not trained"  # a baseline row's 'trained_on'


def trained_on(summary: dict) -> str:
    """Where a finished run trained, as a short label ('cpu x1, jax 0.10.2'); the full setup
    a comparison holds fixed is provenance.training_setup's."""
    record = summary.get("provenance")
    if record is None:  # a run from before provenance was recorded
        return f"{summary.get('device', '?')}, jax {summary.get('jax_version', '?')}"
    return f"{record['device_kind']} x{record['device_count']}, jax {record['versions']['jax']}"


def code_of(summary: dict) -> str:
    """The commit a run trained from ('3f2a1bc', '3f2a1bc+dirty', or 'not recorded')."""
    return provenance.short_commit(summary.get("provenance"), missing="not recorded")


def check_one_setup(sweep: Sweep, summaries: dict[str, dict]) -> dict[str, list[str]]:
    """The runs of each training setup (provenance.training_setup); ValueError when there is
    more than one and the sweep does not declare `mixed_setups`."""
    by_setup = collections.defaultdict(list)
    for name, summary in summaries.items():
        if "diverged" not in summary:
            record = summary.get("provenance")
            setup = provenance.training_setup(record) if record else trained_on(summary)
            by_setup[setup].append(name)
    if len(by_setup) > 1 and not sweep.mixed_setups:
        listing = "; ".join(f"{setup}: {', '.join(runs)}" for setup, runs in by_setup.items())
        raise ValueError(
            f"sweep {sweep.name}: its runs trained on {len(by_setup)} different setups "
            f"({listing}); a comparison needs one device kind and one set of library versions: "
            "train the rows again on one machine, or declare the mix in Sweep.mixed_setups"
        )
    return dict(by_setup)


def judge(sweep: Sweep, rows: list[dict]) -> list[dict[str, Any]]:
    """The verdicts of the sweep's comparisons on `rows`."""
    return verdicts.evaluate(
        sweep.comparisons, rows, figures_lib.best_aliases(rows, sweep.best_by)
    )


def _row(sweep: Sweep, run, folder: str, summary: dict) -> tuple[dict, list[list[dict]]]:
    """A run's row of results.json and its seeds' per-epoch histories."""
    if "diverged" in summary:
        row = {
            "run": run.name,
            **run.labels,
            "num_params": None,
            "macs": None,
            "diverged": True,
            **{f: [None] * sweep.num_seeds for f in sweep.figures},
            **({"epochs_to_target": [None]} if sweep.has_target else {}),
        }
        return row, []
    histories = figures_lib.seed_histories(folder, summary)
    row = {
        "run": run.name,
        **run.labels,
        "num_params": summary["num_params"],
        "macs": figures_lib.model_macs(folder, summary),
        "trained_on": trained_on(summary),
        "code": code_of(summary),
        "images": [summary.get(k) for k in ("num_train", "num_val", "num_test")],
        "subset_per_seed": bool(summary.get("subset_per_seed", False)),
    }
    for figure in sweep.figures:
        row[figure] = figures_lib.per_seed(summary, histories, figure)
    if sweep.has_target:
        target = run.target_accuracy or sweep.target_accuracy
        row["epochs_to_target"] = figures_lib.epochs_to(histories, target)
    return row, histories


def baseline_row(sweep: Sweep, baseline: Baseline, workdir: str) -> dict:
    """A baseline's row of results.json: its figures on the data of its run `like` (that
    run's saved config), one value repeated per seed; figures it does not define are None."""
    config = saved_config(os.path.join(workdir, baseline.like))
    values = dict(baseline.figures(config))
    unknown = sorted(set(values) - set(sweep.figures))
    if unknown:
        raise ValueError(
            f"sweep {sweep.name}: baseline {baseline.name} gives {', '.join(unknown)}, which are "
            f"not among the sweep's figures ({', '.join(sweep.figures)})"
        )
    row = {
        "run": baseline.name,
        **baseline.labels,
        "num_params": 0,
        "macs": 0,
        "baseline": True,
        "trained_on": COMPUTED,
    }
    for figure in sweep.figures:
        value = values.get(figure)
        row[figure] = [None if value is None else float(value)] * sweep.num_seeds
    return row


def merge_groups(sweep: Sweep, entries) -> list[tuple[dict, list[list[dict]]]]:
    """(row, seed histories) per row of the results from (group, row, histories) per run or
    baseline: the rows of one group become one row named after the group, in the place of its
    first, with its members' per-seed figures and histories joined (in order) and their names
    in `parts`; a row without a group stays as it is."""
    per_seed = list(sweep.figures) + (["epochs_to_target"] if sweep.has_target else [])
    merged: dict[str, tuple[dict, list]] = {}
    for group, row, histories in entries:
        if group is None:
            merged[row["run"]] = (row, histories)
        elif group not in merged:
            merged[group] = ({**row, "run": group, "parts": [row["run"]]}, list(histories))
        else:
            into, joined = merged[group]
            into["parts"].append(row["run"])
            into["diverged"] = into.get("diverged", False) or row.get("diverged", False)
            for figure in per_seed:
                into[figure] = into[figure] + row[figure]
            joined.extend(histories)
    return list(merged.values())


def aggregate(
    sweep: Sweep,
    workdir: str,
    results_dir: str,
    summaries: dict[str, dict],
    command: str,
    wall_seconds: float,
) -> dict[str, Any]:
    """Writes results.json, the plots and results.md into `results_dir`; returns the JSON."""
    setups = check_one_setup(sweep, summaries)
    os.makedirs(results_dir, exist_ok=True)
    entries = [
        (run.group, *_row(sweep, run, os.path.join(workdir, run.name), summaries[run.name]))
        for run in sweep.runs
        if run.in_table
    ]
    entries += [
        (baseline.group, baseline_row(sweep, baseline, workdir), [])
        for baseline in sweep.baselines
        if baseline.like in summaries  # a --runs subset may leave its run out
    ]
    rows, curves = [], {m: {} for m in sweep.curves}
    for row, histories in merge_groups(sweep, entries):
        rows.append(row)
        for metric in sweep.curves:
            epochs, means, stds = figures_lib.epoch_curve(histories, metric)
            if epochs:  # a probe, a baseline or a diverged run has no epochs
                curves[metric][row["run"]] = (epochs, means, stds)

    first = sweep.figures[0]
    stats = [figures_lib.mean_std(row[first]) for row in rows]
    report.plot_bars(
        os.path.join(results_dir, f"{first}.png"),
        [row["run"] + " (diverged)" * bool(row.get("diverged")) for row in rows],
        [m for m, _ in stats],
        [s for _, s in stats],
        first,
        title=sweep.name,
    )
    for metric, by_run in curves.items():
        report.plot_metric_by_run(
            os.path.join(results_dir, f"{metric}.png"), by_run, metric, title=sweep.name
        )
    plots = page.standard_plots(sweep)
    if sweep.plots is not None:
        plots += sweep.plots(sweep, workdir, results_dir, summaries)
    trained = [s for s in summaries.values() if "diverged" not in s]
    best = figures_lib.best_rows(rows, *sweep.best_by) if sweep.best_by else None
    results = {
        "sweep": sweep.name,
        "claim": sweep.claim,
        "command": command,
        "wall_seconds": wall_seconds,  # of the invocation that wrote this
        "train_seconds": sum(s.get("train_seconds", 0.0) for s in summaries.values()),
        "num_seeds": sweep.num_seeds,
        "datasets": sorted({s["dataset"] for s in trained}),
        "trained_on": dict(collections.Counter(trained_on(s) for s in trained)),
        "setups": setups,  # provenance.training_setup -> the runs trained with it
        "machine": {  # the machine that aggregated (each run's own is in `setups`)
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu": provenance.cpu_model(),
            "cores": os.cpu_count(),
            "device": str(jax.devices()[0]),
            "jax": jax.__version__,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
        },
        "rows": rows,
        "verdicts": judge(sweep, rows),
        "best_by": list(sweep.best_by) if sweep.best_by else None,
        "best_runs": [row["run"] for row in best] if best else None,
        "plots": plots,
        "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    report.write_json(os.path.join(results_dir, "results.json"), results)
    write_page(sweep, results_dir, results)
    return results


def write_page(sweep: Sweep, results_dir: str, results: dict[str, Any]) -> None:
    """results.md of `results` (page.render)."""
    with open(os.path.join(results_dir, "results.md"), "w") as f:
        f.write(page.render(sweep, results))


def rewrite(sweep: Sweep, results_dir: str) -> list[dict[str, Any]]:
    """Recomputes the verdicts of the results in `results_dir` from its results.json rows,
    stores them in results.json and renders results.md again, training nothing. Returns the
    verdicts."""
    json_path = os.path.join(results_dir, "results.json")
    results = report.read_json(json_path)
    results["claim"] = sweep.claim
    results["verdicts"] = judge(sweep, results["rows"])
    report.write_json(json_path, results)
    write_page(sweep, results_dir, results)
    return results["verdicts"]
