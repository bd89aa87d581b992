"""A small VGG-style CNN with switches for the ablation sweeps (the regularisation testbed).

Each switch replaces one part and nothing else:
  conv  'standard' 3x3 convolutions, or 'separable' ones (depthwise 3x3 then pointwise 1x1,
        cnnjax.layers.SeparableConv2D; about 1/C_out + 1/9 of the weights);
  pool  'max' or 'avg' 2x2/2 pooling, or 'conv': a learned 3x3 convolution with stride 2 at
        the stage's width (followed by the same norm and activation) in place of pooling;
  head  'dense': flatten -> Dense(hidden) -> act -> Dropout -> Dense(num_classes); or 'gap':
        Dropout -> global average pool -> Dense(num_classes), which equals a 1x1 convolution to
        num_classes channels followed by global average pooling (both maps are linear, so they
        commute; same parameters), the head of NiN and GoogLeNet and the one CAM needs.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax

from cnnjax.layers import (
    Conv2D,
    SeparableConv2D,
    activation,
    avg_pool,
    global_avg_pool,
    initializer,
    max_pool,
)

CONVS = ("standard", "separable")
POOLS = ("max", "avg", "conv")
HEADS = ("dense", "gap")


class SmallCNN(nn.Module):
    """Stages of [Conv3x3 -> (BatchNorm) -> act] * convs_per_stage -> pool -> (Dropout).

    Input (N, H, W, C); each stage halves H and W (pooling floors odd sizes, a strided conv
    rounds up). The head is described in the module docstring.
    Sows intermediates 'stage{i}' (after pooling) and 'penultimate' (the head's input features).
    """

    num_classes: int
    widths: Sequence[int] = (32, 64, 128)
    convs_per_stage: int = 2
    hidden: int = 256
    act: str = "relu"
    batch_norm: bool = True
    conv_dropout_rate: float = 0.0  # after each stage's pooling
    dropout_rate: float = 0.0  # in the head, before its last Dense
    bn_momentum: float = 0.9
    conv: str = "standard"  # 'standard' or 'separable' 3x3 convolutions
    pool: str = "max"  # 'max', 'avg' or 'conv' (strided 3x3 convolution)
    head: str = "dense"  # 'dense' (flatten + hidden layer) or 'gap' (global average pool)
    kernel_init: str = "lecun_normal"  # of every kernel (cnnjax.layers.INITIALIZERS)
    conv_impl: str = "auto"

    def _check(self) -> None:
        for field, value, valid in (
            ("conv", self.conv, CONVS),
            ("pool", self.pool, POOLS),
            ("head", self.head, HEADS),
        ):
            if value not in valid:
                raise ValueError(f"SmallCNN.{field} must be one of {valid}, got {value!r}")

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        self._check()
        act = activation(self.act)
        init = initializer(self.kernel_init)
        layer = functools.partial(
            SeparableConv2D if self.conv == "separable" else Conv2D, kernel_init=init
        )

        def conv_norm_act(x, width, strides, name):
            x = layer(
                width,
                (3, 3),
                strides=strides,
                use_bias=not self.batch_norm,
                impl=self.conv_impl,
                name=f"conv{name}",
            )(x)
            if self.batch_norm:
                x = nn.BatchNorm(
                    use_running_average=not train, momentum=self.bn_momentum, name=f"bn{name}"
                )(x)
            return act(x)

        for i, width in enumerate(self.widths):
            for j in range(self.convs_per_stage):
                x = conv_norm_act(x, width, 1, f"{i}_{j}")
            if self.pool == "conv":
                x = conv_norm_act(x, width, 2, f"{i}_pool")
            else:
                x = (max_pool if self.pool == "max" else avg_pool)(x, 2, 2)
            self.sow("intermediates", f"stage{i}", x)
            x = nn.Dropout(self.conv_dropout_rate, deterministic=not train)(x)
        if self.head == "dense":
            x = x.reshape((x.shape[0], -1))
            x = act(nn.Dense(self.hidden, kernel_init=init, name="dense")(x))
            self.sow("intermediates", "penultimate", x)
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        else:
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
            x = global_avg_pool(x)
            self.sow("intermediates", "penultimate", x)
        return nn.Dense(self.num_classes, kernel_init=init, name="head")(x)
