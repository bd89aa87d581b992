"""Transfer learning: pre-train on CIFAR-10 classes 0-4, reuse the network on classes 5-9."""

from __future__ import annotations

import os

import numpy as np

from cnnjax import report
from experiments.configs import cifar10
from experiments.sweeps import common
from experiments.sweeps.figures import figure_stats
from experiments.sweeps.grid import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "On a small target set, starting from a network pre-trained on a related task beats "
    "training from scratch, freezing the first (most generic) layers and fine-tuning the rest "
    "works best, and a linear SVM on the pre-trained network's penultimate features is a "
    "strong baseline; with plenty of target data the advantage of freezing shrinks."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    *(
        Comparison(f"pre-training beats scratch ({n} per class)", f"n{n}_k0", f"n{n}_scratch")
        for n in ("100", "1000", "all")
    ),
    *(
        Comparison(
            f"freezing the first layer beats fine-tuning all ({n} per class)", f"n{n}_k1",
            f"n{n}_k0",
        )
        for n in ("100", "1000", "all")
    ),
    Comparison("an SVM on the features beats scratch (100 per class)", "n100_svm", "n100_scratch"),
)


SOURCE, TARGET = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)  # airplane..deer -> dog..truck
LAYERS = 4  # SmallCNN 32-64-128 + dense 256 + head: k = 4 freezes all but the head
# Training examples per class of the target (0: all 4,500) and the epochs each gets, so that
# the small sets see a similar number of steps as far as they usefully can.
SIZES = {100: 30, 1000: 12, 0: 6}
SOURCE_EPOCHS = 12
LEARNING_RATE = 0.02  # every target run (momentum 0.9, cosine); the two-phase run: / 10
QUICK_SIZES = {20: 2}


def _size(n: int) -> str:
    return "all" if n == 0 else str(n)


def _target(n: int, epochs: int) -> dict:
    return {
        "dataset.classes": TARGET,
        "dataset.train_per_class": n,
        "dataset.subset_per_seed": n > 0,  # each seed its own n images per class
        "dataset.val_size": 2500,  # of the target classes' 25,000 training images
        "epochs": epochs,
        "optimizer.learning_rate": LEARNING_RATE,
        "schedule.name": "cosine",
    }


def _runs(sizes: dict[int, int], source_overrides: dict) -> list[Run]:
    runs = [
        Run(
            "source",
            {"dataset.classes": SOURCE, "dataset.val_size": 2500, **source_overrides},
            {"per_class": "5,000 (classes 0-4)", "method": "pre-training", "frozen": ""},
        )
    ]
    for n, epochs in sizes.items():
        size, target = _size(n), _target(n, epochs)
        runs.append(
            Run(f"n{size}_scratch", target, {"per_class": size, "method": "scratch", "frozen": ""})
        )
        for k in range(LAYERS + 1):
            label = "all but head" if k == LAYERS else str(k)
            runs.append(
                Run(
                    f"n{size}_k{k}",
                    {**target, "transfer.freeze_layers": k},
                    {"per_class": size, "method": "fine-tune", "frozen": label},
                    init_from="source",
                )
            )
        runs.append(
            Run(
                f"n{size}_two_phase",
                {
                    **target,
                    "transfer.reinit_head": False,
                    "optimizer.learning_rate": LEARNING_RATE / 10,
                },
                {"per_class": size, "method": "two-phase (head, then all at lr/10)", "frozen": "0"},
                init_from=f"n{size}_k{LAYERS}",
            )
        )
        runs.append(
            Run(
                f"n{size}_svm",
                target,
                {"per_class": size, "method": "linear SVM on features", "frozen": "all"},
                init_from="source",
                probe=True,
            )
        )
    return runs


# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = """
Every run trains the CIFAR-10 config's SmallCNN `32-64-128` (batch norm, dropout, L2,
flip-and-crop augmentation). The source network learns classes `0-4` (airplane to deer) for
`12` epochs; the target task is classes `5-9` (dog to truck) with `100`, `1000` or all `4500`
training images per class (`30`, `12` and `6` epochs). "frozen k" keeps the first k weight
layers of the source network fixed (`k4`: all but the new head); "two-phase" starts from `k4`
and fine-tunes every layer at a tenth of the learning rate; "linear SVM" fits a linear SVM to
the source network's penultimate features. These runs predate per-seed subsets: the seeds of a
row share one target subset.

Pre-training and fine-tuning everything beats scratch at every target size, by less as the
target set grows (per class `100`: {{points 1}}; `1000`: {{points 2}}; all: {{points 3}}).
Freezing the first convolution is indistinguishable from fine-tuning everything at every size
(the verdict table), and each further frozen layer costs accuracy, more so with more data (the
`k2` to `k4` rows): the generic first layers transfer as they are, the later ones must adapt,
and what shrinks with more target data is the benefit of pre-training as a whole, not an
advantage of freezing. The SVM beats scratch with the fewest images ({{points 7}}), but falls
below it with more target data and stays well below fine-tuning. The two-phase recipe ends
below plain fine-tuning at every size: its second phase has too few epochs to move the network
as far.
"""


def get_sweep(quick: bool) -> Sweep:
    if quick:
        runs = _runs(QUICK_SIZES, {"epochs": common.QUICK_EPOCHS, "dataset.train_size": 2000})
    else:
        runs = _runs(SIZES, {"epochs": SOURCE_EPOCHS})
    return Sweep(
        name="transfer",
        claim=CLAIM,
        notes=NOTES,
        comparisons=COMPARISONS,
        base=cifar10.get_config,  # its SmallCNN, augmentation, L2 and dropout everywhere
        runs=tuple(runs),
        num_seeds=common.seeds(quick),
        figures=("test_accuracy", "best_val_accuracy", "final_train_accuracy"),
        curves=("val_accuracy",),
        plots=plots,
    )


def plots(sweep: Sweep, workdir: str, results_dir: str, summaries: dict[str, dict]) -> list[str]:
    """Test accuracy against the number of frozen layers, a line per target-set size, with
    scratch, two-phase and linear-SVM results as dashed lines of the same colour."""
    del workdir

    def stats(name: str) -> tuple[float | None, float | None]:
        return figure_stats(summaries.get(name, {}), "test_accuracy")

    sizes = sorted({r.labels["per_class"] for r in sweep.runs if r.name.endswith("_k0")})
    lines, references = {}, {}
    for size in sizes:
        points = [stats(f"n{size}_k{k}") for k in range(LAYERS + 1)]
        line = f"{size} per class: fine-tune"
        lines[line] = ([m for m, _ in points], [s for _, s in points])
        for suffix, what in (("scratch", "scratch"), ("svm", "SVM"), ("two_phase", "two-phase")):
            references[f"{size} per class: {what}"] = (line, stats(f"n{size}_{suffix}")[0])
    name = "test_accuracy_by_frozen_layers.png"
    report.plot_lines(
        os.path.join(results_dir, name),
        list(np.arange(LAYERS + 1)),
        lines,
        references,
        f"frozen layers (first k of conv 1-3, dense; {LAYERS} = all but the head)",
        "test accuracy (classes 5-9)",
        title="CIFAR-10 0-4 -> 5-9: fine-tuning with frozen layers",
    )
    return [name]
