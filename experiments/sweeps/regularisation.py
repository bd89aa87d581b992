"""The regularisation ablation grid: L1, L2, dropout and batch norm, alone and together."""

from experiments.configs import cifar10, fashion_mnist
from experiments.sweeps import common
from experiments.sweeps.engine import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "Regularisation (weight penalties, dropout, batch norm) narrows the gap between training "
    "and validation loss of a CNN that over-fits; dropout is a training-time noise and is off "
    "at inference (every test figure here is computed with dropout off)."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    *(
        Comparison(
            f"{r.replace('_', ' ')} narrows the gap ({d.replace('_', '-')})", f"{d}_{r}",
            f"{d}_none", figure="final_gap", claim="lower",
        )
        for d in ("cifar10", "fashion_mnist")
        for r in ("l1_1e-4", "l2_2e-3", "dropout_head_0.5", "dropout_conv_0.3", "batchnorm",
                  "all")
    ),
)


# The unregularised testbed, on top of each dataset's recipe (experiments/configs):
# SmallCNN 32-64-128 with a 256-unit dense head, no batch norm, no dropout, no weight penalty,
# no augmentation; on a 10,000-image training subset (full grid) so that it over-fits within
# the budget.
NONE = {
    **common.small_cnn(batch_norm=False),
    "loss.l2": 0.0,
    "dataset.augment.crop_padding": 0,
    "dataset.augment.horizontal_flip": False,
    "optimizer.learning_rate": 0.02,  # momentum 0.9: stable with and without batch norm
    "schedule.name": "cosine",
}
ARGS = "model_args.small_cnn."

# name: (overrides on top of NONE, regulariser, strength)
GRID = {
    "none": ({}, "none", ""),
    "l1_1e-5": ({"loss.l1": 1e-5}, "L1", "1e-5"),
    "l1_1e-4": ({"loss.l1": 1e-4}, "L1", "1e-4"),
    "l2_1e-4": ({"loss.l2": 1e-4}, "L2", "1e-4"),
    "l2_5e-4": ({"loss.l2": 5e-4}, "L2", "5e-4"),
    "l2_2e-3": ({"loss.l2": 2e-3}, "L2", "2e-3"),
    "dropout_head_0.1": ({ARGS + "dropout_rate": 0.1}, "dropout (head)", "p=0.1"),
    "dropout_head_0.3": ({ARGS + "dropout_rate": 0.3}, "dropout (head)", "p=0.3"),
    "dropout_head_0.5": ({ARGS + "dropout_rate": 0.5}, "dropout (head)", "p=0.5"),
    "dropout_conv_0.1": ({ARGS + "conv_dropout_rate": 0.1}, "dropout (conv blocks)", "p=0.1"),
    "dropout_conv_0.3": ({ARGS + "conv_dropout_rate": 0.3}, "dropout (conv blocks)", "p=0.3"),
    "batchnorm": ({ARGS + "batch_norm": True}, "batch norm", ""),
    "bn_dropout": (
        {ARGS + "batch_norm": True, ARGS + "dropout_rate": 0.3},
        "batch norm + dropout",
        "p=0.3",
    ),
    "all": (
        {
            ARGS + "batch_norm": True,
            ARGS + "dropout_rate": 0.5,
            ARGS + "conv_dropout_rate": 0.1,
            "loss.l2": 5e-4,
        },
        "all: BN + dropout + L2",
        "p=0.5/0.1, 5e-4",
    ),
}
QUICK_GRID = ("none", "l2_5e-4", "dropout_head_0.5", "batchnorm", "all")
DATASETS = {  # name: (label, base config: the dataset's own recipe)
    "cifar10": ("CIFAR-10", cifar10.get_config),
    "fashion_mnist": ("Fashion-MNIST", fashion_mnist.get_config),
}


# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = common.gpu_cifar_copy("regularisation") + """
On CIFAR-10 every regulariser tried narrows the gap between validation and training loss (the
verdict table), dropout in the convolutions most ({{diff 4}}), and all together most of all
({{diff 6}}). On Fashion-MNIST the weight penalties and dropout narrow it too, but batch norm
alone widens it ({{diff 11}}: {{verdict 11}}): it speeds up fitting the training set more than
it regularises. Every test figure is computed with dropout off, as at inference.
"""


def get_sweep(quick: bool) -> Sweep:
    datasets, names = (("fashion_mnist",), QUICK_GRID) if quick else (tuple(DATASETS), tuple(GRID))
    budget = common.budget(quick, epochs=20, train_size=10_000)
    runs = []
    for dataset in datasets:
        for name in names:
            overrides, kind, strength = GRID[name]
            label, base = DATASETS[dataset]
            labels = {"dataset": label, "regulariser": kind, "strength": strength}
            runs.append(Run(f"{dataset}_{name}", {**NONE, **budget, **overrides}, labels, base))
    return Sweep(
        name="regularisation",
        claim=CLAIM,
        notes=NOTES,
        comparisons=COMPARISONS,
        base=fashion_mnist.get_config,  # every run names its own
        runs=tuple(runs),
        num_seeds=common.seeds(quick),
        figures=("test_accuracy", "final_gap", "final_train_loss", "final_val_loss"),
        curves=("train_loss", "val_loss"),
    )
