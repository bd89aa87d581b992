"""Fully convolutional segmentation networks (Long, Shelhamer & Darrell 2015), small.

The encoder is a VGG-style classifier without its dense layers; every pixel gets class scores:

    encoder: stage i = [Conv3x3 -> BatchNorm -> act] * convs_per_stage -> max pool 2x2/2
             (stage i's output has stride 2^(i+1); S = len(widths) stages, stride 2^S at the end)
    scores:  1x1 convolution of the last stage to num_classes          (N, H/2^S, W/2^S, K)
    skips=False (FCN-32s style): one transposed convolution, kernel 2 * 2^S, stride 2^S, back to
             (N, H, W, K): the coarse scores are only interpolated.
    skips=True (FCN-8s style): for i = S-2 ... 0, scores = up2(scores) + 1x1conv_i(stage i),
             the 1x1 "score" layer of an earlier, finer stage added after up-sampling by a
             transposed convolution (kernel 4, stride 2); then a last up2 to (N, H, W, K).

Every transposed convolution (cnnjax.layers.ConvTranspose2D) starts as bilinear interpolation,
as in the paper, and is learned. H and W must be divisible by 2^S. Returns per-pixel logits
(N, H, W, num_classes). Sows 'stage{i}' and 'penultimate' (the last stage's features).
Parameters: the encoder's 3x3 convolutions, the 1x1 score layers (C_i*K + K each) and the
transposed convolutions (k*k*K*K + K each).
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.layers import Conv1x1, Conv2D, ConvTranspose2D, activation, initializer, max_pool


def bilinear_init(key, shape, dtype=jnp.float32) -> jax.Array:
    """Kernel (k, k, C, C) of a transposed convolution that up-samples each channel bilinearly
    by the factor k / 2 (channel c to channel c only): outer(f, f) with
    f[i] = 1 - |i - center| / factor, center = (k - 1) / 2 (Caffe's FCN initialisation)."""
    del key
    k, k2, c_out, c_in = shape
    if k != k2 or c_out != c_in:
        raise ValueError(f"bilinear_init needs a square kernel with C_out == C_in, got {shape}")
    factor = (k + 1) // 2
    center = factor - 1 if k % 2 == 1 else factor - 0.5
    f = 1 - np.abs(np.arange(k) - center) / factor
    kernel = np.zeros(shape, np.float32)
    kernel[:, :, np.arange(c_in), np.arange(c_in)] = np.outer(f, f)[:, :, None]
    return jnp.asarray(kernel, dtype)


class FCN(nn.Module):
    """See the module docstring. Input (N, H, W, C), output (N, H, W, num_classes)."""

    num_classes: int
    widths: Sequence[int] = (16, 32, 64)
    convs_per_stage: int = 2
    skips: bool = True
    act: str = "relu"
    bn_momentum: float = 0.9
    kernel_init: str = "he_normal"  # of the 3x3 and 1x1 kernels (cnnjax.layers.INITIALIZERS)
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        stride = 2 ** len(self.widths)
        if x.ndim != 4 or x.shape[1] % stride or x.shape[2] % stride:
            raise ValueError(
                f"FCN with {len(self.widths)} stages expects (N, H, W, C) images with H and W "
                f"divisible by {stride}, got {x.shape}"
            )
        act, init = activation(self.act), initializer(self.kernel_init)
        stages = []
        for i, width in enumerate(self.widths):
            for j in range(self.convs_per_stage):
                x = Conv2D(
                    width,
                    (3, 3),
                    use_bias=False,
                    kernel_init=init,
                    impl=self.conv_impl,
                    name=f"conv{i}_{j}",
                )(x)
                x = nn.BatchNorm(
                    use_running_average=not train, momentum=self.bn_momentum, name=f"bn{i}_{j}"
                )(x)
                x = act(x)
            x = max_pool(x, 2, 2)
            self.sow("intermediates", f"stage{i}", x)
            stages.append(x)
        self.sow("intermediates", "penultimate", x)
        k = self.num_classes
        score = functools.partial(Conv1x1, k, kernel_init=init, impl=self.conv_impl)
        up = functools.partial(ConvTranspose2D, k, kernel_init=bilinear_init, padding="SAME")
        y = score(name="score_last")(x)
        if not self.skips:
            return up((2 * stride, 2 * stride), strides=stride, name="up_all")(y)
        for i in reversed(range(len(self.widths) - 1)):
            y = up((4, 4), strides=2, name=f"up{i + 1}")(y) + score(name=f"score{i}")(stages[i])
        return up((4, 4), strides=2, name="up0")(y)


MODELS = {
    "fcn": functools.partial(FCN, skips=True),
    "fcn_noskip": functools.partial(FCN, skips=False),
}
