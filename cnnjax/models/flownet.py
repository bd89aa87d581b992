"""FlowNetSimple (Dosovitskiy et al. 2015), scaled down for 32x32 image pairs.

Input: the two frames stacked on the channel axis, (N, H, W, 2C); output: the flow field
(N, H, W, 2) in pixels (rows, columns); H and W divisible by 8. Leaky ReLU (0.1) after every
convolution except the flow predictors.

    contracting:  conv1 7x7/2 (w0)  -> conv2 5x5/2 (w1) -> conv3 5x5/2 (w2) -> conv3_1 3x3 (w2)
    expanding (the paper's refinement, figure 3), from H/8 up to H/2:
        flow3 = predict(conv3_1)                                          (N, H/8, W/8, 2)
        x = [conv2, deconv(conv3_1), up(flow3)]  ->  flow2 = predict(x)   (N, H/4, W/4, 2)
        x = [conv1, deconv(x), up(flow2)]        ->  flow1 = predict(x)   (N, H/2, W/2, 2)
        output = bilinear up-sampling of flow1 to (H, W)

`predict` is a 3x3 convolution to 2 channels, `deconv` a 4x4 stride-2 transposed convolution
with leaky ReLU, `up` a 4x4 stride-2 transposed convolution of the coarser flow (2 -> 2).
Sows 'flow3', 'flow2', 'flow1' (the coarser predictions) and 'penultimate'.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.layers import Conv2D, ConvTranspose2D


class FlowNetSimple(nn.Module):
    """See the module docstring. Input (N, H, W, 2C), output (N, H, W, num_classes=2)."""

    num_classes: int = 2  # flow components
    widths: Sequence[int] = (32, 64, 128)
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        del train
        if x.ndim != 4 or x.shape[1] % 8 or x.shape[2] % 8:
            raise ValueError(
                f"FlowNetSimple expects stacked frames (N, H, W, 2C) with H and W divisible by 8, "
                f"got {x.shape}"
            )
        n, h, w, _ = x.shape
        act = functools.partial(nn.leaky_relu, negative_slope=0.1)
        conv = functools.partial(Conv2D, impl=self.conv_impl)
        w0, w1, w2 = self.widths
        conv1 = act(conv(w0, (7, 7), strides=2, name="conv1")(x))
        conv2 = act(conv(w1, (5, 5), strides=2, name="conv2")(conv1))
        conv3 = act(conv(w2, (5, 5), strides=2, name="conv3")(conv2))
        y = act(conv(w2, (3, 3), name="conv3_1")(conv3))
        flow = conv(self.num_classes, (3, 3), name="predict3")(y)
        self.sow("intermediates", "flow3", flow)
        for level, skip, width in ((2, conv2, w1), (1, conv1, w0)):
            up_features = act(ConvTranspose2D(width, (4, 4), strides=2, name=f"deconv{level}")(y))
            up_flow = ConvTranspose2D(self.num_classes, (4, 4), strides=2, name=f"up_flow{level}")(
                flow
            )
            y = jnp.concatenate([skip, up_features, up_flow], -1)
            flow = conv(self.num_classes, (3, 3), name=f"predict{level}")(y)
            self.sow("intermediates", f"flow{level}", flow)
        self.sow("intermediates", "penultimate", y)
        return jax.image.resize(flow, (n, h, w, self.num_classes), "bilinear")


MODELS = {"flownet_simple": FlowNetSimple}
