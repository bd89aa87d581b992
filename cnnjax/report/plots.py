"""Plots: a run's curves.png (loss and accuracy per epoch, train against validation) and a
sweep's figures (a metric per epoch for every run, a bar per run, small multiples)."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_curves(
    path: str,
    history: Sequence[dict[str, Any]],
    title: str = "",
    metrics: Sequence[str] = ("loss", "accuracy"),
) -> None:
    """One panel per metric (a task's loss and primary figure) with its train and, where
    present, validation curves."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        train = [(r["epoch"], r[f"train_{metric}"]) for r in history if f"train_{metric}" in r]
        if train:
            ax.plot(*zip(*train), "o-", label="train")
        val = [
            (r["epoch"], r[f"val_{metric}"]) for r in history if r.get(f"val_{metric}") is not None
        ]
        if val:
            ax.plot(*zip(*val), "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _line_style(i: int, n: int) -> tuple[Any, str]:
    """The colour and marker style of line `i` of `n`: tab10 up to 10 lines; past 10, tab20's
    20 colours and a second marker, so no two of up to 40 lines look alike."""
    if n <= 10:
        return plt.get_cmap("tab10")(i), "o-"
    return plt.get_cmap("tab20")(i % 20), ("o-", "s--")[(i // 20) % 2]


def plot_metric_by_run(
    path: str,
    curves: dict[str, tuple[Sequence[int], Sequence[float], Sequence[float]]],
    metric: str,
    title: str = "",
) -> None:
    """One line per run: `curves[name] = (epochs, mean, std)` of `metric` over seeds, the std
    as a shaded band; a log y axis for losses."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, (epochs, mean, std)) in enumerate(curves.items()):
        mean, std = np.asarray(mean, float), np.asarray(std, float)
        color, style = _line_style(i, len(curves))
        ax.plot(epochs, mean, style, ms=3, color=color, label=name)
        ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2)
    if "loss" in metric:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_bars(
    path: str, names: Sequence[str], means: Sequence[float | None], stds: Sequence[float | None],
    ylabel: str, title: str = "",
) -> None:  # fmt: skip
    """A bar per run with a standard-deviation error bar, the value written above it; a run
    without a value (None: diverged or not run) gets no bar and "n/a" on the axis."""
    present = [(m, s or 0.0) for m, s in zip(means, stds) if m is not None]
    heights = [0.0 if m is None else m for m in means]
    errors = [0.0 if m is None else (s or 0.0) for m, s in zip(means, stds)]
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(names)), 4.5))
    bars = ax.bar(range(len(names)), heights, yerr=errors, capsize=4, color="tab:blue", alpha=0.8)
    low = min((m - s for m, s in present), default=0.0)
    bottom = max(0.0, low - 0.1 * abs(low))
    for bar, mean in zip(bars, means):
        x = bar.get_x() + bar.get_width() / 2
        if mean is None:
            ax.annotate("n/a", (x, bottom), ha="center", va="bottom", fontsize=8, color="tab:red")
        else:
            ax.annotate(f"{mean:.4g}", (x, mean), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel.replace("_", " "))
    ax.set_ylim(bottom=bottom)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_panels(
    path: str,
    panels: dict[str, dict[str, Sequence[float]]],
    xlabel: str,
    ylabel: str,
    log: bool = False,
    title: str = "",
    columns: int = 3,
) -> None:
    """Small multiples: a panel per key of `panels`, in it a line per `label -> values` with
    values plotted against their position (e.g. a statistic by layer, input to output)."""
    rows = -(-len(panels) // columns)
    cols = min(columns, len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax, (name, lines) in zip(axes.flat, panels.items()):
        for label, values in lines.items():
            values = np.asarray([np.nan if v is None else v for v in values], float)
            ax.plot(np.arange(1, len(values) + 1), values, "o-", ms=2.5, label=label)
        if log:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_lines(
    path: str,
    x: Sequence[float],
    lines: dict[str, tuple[Sequence[float | None], Sequence[float | None]]],
    references: dict[str, tuple[str, float | None]],
    xlabel: str,
    ylabel: str,
    title: str = "",
    log: bool = False,
) -> None:
    """A line per `label -> (means, stds)` against `x` (error bars: the stds), and a dashed
    horizontal line per `label -> (colour of the line it belongs to, value)`."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    colours = {}
    for label, (means, stds) in lines.items():
        m = np.asarray([np.nan if v is None else v for v in means], float)
        s = np.asarray([0.0 if v is None else v for v in stds], float)
        colours[label] = ax.errorbar(x, m, yerr=s, fmt="o-", ms=4, capsize=3, label=label)[0]
    styles = ["--", ":", "-."]
    for i, (label, (line, value)) in enumerate(references.items()):
        if value is not None:
            ax.axhline(
                value,
                color=colours[line].get_color(),
                ls=styles[i % len(styles)],
                lw=1,
                label=label,
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks(list(x))
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_confusion(
    path: str, confusion: np.ndarray, class_names: Sequence[str], title: str = ""
) -> None:
    """A confusion matrix (rows: true class, columns: predicted) drawn by scikit-learn's
    ConfusionMatrixDisplay, coloured by each row's share (recall on the diagonal) so classes of
    any size compare; the counts are written in the cells up to 20 classes."""
    from sklearn import metrics  # Imported here: slow to import.

    counts = np.asarray(confusion)
    k = counts.shape[0]
    rows = counts.sum(1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    side = min(16.0, max(5.0, 0.45 * k))
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    labels = list(class_names) if k <= 60 else None
    display = metrics.ConfusionMatrixDisplay(share, display_labels=labels)
    display.plot(ax=ax, include_values=False, cmap="Blues", colorbar=True,
                 xticks_rotation="vertical")
    display.im_.set_clim(0, 1)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color=colour)
    display.im_.colorbar.set_label("share of the true class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
