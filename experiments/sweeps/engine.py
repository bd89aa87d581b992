"""Sweeps: a grid of runs written in code, run one after another, aggregated over seeds.

A `Sweep` names a claim, a base config and its `Run`s (config overrides plus the labels that
describe the run in the table). `run_sweep` trains every run in <workdir>/<run name>/ with
`config.num_seeds` seeds in one multi-seed run (cnnjax.train.run), skipping runs whose
summary.json already belongs to the same config, so an interrupted sweep resumes where it
stopped (a half-finished run resumes from its checkpoint). `aggregate` writes results.md (the
claim, the command, the machine, a table of mean +- std over seeds), results.json (every figure
and every seed) and plots: a bar per run of the first figure, and each of `curves` per epoch
for every run (mean over seeds, std band).

Figures are the per-seed statistics of summary.json (cnnjax.train.loop.SEED_STATISTICS) or
one of HISTORY_FIGURES, computed from each seed's metrics.jsonl. Every row also shows the
model's parameters and multiply-accumulates per example (cnnjax.summary). `best_by=(label,
figure)` adds a table of the run with the highest mean `figure` for each value of `label`
(e.g. each optimizer at its best learning rate).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import platform
import re
import time
from typing import Any, Callable, Mapping

import jax
import ml_collections
import numpy as np

from cnnjax import config as config_lib
from cnnjax import models, provenance, report
from cnnjax import summary as summary_lib
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
    # plots(sweep, workdir, results_dir, summaries) -> file names of the sweep's own plots
    plots: Callable[..., list[str]] | None = None
    # Why this sweep compares runs trained on different device kinds or library versions on
    # purpose (said loudly in its results.md); '' refuses to aggregate such a mix.
    mixed_setups: str = ""
    # The claim as tests (experiments.sweeps.verdicts): verdicts computed, never typed.
    comparisons: tuple[verdicts.Comparison, ...] = ()

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


def _last(history: list[dict], key: str) -> float | None:
    return history[-1][key] if history else None


def _layer_stats(history: list[dict], when: str) -> dict | None:
    """The cnnjax.layer_stats record at initialisation ('init') or after epoch 1 ('epoch1')."""
    if not history:
        return None
    return history[0].get("layer_stats_init" if when == "init" else "layer_stats")


def grad_ratio(history: list[dict], when: str) -> float | None:
    """log10(gradient norm of the first layer / that of the last): about 0 when gradients reach
    the input layers undiminished, very negative when they vanish on the way down."""
    stats = _layer_stats(history, when)
    if not stats or min(stats["grad_norm"]) <= 0:
        return None
    return float(np.log10(stats["grad_norm"][0] / stats["grad_norm"][-1]))


def mean_fraction(history: list[dict], when: str, key: str) -> float | None:
    """The mean over activation calls of `key` ('dead' or 'saturated'), where defined."""
    stats = _layer_stats(history, when)
    values = [v for v in (stats or {}).get(key, []) if v is not None]
    return float(np.mean(values)) if values else None


# Figures read from a seed's per-epoch history rather than from summary.json.
HISTORY_FIGURES: dict[str, Callable[[list[dict]], float | None]] = {
    "final_val_loss": lambda h: _last(h, "val_loss"),
    # Generalisation gap at the last epoch: validation loss - training loss (the training loss
    # is the epoch's mean in train mode, dropout on, as Keras reports it).
    "final_gap": lambda h: (
        None if _last(h, "val_loss") is None else _last(h, "val_loss") - _last(h, "train_loss")
    ),
    # From runs with config.layer_stats.enabled (cnnjax.layer_stats):
    "grad_ratio_init": lambda h: grad_ratio(h, "init"),
    "grad_ratio_epoch1": lambda h: grad_ratio(h, "epoch1"),
    "dead_init": lambda h: mean_fraction(h, "init", "dead"),
    "dead_epoch1": lambda h: mean_fraction(h, "epoch1", "dead"),
    "saturated_init": lambda h: mean_fraction(h, "init", "saturated"),
    "saturated_epoch1": lambda h: mean_fraction(h, "epoch1", "saturated"),
}


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


def seed_histories(folder: str, summary: dict) -> list[list[dict]]:
    """The per-epoch records of every seed of a finished run (none for a probe)."""
    seeds = [s["seed"] for s in summary.get("per_seed", [])]
    paths = [os.path.join(folder, f"seed_{s}", "metrics.jsonl") for s in seeds] or [
        os.path.join(folder, "metrics.jsonl")
    ]
    out = []
    for path in paths:
        if summary.get("probe"):
            out.append([])
            continue
        with open(path) as f:
            out.append([json.loads(line) for line in f if line.strip()])
    return out


def epoch_curve(
    histories: list[list[dict]], metric: str
) -> tuple[list[int], list[float], list[float]]:
    """(epochs, mean, std) of `metric` over the seeds that reached each epoch (early stopping
    ends seeds at different epochs)."""
    epochs = sorted({r["epoch"] for h in histories for r in h})
    values = [[r[metric] for h in histories for r in h if r["epoch"] == e] for e in epochs]
    return epochs, [float(np.mean(v)) for v in values], [float(np.std(v)) for v in values]


def epochs_to(histories: list[list[dict]], target: float) -> list[float | None]:
    """Per seed, the first epoch whose validation accuracy reaches `target` (None: never)."""
    return [
        next((r["epoch"] for r in h if (r["val_accuracy"] or 0.0) >= target), None)
        for h in histories
    ]


def _per_seed(summary: dict, histories: list[list[dict]], figure: str) -> list[float | None]:
    if figure in HISTORY_FIGURES:
        return [HISTORY_FIGURES[figure](h) for h in histories]
    return [s.get(figure) for s in summary.get("per_seed", [summary])]


def figure_stats(summary: dict, figure: str) -> tuple[float | None, float | None]:
    """Mean and standard deviation over seeds of a summary.json figure of a run ((None, None)
    for a run that is missing, diverged or lacks the figure)."""
    return mean_std(_per_seed(summary, [], figure))


def model_macs(folder: str, summary: dict) -> int:
    """Multiply-accumulates per example of the model a finished run trained (cnnjax.summary)."""
    config = ml_collections.ConfigDict(report.read_json(os.path.join(folder, "config.json")))
    model = models.create(
        config.model, summary["num_classes"], **config_lib.model_overrides(config)
    )
    rows, _ = summary_lib.summarize(model, tuple(summary["image_shape"]))
    return sum(r.macs for r in rows)


def mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    if not values or any(v is None for v in values):
        return None, None
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return float(np.mean(values)), std


def _fmt_epochs(values: list[float | None]) -> str:
    reached = [v for v in values if v is not None]
    if not reached:
        return f"not reached (0/{len(values)})"
    mean, std = mean_std(reached)
    suffix = "" if len(reached) == len(values) else f" ({len(reached)}/{len(values)} seeds)"
    return f"{mean:.3g} ± {std:.2g}{suffix}"


def _fmt(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    if 0 < abs(mean) <= 1:  # accuracies and most losses, 1.0 included
        return f"{mean:.4f} ± {std:.4f}"
    return f"{mean:.4g} ± {std:.2g}"


def trained_on(summary: dict) -> str:
    """Where a finished run trained, as a short label ('cpu x1, jax 0.10.2'); the full setup
    a comparison holds fixed is provenance.training_setup's."""
    record = summary.get("provenance")
    if record is None:  # a run from before provenance was recorded
        return f"{summary.get('device', '?')}, jax {summary.get('jax_version', '?')}"
    return f"{record['device_kind']} x{record['device_count']}, jax {record['versions']['jax']}"


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


