"""Channel and spatial attention: squeeze-and-excitation, CBAM and ECA.

Each module maps an NHWC x (N, H, W, C) to x * a, with attention weights a in (0, 1) that
broadcast over x: (N, 1, 1, C) per channel, (N, H, W, 1) per position. None of them takes the
channel count as a field (they read C from x), so a block accepts any of them as a factory,
e.g. `attention=functools.partial(SqueezeExcite, reduction=8)`, and calls `attention()(y)` on
its residual branch before the addition.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.layers import Conv2D


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): a = sigmoid(W2 relu(W1 mean_hw(x) + b1) + b2).

    Squeeze: global average pool (N, C); excite: Dense C -> C/r ('reduce'), ReLU, Dense C/r -> C
    ('expand'), sigmoid; output x * a[:, None, None, :]. Parameters, with h = max(1, C // r):
    2*C*h + h + C, i.e. 2*C*C/r + C/r + C when r divides C.
    """

    reduction: int = 16

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        s = jnp.mean(x, axis=(1, 2))
        s = nn.relu(nn.Dense(max(1, c // self.reduction), name="reduce")(s))
        a = jax.nn.sigmoid(nn.Dense(c, name="expand")(s))
        return x * a[:, None, None, :]


class CBAM(nn.Module):
    """Convolutional block attention module (Woo et al. 2018): channel, then spatial attention.

    Channel: a_c = sigmoid(MLP(mean_hw(x)) + MLP(max_hw(x))), one MLP (Dense C -> C/r, ReLU,
    Dense C/r -> C) shared by both poolings; x' = x * a_c. Spatial: a_s = sigmoid(conv_k x k of
    [mean_c(x'), max_c(x')]), a (N, H, W, 2) -> (N, H, W, 1) conv with SAME padding; output
    x' * a_s. Parameters, h = max(1, C // r): 2*C*h + h + C (MLP) + 2*k*k + 1 (conv).
    The paper's spatial conv is followed by batch norm; here it has a bias and no norm.
    """

    reduction: int = 16
    spatial_kernel: int = 7

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        reduce = nn.Dense(max(1, c // self.reduction), name="reduce")
        expand = nn.Dense(c, name="expand")
        mlp = lambda s: expand(nn.relu(reduce(s)))
        a_c = jax.nn.sigmoid(mlp(jnp.mean(x, axis=(1, 2))) + mlp(jnp.max(x, axis=(1, 2))))
        x = x * a_c[:, None, None, :]
        pooled = jnp.concatenate(
            [jnp.mean(x, axis=-1, keepdims=True), jnp.max(x, axis=-1, keepdims=True)], axis=-1
        )
        k = self.spatial_kernel
        a_s = jax.nn.sigmoid(Conv2D(1, (k, k), padding="SAME", name="spatial")(pooled))
        return x * a_s


def eca_kernel_size(channels: int, gamma: float = 2.0, b: float = 1.0) -> int:
    """ECA's adaptive kernel size: t = int(|log2(C)/gamma + b/gamma|), made odd (t or t + 1).

    E.g. C = 64: t = int(3.5) = 3; C = 256: t = int(4.5) = 4 -> 5.
    """
    t = int(abs(math.log2(channels) / gamma + b / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    """Efficient channel attention (Wang et al. 2020): a = sigmoid(conv1d_k(mean_hw(x))).

    The pooled (N, C) descriptor is convolved across channels by one 1-D kernel of size k (zero
    padding (k - 1)/2 each side, no bias), so each channel's weight sees its k neighbours:
    k parameters in all, whatever C. `kernel_size=0` picks k = eca_kernel_size(C, gamma, b).
    """

    kernel_size: int = 0
    gamma: float = 2.0
    b: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        k = self.kernel_size or eca_kernel_size(c, self.gamma, self.b)
        s = jnp.mean(x, axis=(1, 2))[:, :, None]  # (N, C, 1): channels as a 1-D sequence
        s = nn.Conv(1, (k,), padding=[((k - 1) // 2, k // 2)], use_bias=False, name="conv")(s)
        return x * jax.nn.sigmoid(s[:, None, None, :, 0])
