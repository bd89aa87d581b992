"""Batch normalisation: the `norm` factory that blocks and models take."""

from __future__ import annotations

import functools
from typing import Callable

import flax.linen as nn


def batch_norm(train: bool, momentum: float = 0.9) -> Callable[..., nn.BatchNorm]:
    """The `norm` factory that blocks take: BatchNorm normalising with the batch's statistics
    (and updating the running averages with `momentum`) when `train`, else with the running
    averages.

    A BatchNorm made with `train` updates, on each call (with the 'batch_stats' collection
    mutable), the running mean and variance per channel as Flax's nn.BatchNorm does:

        ra = momentum * ra + (1 - momentum) * batch_stat

    (batch_stat the batch's mean, or its biased variance). `momentum` is thus the weight kept
    on the old average, the opposite of PyTorch's convention, where nn.BatchNorm2d's momentum
    weights the new statistic (ra = (1 - m) * ra + m * batch_stat, with the unbiased
    variance): momentum 0.9 here is PyTorch's momentum 0.1 (its default), and in general
    momentum = 1 - momentum_torch.
    """
    return functools.partial(nn.BatchNorm, use_running_average=not train, momentum=momentum)
