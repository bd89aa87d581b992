"""Input normalisation: per-channel standardisation against [0, 1] against raw pixels."""

from experiments.configs import cifar10
from experiments.sweeps import common
from experiments.sweeps.grid import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "Standardising the inputs with per-channel training statistics trains faster and at least "
    "as well as scaling to [0, 1], and raw 0-255 pixels train worst (or diverge) at the same "
    "learning rate; batch norm inside the network removes most of the difference."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    Comparison("standardising beats scaling to [0, 1]", "standardize", "scale01"),
    Comparison("standardising beats raw pixels", "standardize", "none"),
    Comparison(
        "with batch norm, [0, 1] matches standardising", "scale01_bn", "standardize_bn",
        claim="similar", margin=0.01,
    ),
    Comparison(
        "with batch norm, raw pixels match standardising", "none_bn", "standardize_bn",
        claim="similar", margin=0.01,
    ),
)


NORMALIZE = {
    "standardize": "standardised (train mean/std per channel)",
    "scale01": "scaled to [0, 1]",
    "none": "raw 0-255",
}


# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = """
This is a reduced grid: the command trains for fewer epochs on fewer images than the sweep's
full budget (`epochs=15`, `train_size=10000`), on a CPU that other work shared: SmallCNN
`32-64-128`, momentum SGD at peak `learning_rate=0.02` (cosine), no augmentation;
`epochs_to_target` is the first epoch with `60%` validation accuracy.

Without batch norm the input scale decides everything. Standardised inputs reach
{{pct test_accuracy standardize}} test accuracy (training loss
{{mean final_train_loss standardize}}), inputs scaled to `[0, 1]` only
{{pct test_accuracy scale01}} ({{mean final_train_loss scale01}}; {{points 1}}), and their
validation accuracy lags at every epoch. Neither reaches the target, so "trains faster" shows
only in the curves. Raw `0-255` pixels diverged in the first epoch at the same learning rate; a
diverged row gets no verdict (the verdict table). With batch norm after every convolution the
three inputs end level ({{pct test_accuracy standardize_bn}}, {{pct test_accuracy scale01_bn}}
and {{pct test_accuracy none_bn}}): `[0, 1]` and raw pixels each match standardising within
the margin ({{points 3}}; {{points 4}}), and all three reach the target at about the same
epoch. These batch-norm nets also end above every net without it, though no comparison tests
that.
"""


def get_sweep(quick: bool) -> Sweep:
    # SmallCNN `32-64-128` without and with batch norm, momentum lr 0.02, no augmentation;
    # 10,000 CIFAR-10 training images for 15 epochs in the full grid.
    shared = {
        **common.budget(quick, epochs=15, train_size=10_000),
        "optimizer.learning_rate": 0.02,
        "dataset.augment.crop_padding": 0,
        "dataset.augment.horizontal_flip": False,
    }
    runs = []
    for bn in (False,) if quick else (False, True):
        for mode, label in NORMALIZE.items():
            overrides = {**shared, **common.small_cnn(batch_norm=bn), "dataset.normalize": mode}
            labels = {"input": label, "batch norm": "yes" if bn else "no"}
            runs.append(Run(f"{mode}{'_bn' if bn else ''}", overrides, labels))
    return Sweep(
        name="normalisation",
        claim=CLAIM,
        notes=NOTES,
        comparisons=COMPARISONS,
        base=cifar10.get_config,
        runs=tuple(runs),
        num_seeds=common.seeds(quick),
        figures=("test_accuracy", "final_train_loss", "best_val_accuracy"),
        curves=("train_loss", "val_accuracy"),
        target_accuracy=0.2 if quick else 0.6,
    )
