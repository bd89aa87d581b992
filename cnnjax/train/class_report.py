"""A classification run's per-class report: precision, recall and F1 of every class on the
test split (in summary.json) and its confusion matrix (confusion_matrix.png in the workdir).

The test evaluation adds up a confusion matrix C (C[i, j]: test images of class i predicted
as j) over its batches; everything here is computed from C (`metrics.per_class_report`). A run
of K seeds reports each seed's figures in its `per_seed` entry and, at the top level, their
mean and standard deviation (ddof 1) over the seeds that finished; its picture sums C over
those seeds.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from cnnjax import metrics
from cnnjax.report import plots

FIGURES = ("precision", "recall", "f1")
PNG = "confusion_matrix.png"


def seed_report(confusion: list, class_names: Sequence[str]) -> dict[str, Any]:
    """One seed's {'confusion_matrix', 'per_class'} from its test confusion matrix."""
    return {
        "confusion_matrix": confusion,
        "per_class": metrics.per_class_report(np.asarray(confusion), class_names),
    }


def over_seeds(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The top-level per_class of a multi-seed run: every figure's per-class mean over the
    seeds' reports and `<figure>_std` (ddof 1; 0 for one seed), with the support."""
    first = reports[0]["per_class"]
    out = {"class_names": first["class_names"], "support": first["support"]}
    for figure in FIGURES:
        values = np.array([r["per_class"][figure] for r in reports])
        out[figure] = values.mean(0).tolist()
        std = values.std(0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
        out[f"{figure}_std"] = std.tolist()
    return out


def write_png(path: str, confusions: Sequence[list], class_names: Sequence[str]) -> None:
    """The confusion matrix, summed over the given seeds' matrices, as a picture."""
    total = np.sum([np.asarray(c) for c in confusions], axis=0)
    seeds = f", summed over {len(confusions)} seeds" if len(confusions) > 1 else ""
    plots.plot_confusion(path, total, class_names, title=f"test confusion matrix{seeds}")
