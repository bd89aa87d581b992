"""Multi-layer perceptron on flattened images: the no-locality baseline."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from cnnjax.layers import activation


class MLP(nn.Module):
    """Flatten (N, H, W, C) -> [Dense -> act -> Dropout] * len(hidden) -> Dense(num_classes).

    Sows each hidden layer's output as intermediates 'hidden{i}', and the classifier's input
    (after dropout, the identity at inference) as 'penultimate'.
    """

    num_classes: int
    hidden_sizes: Sequence[int] = (256, 128)
    act: str = "relu"
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = x.reshape((x.shape[0], -1))
        for i, width in enumerate(self.hidden_sizes):
            x = activation(self.act)(nn.Dense(width, name=f"dense{i}")(x))
            self.sow("intermediates", f"hidden{i}", x)
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        self.sow("intermediates", "penultimate", x)
        return nn.Dense(self.num_classes, name="head")(x)
