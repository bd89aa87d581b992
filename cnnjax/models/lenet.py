"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998) in its original and its modern form.

Both are C1 conv5x5x6 -> S2 pool2 -> C3 conv5x5x16 -> S4 pool2 -> C5 dense 120 -> F6 dense 84 ->
output, 61,706 parameters for 10 classes on a 32x32 (or SAME-padded 28x28) input:
  conv1 6*(5*5*1+1)=156, conv2 16*(5*5*6+1)=2,416, dense 400*120+120=48,120,
  84*120+84=10,164, 10*84+10=850.
The 1998 form uses the scaled tanh f(x)=1.7159 tanh(2x/3), average pooling and zero-pads a
28x28 input to 32x32 as the paper did. Its C3 here connects every S2 map to every C3 map and the
output layer is a dense layer, not the paper's partial connection table and RBF units.
The modern form uses ReLU, max pooling and a SAME-padded first convolution.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.layers import Conv2D, activation, avg_pool, max_pool


class LeNet5(nn.Module):
    """LeNet-5 with configurable activation and pooling; input (N, H, W, C) with H, W >= 28.

    Sows intermediates named after the paper's layers: C1, S2, C3, S4, C5, F6, and F6 again as
    'penultimate' (the classifier's input).
    """

    num_classes: int
    act: str = "relu"
    pool: str = "max"  # 'max' or 'avg'
    pad_input_to: int = 0  # zero-pad H and W up to this size (0: no padding)
    first_conv_padding: str = "SAME"
    dropout_rate: float = 0.0  # on the C5 and F6 activations
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.pad_input_to:
            ph, pw = self.pad_input_to - x.shape[1], self.pad_input_to - x.shape[2]
            if ph < 0 or pw < 0:
                raise ValueError(
                    f"input {x.shape[1]}x{x.shape[2]} is larger than "
                    f"pad_input_to={self.pad_input_to}"
                )
            x = jnp.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
        act = activation(self.act)
        if self.pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {self.pool!r}")
        pool = max_pool if self.pool == "max" else avg_pool
        x = act(
            Conv2D(6, (5, 5), padding=self.first_conv_padding, impl=self.conv_impl, name="conv1")(x)
        )
        self.sow("intermediates", "C1", x)
        x = pool(x, 2)
        self.sow("intermediates", "S2", x)
        x = act(Conv2D(16, (5, 5), padding="VALID", impl=self.conv_impl, name="conv2")(x))
        self.sow("intermediates", "C3", x)
        x = pool(x, 2)
        self.sow("intermediates", "S4", x)
        x = x.reshape((x.shape[0], -1))
        for width, layer, name in ((120, "dense1", "C5"), (84, "dense2", "F6")):
            x = act(nn.Dense(width, name=layer)(x))
            self.sow("intermediates", name, x)
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        self.sow("intermediates", "penultimate", x)
        return nn.Dense(self.num_classes, name="head")(x)


# The 1998 form: scaled tanh, average pooling, input zero-padded to 32x32, VALID C1.
LeNet5_1998 = functools.partial(
    LeNet5, act="scaled_tanh", pool="avg", pad_input_to=32, first_conv_padding="VALID"
)
