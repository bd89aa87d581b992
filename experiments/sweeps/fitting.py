"""Under- and over-fitting: capacity against data, the learning rate, and when to stop."""

import os

from cnnjax import report
from experiments.configs import fashion_mnist
from experiments.sweeps import common
from experiments.sweeps.figures import epoch_curve, seed_histories
from experiments.sweeps.grid import Run, Sweep
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

# What the results show, for results.md (figures are placeholders filled from results.json).
NOTES = """
**Data and recipe.** Fashion-MNIST from the canonical IDX files of the Debian package
`dataset-fashion-mnist`: the training split less a held-out validation set (`train_size=0`:
all `55000` images) or its first `1000` or `5000` images of a fixed shuffle, and the `10000`
test images for `test_accuracy`. These runs predate per-seed subsets: the seeds of a row share
one training subset and vary only the initialisation and batch order. SmallCNN with batch norm
(one 3x3 convolution per stage, no dropout, no L2, no augmentation) at three widths: narrow
`(4, 8, 16)` with a `16`-unit head, medium `(32, 64, 128)` / `256`, wide `(96, 192, 384)` /
`1024`; momentum SGD at lr `0.05`, batch `128`, `20` epochs, cosine decay unless the row says
otherwise (`plateau`: constant lr, halved after `2` epochs without a better validation loss;
`early_stop`: plus stopping after `4` such epochs and testing the best epoch's parameters).
`lr_too_high` diverged on the project's CPU within its first steps; a diverged run is a result
and was not retrained on the GPU. `final_gap` is the last epoch's validation loss minus its
training loss.

**Under-fitting.** Too small a model under-fits: narrow reaches only
{{pct final_train_accuracy narrow_nall}} training accuracy on all images and
{{pct test_accuracy narrow_nall}} test, where medium fits the same data to
{{pct final_train_accuracy medium_nall}} and tests at {{pct test_accuracy medium_nall}} (in
training accuracy {{points 1}}). Narrow's training and validation losses stay close (gap
{{mean final_gap narrow_nall}}) and both still fall slowly at the last epoch
(`learning_curves.png`).

**Over-fitting.** Too large a model for its data over-fits: medium on the `1000`- and
`5000`-image subsets reaches {{pct final_train_accuracy medium_n1000}} and
{{pct final_train_accuracy medium_n5000}} training accuracy against
{{pct test_accuracy medium_n1000}} and {{pct test_accuracy medium_n5000}} test, with gaps of
{{mean final_gap medium_n1000}} and {{mean final_gap medium_n5000}} against
{{mean final_gap medium_nall}} on all images (for the smallest subset {{diff 2}}). On the
`5000`-image subset its validation loss is lowest after the first epochs and climbs again, to
{{mean final_val_loss medium_n5000}} at the end, while the training loss keeps falling.

**Capacity against data.** More data raises the test accuracy of every width (the table), and
more capacity pays only with enough data: with all images wide has the highest mean
({{pct test_accuracy wide_nall}}); with the smallest subset it stays below medium
({{pct test_accuracy wide_n1000}} against {{pct test_accuracy medium_n1000}}) because so few
steps do not fit it (training accuracy {{pct final_train_accuracy wide_n1000}}): it
under-trains rather than over-fits. A rising validation loss is not falling accuracy: on all
images medium's validation loss is lowest after a few epochs and ends at
{{mean final_val_loss medium_nall}}, yet its validation accuracy goes on rising to the end; the
network grows over-confident on the images it gets wrong, and stopping at the validation-loss
minimum would have cost accuracy here.

**Learning rate and schedule.** `1e-4` barely trains in the budget:
{{pct final_train_accuracy lr_too_low}} training and {{pct test_accuracy lr_too_low}} test
accuracy with a gap of {{mean final_gap lr_too_low}}, an under-fit (against the cosine run at
`0.05`: {{points 3}}); `3.0` makes the loss non-finite within the first steps of every seed. On
all images, medium with a constant rate ends at {{pct test_accuracy schedule_constant}}, with
cosine decay at {{pct test_accuracy schedule_cosine}}, with reduce-on-plateau at
{{pct test_accuracy schedule_plateau}}, and with plateau + early stopping at
{{pct test_accuracy schedule_plateau_early_stop}} after
{{mean epochs_run schedule_plateau_early_stop}} epochs instead of `20`, a saving the verdict
table confirms ({{verdict 5}}). Plateau
reduction keeps the validation loss lowest ({{mean final_val_loss schedule_plateau}} against
{{mean final_val_loss schedule_cosine}} for cosine and
{{mean final_val_loss schedule_constant}} constant). Plateau + early stopping against cosine is
{{points 4}}: close on average, but over three seeds the interval is wider than the half-point
margin, so whether it matches the tuned schedule is {{verdict 4}}; the constant rate ends below
both.
"""


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
        notes=NOTES,
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
