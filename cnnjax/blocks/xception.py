"""Xception's residual block of depthwise separable convolutions (Chollet 2017, figure 5).

    y = main(x) + shortcut(x)
    main:     [act -> SeparableConv 3x3 features[i] -> norm] for each i, then, if strides > 1,
              a 3x3 max pool with that stride (SAME)
    shortcut: identity if the shape is kept, else a strided 1x1 conv to features[-1] -> norm

Input (N, H, W, C), output (N, ceil(H/s), ceil(W/s), features[-1]). Each separable conv
C_in -> C_out has 9*C_in + C_in*C_out weights (`cnnjax.layers.SeparableConv2D`; no bias, the
norm follows), against 9*C_in*C_out for a full 3x3 conv.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import flax.linen as nn
import jax

from cnnjax.layers import Conv1x1, SeparableConv2D, max_pool

ModuleDef = Any


class XceptionBlock(nn.Module):
    """One Xception block; `pre_act=False` drops the first activation (the entry flow's first
    block follows the stem's ReLU). `sep_conv` builds the separable convs (a partial of
    SeparableConv2D, e.g. with `impl`), `conv` the 1x1 shortcut, `norm` e.g. a BatchNorm partial.
    """

    features: Sequence[int]
    strides: int = 1
    pre_act: bool = True
    sep_conv: ModuleDef = SeparableConv2D
    conv: ModuleDef = Conv1x1
    norm: ModuleDef = nn.BatchNorm
    act: Callable[[jax.Array], jax.Array] = nn.relu

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = x
        for i, width in enumerate(self.features):
            if i or self.pre_act:
                y = self.act(y)
            y = self.sep_conv(width, (3, 3), use_bias=False, name=f"sepconv{i}")(y)
            y = self.norm(name=f"norm{i}")(y)
        if self.strides > 1:
            y = max_pool(y, 3, self.strides, "SAME")
        if self.strides > 1 or x.shape[-1] != self.features[-1]:
            x = self.conv(self.features[-1], strides=self.strides, use_bias=False, name="shortcut")(
                x
            )
            x = self.norm(name="shortcut_norm")(x)
        return x + y
