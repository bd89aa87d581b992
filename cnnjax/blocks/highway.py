"""Highway layers (Srivastava, Greff & Schmidhuber, 2015): learned gates between a
transformation and the identity.

    y = H(x) * T(x) + x * (1 - T(x)),   H(x) = act(W_H x + b_H),   T(x) = sigmoid(W_T x + b_T)

With the transform gate's bias b_T initialised negative (the paper: -1 to -3; here `gate_bias`,
default -2, T ~ sigmoid(-2) = 0.12) every layer starts close to carrying its input through,
so very deep stacks still pass signals and gradients. The output keeps x's shape, as the
gate mixes H(x) and x element-wise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import flax.linen as nn
import jax

from cnnjax.layers import Conv2D

ModuleDef = Any


def _highway(h: jax.Array, t: jax.Array, x: jax.Array) -> jax.Array:
    return h * t + x * (1.0 - t)


class HighwayDense(nn.Module):
    """A fully connected highway layer on (..., D) -> (..., D).

    Parameters 'transform' (H: D x D kernel, D bias) and 'gate' (T: D x D kernel, D bias
    initialised to gate_bias): 2*(D*D + D) in all.
    """

    act: Callable[[jax.Array], jax.Array] = nn.relu
    gate_bias: float = -2.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        d = x.shape[-1]
        h = self.act(nn.Dense(d, name="transform")(x))
        gate_init = nn.initializers.constant(self.gate_bias)
        t = jax.nn.sigmoid(nn.Dense(d, bias_init=gate_init, name="gate")(x))
        return _highway(h, t, x)


class HighwayConv(nn.Module):
    """A convolutional highway layer on NHWC (N, H, W, C) -> (N, H, W, C), SAME padding.

    H and T are k x k convolutions C -> C built by `conv` (e.g. a partial of Conv2D with its
    `impl`): parameters 2*(k*k*C*C + C), the gate's bias initialised to gate_bias.
    """

    kernel_size: Sequence[int] = (3, 3)
    conv: ModuleDef = Conv2D
    act: Callable[[jax.Array], jax.Array] = nn.relu
    gate_bias: float = -2.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        h = self.act(self.conv(c, self.kernel_size, padding="SAME", name="transform")(x))
        gate_init = nn.initializers.constant(self.gate_bias)
        gate = self.conv(c, self.kernel_size, padding="SAME", bias_init=gate_init, name="gate")
        return _highway(h, jax.nn.sigmoid(gate(x)), x)
