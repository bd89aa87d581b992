"""A 1-D CNN for sequences such as SNP genotypes (Pérez-Enciso & Zingaretti 2019, figure 2).

Sequences are one-row NHWC images, (N, 1, L, C), so 1-D convolution and pooling are the 2-D
layers with 1 x k windows and the model keeps the registry's contract:

    [Conv(1 x kernel_size, SAME) -> act -> max pool (1 x pool)] * len(widths)
        -> flatten -> Dense(hidden) -> act -> Dropout -> Dense(num_classes)

`num_classes=1` makes it a regression model (one output per example). Parameters: per conv
layer k*C_in*C_out + C_out; then (L / pool**len(widths)) * widths[-1] * hidden + hidden for the
dense layer and hidden*K + K for the head.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from cnnjax.layers import Conv2D, activation, max_pool


class CNN1D(nn.Module):
    """Sows intermediates 'stage{i}' (after each pooling) and 'penultimate'."""

    num_classes: int
    widths: Sequence[int] = (16, 32)
    kernel_size: int = 5
    pool: int = 2
    hidden: int = 64
    act: str = "relu"
    dropout_rate: float = 0.0
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"CNN1D expects one-row images (N, 1, L, C), got {x.shape}")
        act = activation(self.act)
        for i, width in enumerate(self.widths):
            x = act(Conv2D(width, (1, self.kernel_size), impl=self.conv_impl, name=f"conv{i}")(x))
            x = max_pool(x, (1, self.pool))
            self.sow("intermediates", f"stage{i}", x)
        x = act(nn.Dense(self.hidden, name="dense")(x.reshape((x.shape[0], -1))))
        self.sow("intermediates", "penultimate", x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="head")(x)


MODELS = {"cnn1d": CNN1D}
