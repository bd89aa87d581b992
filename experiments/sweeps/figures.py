"""A finished run's figures, per seed: from its summary.json (cnnjax.train.results'
seed_statistics) or from each seed's per-epoch metrics.jsonl (HISTORY_FIGURES), plus the model's
multiply-accumulates; `mean_std` is the table's statistic (sample standard deviation, ddof=1);
`best_rows` picks the best row per label value (each optimizer at its best learning rate).
"""

from __future__ import annotations

import json
import os
from typing import Callable

import ml_collections
import numpy as np

from cnnjax import models, report, tasks
from cnnjax import summary as summary_lib


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


def per_seed(summary: dict, histories: list[list[dict]], figure: str) -> list[float | None]:
    """The figure of each seed of a run (None where a seed lacks it)."""
    if figure in HISTORY_FIGURES:
        return [HISTORY_FIGURES[figure](h) for h in histories]
    return [s.get(figure) for s in summary.get("per_seed", [summary])]


def figure_stats(summary: dict, figure: str) -> tuple[float | None, float | None]:
    """Mean and standard deviation over seeds of a summary.json figure of a run ((None, None)
    for a run that is missing, diverged or lacks the figure)."""
    return mean_std(per_seed(summary, [], figure))


def model_macs(folder: str, summary: dict) -> int:
    """Multiply-accumulates per example of the model a finished run trained (cnnjax.summary),
    built as the run built it (a summary from before num_outputs and input_shape were
    recorded: a classifier of its num_classes reading its images)."""
    config = ml_collections.ConfigDict(report.read_json(os.path.join(folder, "config.json")))
    overrides = tasks.of(config).model_overrides(config)
    outputs = summary.get("num_outputs", summary["num_classes"])
    model = models.create(config.model, outputs, **overrides)
    input_shape = summary.get("input_shape", summary["image_shape"])
    rows, _ = summary_lib.summarize(model, tuple(input_shape))
    return sum(r.macs for r in rows)


def mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    if not values or any(v is None for v in values):
        return None, None
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return float(np.mean(values)), std


def best_rows(rows: list[dict], label: str, figure: str) -> list[dict]:
    """For each value of `label` (in order of appearance), the row with the highest mean
    `figure` (rows whose figure is missing for some seed never win)."""
    best: dict[str, dict] = {}
    for row in rows:
        mean, _ = mean_std(row[figure])
        current = best.get(row[label])
        if mean is not None and (
            current is None or mean > mean_std(current[figure])[0]
        ):
            best[row[label]] = row
    return list(best.values())


def best_aliases(rows: list[dict], best_by: tuple[str, str] | None) -> dict[str, str]:
    """{"best:<label value>": the best row's name} (verdicts.Comparison may name either)."""
    if not best_by:
        return {}
    return {f"best:{row[best_by[0]]}": row["run"] for row in best_rows(rows, *best_by)}
