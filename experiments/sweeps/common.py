"""What several sweeps share: the training budget of a full or QUICK grid, the CNN testbed."""

from __future__ import annotations

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
