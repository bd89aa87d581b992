"""Data augmentation on a small training set: each transform alone and all together."""

from experiments.configs import cifar10
from experiments.sweeps import common
from experiments.sweeps.grid import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "On a small training set (2,000 CIFAR-10 images) a CNN over-fits: the validation loss "
    "turns up while the training loss falls. Random transforms of the training images "
    "(cnnjax.augment) reduce the over-fitting and raise validation accuracy; geometric "
    "transforms that keep the class (flips, shifts, crops) help most."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    *(
        Comparison(f"{t} narrows the over-fitting gap", t, "none", figure="final_gap",
                   claim="lower")
        for t in ("flip", "crop", "shift", "rotation", "shear", "zoom", "colour", "all")
    ),
    *(
        Comparison(f"{t} raises accuracy", t, "none")
        for t in ("flip", "crop", "shift", "rotation", "shear", "zoom", "colour", "all")
    ),
)


A = "dataset.augment."
# name: (augment overrides, label); the ranges are the usual Keras-example values.
GRID = {
    "none": ({}, "none"),
    "flip": ({A + "horizontal_flip": True}, "horizontal flip"),
    "crop": ({A + "crop_padding": 4}, "random crop (4 px padding)"),
    "shift": ({A + "width_shift_range": 0.1, A + "height_shift_range": 0.1}, "shift 10%"),
    "rotation": ({A + "rotation_range": 15.0}, "rotation 15 deg"),
    "shear": ({A + "shear_range": 10.0}, "shear 10 deg"),
    "zoom": ({A + "zoom_range": 0.1}, "zoom 10%"),
    "colour": (
        {A + "brightness": 0.2, A + "contrast": 0.2, A + "saturation": 0.2},
        "colour jitter",
    ),
    "all": (
        {
            A + "horizontal_flip": True,
            A + "width_shift_range": 0.1,
            A + "height_shift_range": 0.1,
            A + "rotation_range": 15.0,
            A + "shear_range": 10.0,
            A + "zoom_range": 0.1,
            A + "brightness": 0.2,
            A + "contrast": 0.2,
        },
        "all geometric + brightness/contrast",
    ),
}
QUICK_GRID = ("none", "shift", "all")


# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = """
Every run trains the batch-norm SmallCNN with no other regulariser (no dropout, no weight
penalty) for `epochs=30` on `2000` training images, each seed its own subset of the training
split (so the spread over seeds includes the choice of images). `final_gap` is the final
validation loss minus the final training loss.

Without augmentation the network memorises its training images (final training loss
{{mean final_train_loss none}}) and over-fits in the textbook way: its validation loss turns up
after the first epochs while the training loss keeps falling (`val_loss.png`). Every transform
but zoom narrows the gap of {{mean final_gap none}} detectably, by very different amounts:
shear only to {{mean final_gap shear}} and colour jitter to {{mean final_gap colour}},
rotation to {{mean final_gap rotation}}, random crop to {{mean final_gap crop}}, and all
transforms together most ({{mean final_gap all}}); the seeds do not separate zoom from none
({{verdict 6}}). Only the flip raises test accuracy detectably, from
{{pct test_accuracy none}} to {{pct test_accuracy flip}} ({{points 9}}); the seeds do not
separate the other transforms from none. All transforms together no longer fit the training
images in this budget (training loss {{mean final_train_loss all}}): that run under-fits, and a
longer schedule might let it gain more.
"""


def get_sweep(quick: bool) -> Sweep:
    # SmallCNN with batch norm, no dropout, no weight penalty: only augmentation regularises.
    shared = {
        **common.small_cnn(),
        "loss.l2": 0.0,
        A + "crop_padding": 0,
        A + "horizontal_flip": False,
        **common.budget(quick, epochs=30, train_size=2000),  # QUICK: 2,000 images too
        "dataset.subset_per_seed": True,  # each seed its own 2,000 images
    }
    runs = tuple(
        Run(name, {**shared, **GRID[name][0]}, {"augmentation": GRID[name][1]})
        for name in (QUICK_GRID if quick else GRID)
    )
    return Sweep(
        name="augment",
        claim=CLAIM,
        notes=NOTES,
        comparisons=COMPARISONS,
        base=cifar10.get_config,
        runs=runs,
        num_seeds=common.seeds(quick),
        figures=("best_val_accuracy", "test_accuracy", "final_gap", "final_train_loss"),
        curves=("val_loss", "val_accuracy", "train_loss"),
    )
