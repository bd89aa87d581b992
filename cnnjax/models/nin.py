"""Network in Network (Lin, Chen & Yan 2014), the CIFAR-10 model of the authors' Caffe release.

An mlpconv block is a k x k conv followed by 1x1 convs, each followed by ReLU: a small MLP
shared across every k x k patch (`NiNBlock`). On a 32x32 input:

    mlpconv 5x5: 192, 160, 96 -> max pool 3x3/2 -> Dropout(0.5)           32 -> 16
    mlpconv 5x5: 192, 192, 192 -> avg pool 3x3/2 -> Dropout(0.5)           16 -> 8
    mlpconv 3x3: 192, 192, then a 1x1 conv to num_classes (no ReLU)          8 -> 8
    global average pool -> logits (N, num_classes); no dense layer.

966,986 parameters for 10 classes: 14,592 + 30,880 + 15,456 | 460,992 + 37,056 + 37,056 |
331,968 + 37,056 + 1,930. The pools use Caffe's ceil rounding (here 'SAME' padding, whose extra
row and column go after, at the bottom and right, and count neither for the max nor in the
average's divisor); the convs keep the size (padding k // 2).

Differences from the Caffe model: its last 1x1 conv is followed by a ReLU before the global
pool, which would make every logit >= 0; here the class maps are the logits' pre-pooling maps
as written in the paper. Initialisation is Flax's default (lecun normal), not Caffe's Gaussians.
Sows 'stage0' and 'stage1' (the pooled maps, before dropout), 'penultimate' (the
(N, H/4, W/4, 192) maps entering the last 1x1 conv) and 'stage2' (the class confidence maps,
(N, H/4, W/4, num_classes)).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Callable

import flax.linen as nn
import jax

from cnnjax.layers import Conv1x1, Conv2D, activation, avg_pool, global_avg_pool, max_pool

ModuleDef = Any


class NiNBlock(nn.Module):
    """mlpconv: conv k x k -> act, then conv 1x1 -> act for each further width in `features`.

    (N, H, W, C) -> (N, H, W, features[-1]); parameters k*k*C*f0 + f0 + sum f_{i-1}*f_i + f_i.
    `conv` is a factory of `Conv2D`-like layers (features, kernel_size, padding=..., name=...).
    """

    features: Sequence[int]
    kernel_size: int
    conv: ModuleDef = Conv2D
    act: Callable[[jax.Array], jax.Array] = nn.relu

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, p = self.kernel_size, self.kernel_size // 2
        x = self.act(self.conv(self.features[0], (k, k), padding=((p, p), (p, p)), name="conv0")(x))
        for i, width in enumerate(self.features[1:], start=1):
            x = self.act(self.conv(width, (1, 1), name=f"conv{i}")(x))
        return x


class NiN(nn.Module):
    """NiN for CIFAR; input (N, H, W, C) of any size (32x32 by design) -> (N, num_classes)."""

    num_classes: int
    dropout_rate: float = 0.5
    act: str = "relu"
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        block = functools.partial(
            NiNBlock, conv=functools.partial(Conv2D, impl=self.conv_impl), act=activation(self.act)
        )
        x = block((192, 160, 96), 5, name="mlpconv0")(x)
        x = max_pool(x, 3, 2, padding="SAME")
        self.sow("intermediates", "stage0", x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        x = block((192, 192, 192), 5, name="mlpconv1")(x)
        x = avg_pool(x, 3, 2, padding="SAME")
        self.sow("intermediates", "stage1", x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        x = block((192, 192), 3, name="mlpconv2")(x)
        self.sow("intermediates", "penultimate", x)
        x = Conv1x1(self.num_classes, impl=self.conv_impl, name="classifier")(x)
        self.sow("intermediates", "stage2", x)
        return global_avg_pool(x)


MODELS = {"nin": NiN}
