"""Optimizers compared at equal budget, each at the best of its own learning rates."""

from experiments.configs import cifar10
from experiments.sweeps import common
from experiments.sweeps.engine import Run, Sweep

CLAIM = (
    "Adaptive methods (AdaGrad, RMSprop, Adam, AdamW) drive the training loss down faster than "
    "plain SGD, but SGD with momentum generalises better than Adam: higher test accuracy, each "
    "optimizer at the learning rate that gives it the best validation accuracy."
)

# optimizer: the learning rates tried (peak of a cosine schedule; a decade around the usual).
LEARNING_RATES = {
    "sgd": (0.03, 0.1, 0.3),
    "momentum": (0.01, 0.03, 0.1),
    "nesterov": (0.01, 0.03, 0.1),
    "adagrad": (0.01, 0.03, 0.1),
    "rmsprop": (3e-4, 1e-3, 3e-3),
    "adam": (3e-4, 1e-3, 3e-3),
    "adamw": (3e-4, 1e-3, 3e-3),
}
QUICK_GRID = {"sgd": (0.1,), "momentum": (0.03,), "adam": (1e-3,)}


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
        base=cifar10.get_config,
        runs=tuple(runs),
        num_seeds=common.seeds(quick),
        figures=("test_accuracy", "best_val_accuracy", "final_train_loss", "final_gap"),
        curves=("train_loss", "val_accuracy"),
        best_by=("optimizer", "best_val_accuracy"),
    )
