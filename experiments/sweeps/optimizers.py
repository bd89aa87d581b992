"""Optimizers compared at equal budget, each at the best of its own learning rates."""

from experiments.configs import cifar10
from experiments.sweeps import common
from experiments.sweeps.grid import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "Adaptive methods (AdaGrad, RMSprop, Adam, AdamW) drive the training loss down faster than "
    "plain SGD, but SGD with momentum generalises better than Adam: higher test accuracy, each "
    "optimizer at the learning rate that gives it the best validation accuracy."
)

# The claim as tests, each optimizer at its best learning rate by validation accuracy
# ("best:<optimizer>", Sweep.best_by); the verdicts are computed.
COMPARISONS = (
    *(
        Comparison(
            f"{name} drives the training loss lower than plain SGD",
            f"best:{name}",
            "best:sgd",
            figure="final_train_loss",
            claim="lower",
        )
        for name in ("adagrad", "rmsprop", "adam", "adamw")
    ),
    *(
        Comparison(
            f"{name} generalises better than {adaptive} (test accuracy)",
            f"best:{name}",
            f"best:{adaptive}",
        )
        for name in ("momentum", "nesterov")
        for adaptive in ("adam", "adamw")
    ),
)

# optimizer: the learning rates tried (peak of a cosine schedule), a factor of about 3 apart and
# wide enough that each optimizer's best is an interior point of its grid (checked in
# results.md: the best-run table's "lr in grid" column).
LEARNING_RATES = {
    "sgd": (0.03, 0.1, 0.3, 1.0, 3.0),
    "momentum": (0.01, 0.03, 0.1, 0.3),
    "nesterov": (0.01, 0.03, 0.1, 0.3),
    "adagrad": (0.01, 0.03, 0.1, 0.3, 1.0),
    "rmsprop": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
    "adam": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
    "adamw": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
}
QUICK_GRID = {"sgd": (0.1,), "momentum": (0.03,), "adam": (1e-3,)}


# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = """
**Budget and machine.** Every row trained on the project's CPU with one library version (the
setup line below), at a reduced budget: `--epochs=10 --train_size=5000 --seeds=3`, where the
full grid is `15` epochs on `10,000` images. RMSprop is plain RMSprop (no momentum, its own
decay `optimizer.rmsprop_decay`); an earlier version of this sweep ran it with momentum by
mistake. Each optimizer is taken at the learning rate of its best validation accuracy, and the
best-run table's `lr in grid` column says whether that rate is inside the grid tried.

**The verdicts.** Adaptive methods against plain SGD, on the final training loss at equal
budget: AdaGrad {{verdict 1}}, RMSprop {{verdict 2}}, Adam {{verdict 3}}, AdamW {{verdict 4}}
(Adam's best run ends at {{value final_train_loss best:adam}} against plain SGD's {{value
final_train_loss best:sgd}}). Momentum SGD against the Adam family, on test accuracy: momentum
against Adam {{points 5}}, {{verdict 5}}; against AdamW {{points 6}}, {{verdict 6}}; Nesterov
against Adam {{points 7}}, {{verdict 7}}; against AdamW {{points 8}}, {{verdict 8}}. The test
accuracies at each optimizer's best rate: SGD {{pct test_accuracy best:sgd}}, momentum {{pct
test_accuracy best:momentum}}, Nesterov {{pct test_accuracy best:nesterov}}, AdaGrad {{pct
test_accuracy best:adagrad}}, RMSprop {{pct test_accuracy best:rmsprop}}, Adam {{pct
test_accuracy best:adam}}, AdamW {{pct test_accuracy best:adamw}}. The claim that momentum SGD
generalises better than Adam comes from long trainings with augmentation and tuned weight
decay; this short budget, without augmentation and with batch norm, tests only whether the gap
appears early.
"""


def get_sweep(quick: bool) -> Sweep:
    # SmallCNN with batch norm, no dropout and no L2 (AdamW's decoupled decay, 1e-4, is its
    # own), no augmentation, cosine schedule with one epoch of warm-up; 10,000 CIFAR-10 images.
    shared = {
        **common.small_cnn(),
        **common.budget(quick, epochs=15, train_size=10_000),
        "loss.l2": 0.0,
        "dataset.augment.crop_padding": 0,
        "dataset.augment.horizontal_flip": False,
    }
    runs = []
    for name, rates in (QUICK_GRID if quick else LEARNING_RATES).items():
        for lr in rates:
            overrides = {**shared, "optimizer.name": name, "optimizer.learning_rate": lr}
            runs.append(Run(f"{name}_lr{lr:g}", overrides, {"optimizer": name, "lr": f"{lr:g}"}))
    return Sweep(
        name="optimizers",
        claim=CLAIM,
        notes=NOTES,
        base=cifar10.get_config,
        runs=tuple(runs),
        num_seeds=common.seeds(quick),
        figures=("test_accuracy", "best_val_accuracy", "final_train_loss", "final_gap"),
        curves=("train_loss", "val_accuracy"),
        best_by=("optimizer", "best_val_accuracy"),
        grid="lr",
        comparisons=COMPARISONS,
    )
