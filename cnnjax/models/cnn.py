"""A small VGG-style CNN with switches for batch norm and dropout (the regularisation testbed)."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from cnnjax.layers import Conv2D, activation


class SmallCNN(nn.Module):
    """Stages of [Conv3x3 -> (BatchNorm) -> act] * convs_per_stage -> MaxPool2 -> (Dropout).

    Input (N, H, W, C); each stage halves H and W. The head flattens, applies
    Dense(hidden) -> act -> Dropout(dropout_rate) -> Dense(num_classes).
    Sows intermediates 'stage{i}' (after pooling) and 'penultimate'.
    """

    num_classes: int
    widths: Sequence[int] = (32, 64, 128)
    convs_per_stage: int = 2
    hidden: int = 256
    act: str = "relu"
    batch_norm: bool = True
    conv_dropout_rate: float = 0.0  # after each stage's pooling
    dropout_rate: float = 0.0  # in the dense head
    bn_momentum: float = 0.9
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        act = activation(self.act)
        for i, width in enumerate(self.widths):
            for j in range(self.convs_per_stage):
                x = Conv2D(
                    width,
                    (3, 3),
                    use_bias=not self.batch_norm,
                    impl=self.conv_impl,
                    name=f"conv{i}_{j}",
                )(x)
                if self.batch_norm:
                    x = nn.BatchNorm(
                        use_running_average=not train, momentum=self.bn_momentum, name=f"bn{i}_{j}"
                    )(x)
                x = act(x)
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
            self.sow("intermediates", f"stage{i}", x)
            x = nn.Dropout(self.conv_dropout_rate, deterministic=not train)(x)
        x = x.reshape((x.shape[0], -1))
        x = act(nn.Dense(self.hidden, name="dense")(x))
        self.sow("intermediates", "penultimate", x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="head")(x)
