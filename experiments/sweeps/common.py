"""What several sweeps share: the training budget of a full or QUICK grid, the CNN testbed."""

from __future__ import annotations

import textwrap
from typing import Any

# QUICK: 2 epochs on 2,000 training images, 2 seeds (minutes on 2 CPU cores).
QUICK_EPOCHS, QUICK_TRAIN_SIZE, QUICK_SEEDS = 2, 2000, 2
FULL_SEEDS = 3


def budget(quick: bool, epochs: int, train_size: int = 0) -> dict[str, Any]:
    """Overrides for the training budget: `epochs` on `train_size` images (0: all), or QUICK's."""
    if quick:
        return {"epochs": QUICK_EPOCHS, "dataset.train_size": QUICK_TRAIN_SIZE}
    return {"epochs": epochs, "dataset.train_size": train_size}


def seeds(quick: bool) -> int:
    return QUICK_SEEDS if quick else FULL_SEEDS


def small_cnn(**fields: Any) -> dict[str, Any]:
    """Overrides selecting SmallCNN 32-64-128 (one 3x3 conv per stage, batch norm, 256-unit
    dense head, no dropout) with `fields` changed."""
    defaults = {
        "widths": (32, 64, 128),
        "convs_per_stage": 1,
        "hidden": 256,
        "batch_norm": True,
        "dropout_rate": 0.0,
        "conv_dropout_rate": 0.0,
    }
    args = {f"model_args.small_cnn.{k}": v for k, v in {**defaults, **fields}.items()}
    return {"model": "small_cnn", **args}


def gpu_cifar_copy(name: str) -> str:
    """A sweep's notes paragraph for rows trained on a lent GPU with the cut-down CIFAR-10 copy
    (the project's CPU takes hours for these grids)."""
    text = (
        "These rows trained on an NVIDIA H200 lent to one session, not on the project's CPU, "
        "with a cut-down copy of the CIFAR-10 binary release (that machine accepts few files): "
        "the first `3000` records of each `data_batch_*.bin` and the first `5000` of "
        "`test_batch.bin`, so `test_accuracy` is over those test images. To rerun on the same "
        "data: `head -c $((3000*3073))` of each training file and `head -c $((5000*3073))` of "
        "the test file into `<dir>/cifar10/cifar-10-batches-bin/` (with `batches.meta.txt`), "
        f"then `CNNJAX_DATA_DIR=<dir> python -m experiments.sweep --sweep={name}`. Other sweep "
        "processes shared that GPU, so the training times are not speed figures."
    )
    return textwrap.fill(text, 95, break_on_hyphens=False, break_long_words=False) + "\n"
