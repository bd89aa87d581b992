"""Depthwise separable convolution: a depthwise `Conv2D`, then a pointwise `Conv1x1`."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from cnnjax.layers.conv import Conv1x1, Conv2D
from cnnjax.layers.padding import Padding, _check_nhwc


class SeparableConv2D(nn.Module):
    """Depthwise separable convolution (Chollet, Xception, 2017): depthwise k x k, then 1x1.

    The depthwise conv (groups = C_in, `depth_multiplier` m filters per input channel, no bias)
    filters each channel on its own, (N, H, W, C_in) -> (N, Ho, Wo, m*C_in); the pointwise
    `Conv1x1` mixes channels, -> (N, Ho, Wo, features), with no non-linearity in between.
    Parameters 'depthwise/kernel' (k, k, 1, m*C_in) and 'pointwise/kernel' (1, 1, m*C_in, C_out),
    plus 'pointwise/bias' (C_out,) if use_bias (the only bias, as in Keras' SeparableConv2D):

        separable: k*k*C_in*m + m*C_in*C_out (+ C_out)     full conv: k*k*C_in*C_out (+ C_out)

    Without biases and with m = 1 the ratio is
    (k*k*C_in + C_in*C_out) / (k*k*C_in*C_out) = 1/C_out + 1/k^2, e.g. 3x3, C_out = 64:
    1/64 + 1/9 = 0.127, almost 8x fewer weights (and multiply-adds per output pixel).
    """

    features: int
    kernel_size: Sequence[int]
    strides: int | Sequence[int] = 1
    padding: Padding = "SAME"
    kernel_dilation: int | Sequence[int] = 1
    depth_multiplier: int = 1
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_nhwc(x, type(self).__name__)
        c_in = x.shape[-1]
        x = Conv2D(
            c_in * self.depth_multiplier,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            kernel_dilation=self.kernel_dilation,
            feature_group_count=c_in,
            use_bias=False,
            kernel_init=self.kernel_init,
            impl=self.impl,
            name="depthwise",
        )(x)
        return Conv1x1(
            self.features,
            use_bias=self.use_bias,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            impl=self.impl,
            name="pointwise",
        )(x)
