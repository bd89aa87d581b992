"""Multi-layer perceptron on flattened images: the no-locality baseline."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from cnnjax.layers import activation, initializer


class MLP(nn.Module):
    """Flatten (N, H, W, C) -> [Dense -> (BatchNorm) -> act -> Dropout] * len(hidden) -> Dense.

    Sows each hidden layer's output as intermediates 'hidden{i}', and the classifier's input
    (after dropout, the identity at inference) as 'penultimate'.
    """

    num_classes: int
    hidden_sizes: Sequence[int] = (256, 128)
    act: str = "relu"
    dropout_rate: float = 0.0
    batch_norm: bool = False  # BatchNorm between each hidden Dense and its activation
    kernel_init: str = "lecun_normal"  # of every kernel (cnnjax.layers.INITIALIZERS)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = x.reshape((x.shape[0], -1))
        act, init = activation(self.act), initializer(self.kernel_init)
        for i, width in enumerate(self.hidden_sizes):
            x = nn.Dense(width, use_bias=not self.batch_norm, kernel_init=init, name=f"dense{i}")(x)
            if self.batch_norm:
                x = nn.BatchNorm(use_running_average=not train, name=f"bn{i}")(x)
            x = act(x)
            self.sow("intermediates", f"hidden{i}", x)
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        self.sow("intermediates", "penultimate", x)
        return nn.Dense(self.num_classes, kernel_init=init, name="head")(x)
