"""Under- and over-fitting: capacity against data, the learning rate, and when to stop."""

import os

from cnnjax import report
from experiments.configs import fashion_mnist
from experiments.sweeps import common
from experiments.sweeps.engine import Run, Sweep, epoch_curve, seed_histories
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "A model too small for its data under-fits (low training and test accuracy); one too large "
    "for its data over-fits (training accuracy far above test, a growing validation loss). "
    "A learning rate too low barely trains and one too high fails; reducing the learning rate "
    "on a plateau, with early stopping, matches a tuned fixed schedule without knowing it."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    Comparison(
        "the narrow net under-fits (lower training accuracy than medium)", "narrow_nall",
        "medium_nall", figure="final_train_accuracy", claim="lower",
    ),
    Comparison(
        "medium over-fits 1,000 images more than all (larger gap)", "medium_n1000",
        "medium_nall", figure="final_gap",
    ),
    Comparison("too low an lr under-fits", "lr_too_low", "schedule_cosine", claim="lower"),
    Comparison(
        "plateau + early stopping matches cosine (within 0.5 points)",
        "schedule_plateau_early_stop", "schedule_cosine", claim="similar", margin=0.005,
    ),
    Comparison(
        "plateau + early stopping needs fewer epochs", "schedule_plateau_early_stop",
        "schedule_cosine", figure="epochs_run", claim="lower",
    ),
)


WIDTHS = {  # name: (SmallCNN widths, dense head units)
    "narrow": ((4, 8, 16), 16),
    "medium": ((32, 64, 128), 256),
    "wide": ((96, 192, 384), 1024),
}
TRAIN_SIZES = (1000, 5000, 0)  # 0: all 55,000
SCHEDULES = {  # name: overrides (constant lr 0.05 unless the schedule says otherwise)
    "cosine": {"schedule.name": "cosine"},
    "constant": {"schedule.name": "constant"},
    "plateau": {"schedule.name": "constant", "plateau.enabled": True, "plateau.patience": 2},
    "plateau_early_stop": {
        "schedule.name": "constant",
        "plateau.enabled": True,
        "plateau.patience": 2,
        "early_stopping.enabled": True,
        "early_stopping.metric": "val_loss",
        "early_stopping.patience": 4,
    },
}
LEARNING_RATES = {"lr_too_low": 1e-4, "lr_too_high": 3.0}


def get_sweep(quick: bool) -> Sweep:
    # Fashion-MNIST, SmallCNN with batch norm, no dropout, no L2, no augmentation.
    shared = {
        **common.budget(quick, epochs=20),
        "loss.l2": 0.0,
        "dataset.augment.horizontal_flip": False,
    }
    sizes = (1000,) if quick else TRAIN_SIZES
    widths = ("narrow", "wide") if quick else tuple(WIDTHS)
    runs = []
    for width in widths:
        for size in sizes:
            w, hidden = WIDTHS[width]
            overrides = {**shared, **common.small_cnn(widths=w, hidden=hidden)}
            overrides["dataset.train_size"] = size
            overrides["dataset.subset_per_seed"] = size > 0  # seeds vary the data too
            n = f"{size:,}" if size else "all"
            labels = {"part": "capacity x data", "model": width, "train images": n}
            runs.append(Run(f"{width}_n{size or 'all'}", overrides, labels))
    base = {**shared, **common.small_cnn()}
    for name, lr in LEARNING_RATES.items():
        labels = {"part": "learning rate", "model": "medium", "lr": f"{lr:g}"}
        runs.append(Run(name, {**base, "optimizer.learning_rate": lr}, labels))
    for name in ("cosine", "plateau_early_stop") if quick else tuple(SCHEDULES):
        labels = {"part": "schedule", "model": "medium", "schedule": name}
        runs.append(Run(f"schedule_{name}", {**base, **SCHEDULES[name]}, labels))
    return Sweep(
        name="fitting",
        claim=CLAIM,
        comparisons=COMPARISONS,
        base=fashion_mnist.get_config,
        runs=tuple(runs),
        num_seeds=common.seeds(quick),
        figures=(
            "test_accuracy",
            "final_train_accuracy",
            "final_gap",
            "final_val_loss",
            "epochs_run",
        ),
        curves=("train_loss", "val_loss"),
        plots=plots,
    )


def plots(sweep: Sweep, workdir: str, results_dir: str, summaries: dict[str, dict]) -> list[str]:
    """Learning curves, training against validation loss per epoch (mean over seeds), a panel
    per run: `learning_curves.png` for capacity x data (the gap between the two lines is the
    over-fitting), `learning_curves_lr_schedule.png` for the learning rates and schedules."""
    written = []
    for name, parts in (
        ("learning_curves.png", ("capacity x data",)),
        ("learning_curves_lr_schedule.png", ("learning rate", "schedule")),
    ):
        panels = {}
        for run in sweep.runs:
            if run.labels["part"] not in parts or "diverged" in summaries[run.name]:
                continue
            histories = seed_histories(os.path.join(workdir, run.name), summaries[run.name])
            title = ", ".join(v for k, v in run.labels.items() if k != "part")
            panels[title] = {
                "train loss": epoch_curve(histories, "train_loss")[1],
                "validation loss": epoch_curve(histories, "val_loss")[1],
            }
        if not panels:
            continue
        report.plot_panels(
            os.path.join(results_dir, name),
            panels,
            "epoch",
            "loss (log)",
            log=True,
            title=f"fitting: training against validation loss ({', '.join(parts)})",
        )
        written.append(name)
    return written