def _table(rows: list[dict], label_keys: list[str], figures: list[str]) -> str:
    header = ["run", *label_keys, "params", "MACs", *figures, "trained on"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        # A '|' inside a label (e.g. "1x1 | 3x3") would split its cell: Markdown escapes it.
        cells = [row["run"], *(str(row.get(k, "")).replace("|", r"\|") for k in label_keys)]
        if row.get("diverged"):
            lines.append("| " + " | ".join(cells + ["diverged"] * (3 + len(figures))) + " |")
            continue
        cells += [f"{row['num_params']:,}", f"{row['macs']:,}"]
        cells += [
            _fmt_epochs(row[f]) if f == "epochs_to_target" else _fmt(*mean_std(row[f]))
            for f in figures
        ]
        cells.append(row["trained_on"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def best_rows(rows: list[dict], label: str, figure: str) -> list[dict]:
    """For each value of `label` (in order of appearance), the row with the highest mean
    `figure` (rows whose figure is missing for some seed never win)."""
    best: dict[str, dict] = {}
    for row in rows:
        mean, _ = mean_std(row[figure])
        current = best.get(row[label])
        if mean is not None and (current is None or mean > mean_std(current[figure])[0]):
            best[row[label]] = row
    return list(best.values())


def aggregate(
    sweep: Sweep,
    workdir: str,
    results_dir: str,
    summaries: dict[str, dict],
    command: str,
    wall_seconds: float,
) -> dict[str, Any]:
    """Writes results.md, results.json and the plots into `results_dir`; returns the JSON."""
    setups = check_one_setup(sweep, summaries)
    os.makedirs(results_dir, exist_ok=True)
    rows, curves = [], {m: {} for m in sweep.curves}
    for run in sweep.runs:
        summary = summaries[run.name]
        folder = os.path.join(workdir, run.name)
        if "diverged" in summary:
            rows.append(
                {
                    "run": run.name,
                    **run.labels,
                    "num_params": None,
                    "macs": None,
                    "diverged": True,
                    **{f: [None] * sweep.num_seeds for f in sweep.figures},
                    **({"epochs_to_target": [None]} if sweep.has_target else {}),
                }
            )
            continue
        histories = seed_histories(folder, summary)
        row = {
            "run": run.name,
            **run.labels,
            "num_params": summary["num_params"],
            "macs": model_macs(folder, summary),
            "trained_on": trained_on(summary),
        }
        for figure in sweep.figures:
            row[figure] = _per_seed(summary, histories, figure)
        if sweep.has_target:
            target = run.target_accuracy or sweep.target_accuracy
            row["epochs_to_target"] = epochs_to(histories, target)
        rows.append(row)
        for metric in sweep.curves:
            epochs, means, stds = epoch_curve(histories, metric)
            if epochs:  # a probe has no epochs
                curves[metric][run.name] = (epochs, means, stds)

    figures = list(sweep.figures) + (["epochs_to_target"] if sweep.has_target else [])
    label_keys = list(dict.fromkeys(k for run in sweep.runs for k in run.labels))
    table = _table(rows, label_keys, figures)
    best = best_rows(rows, *sweep.best_by) if sweep.best_by else None

    first = sweep.figures[0]
    stats = [mean_std(row[first]) for row in rows]
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
    trained = [s for s in summaries.values() if "diverged" not in s]
    datasets = sorted({s["dataset"] for s in trained})
    runs_on = collections.Counter(trained_on(s) for s in trained)
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    results = {
        "sweep": sweep.name,
        "claim": sweep.claim,
        "command": command,
        "wall_seconds": wall_seconds,  # of the invocation that wrote this
        "train_seconds": sum(s.get("train_seconds", 0.0) for s in summaries.values()),
        "num_seeds": sweep.num_seeds,
        "datasets": datasets,
        "trained_on": dict(runs_on),
        "setups": setups,  # provenance.training_setup -> the runs trained with it
        "machine": machine,
        "rows": rows,
        "verdicts": verdicts.evaluate(sweep.comparisons, rows),
        "best_by": list(sweep.best_by) if sweep.best_by else None,
        "best_runs": [row["run"] for row in best] if best else None,
        "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    report.write_json(os.path.join(results_dir, "results.json"), results)
    plots = [f"{first}.png"] + [f"{m}.png" for m in sweep.curves]
    if sweep.plots is not None:
        plots += sweep.plots(sweep, workdir, results_dir, summaries)
    md = [
        f"# Sweep `{sweep.name}`",
        "",
        f"**Claim.** {sweep.claim}",
        "",
        f"Mean ± standard deviation over {sweep.num_seeds} seeds "
        f"(dataset{'s' * (len(datasets) > 1)} {', '.join(f'`{d}`' for d in datasets)}).",
        "",
        table,
        "",
        *(
            [
                f"Best run of each {sweep.best_by[0]} by {sweep.best_by[1]}:",
                "",
                _table(best, label_keys, figures),
                "",
            ]
            if best
            else []
        ),
        *([verdicts.markdown(results["verdicts"]), ""] if sweep.comparisons else []),
        *(f"![{p}]({p})" for p in plots),
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine['processor']}, {machine['cores']} cores, {machine['device']}, "
        f"jax {machine['jax']}  ",
        "Runs trained on: "
        + ", ".join(f"{n} on {where}" for where, n in sorted(runs_on.items()))
        + "  ",
        *(
            [f"**Mixed setups, on purpose: {sweep.mixed_setups}** Setups: "
             + "; ".join(f"{k}: {', '.join(v)}" for k, v in setups.items()) + "  "]
            if len(setups) > 1
            else [f"Setup of every run: {next(iter(setups), '?')}  "]
        ),
        f"Wall time: {wall_seconds / 60:.1f} min (this invocation); training time of all runs: "
        f"{results['train_seconds'] / 60:.1f} min",
        "",
    ]
    with open(os.path.join(results_dir, "results.md"), "w") as f:
        f.write("\n".join(md))
    return results


def rewrite_verdicts(sweep: Sweep, results_dir: str) -> list[dict[str, Any]]:
    """Recomputes the verdicts of the results in `results_dir` from its results.json rows and
    writes them into results.json and results.md (its verdict section only), training
    nothing. Returns the verdicts."""
    json_path = os.path.join(results_dir, "results.json")
    results = report.read_json(json_path)
    results["verdicts"] = verdicts.evaluate(sweep.comparisons, results["rows"])
    report.write_json(json_path, results)
    md_path = os.path.join(results_dir, "results.md")
    text = open(md_path).read()
    with open(md_path, "w") as f:
        f.write(verdicts.replace_section(text, verdicts.markdown(results["verdicts"])))
    return results["verdicts"]


def verdict_index(results_root: str, sweeps: Mapping[str, Any]) -> str:
    """The verdict index (verdicts.index) of the verdicts stored in every committed
    <results_root>/<sweep>/results.json of `sweeps` (name -> module)."""
    judged = []
    for name in sorted(sweeps):
        path = os.path.join(results_root, name, "results.json")
        if os.path.isfile(path) and (found := report.read_json(path).get("verdicts")):
            judged.append((name, sweeps[name].get_sweep(quick=False).claim, found))
    return verdicts.index(judged)


def rewrite_verdict_index(results_root: str, sweeps: Mapping[str, Any]) -> None:
    """Rewrites the verdict index of <results_root>/README.md (verdict_index)."""
    readme = os.path.join(results_root, "README.md")
    text = open(readme).read()
    with open(readme, "w") as f:
        f.write(verdicts.replace_index(text, verdict_index(results_root, sweeps)))
