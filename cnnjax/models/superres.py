"""Super-resolution networks: SRCNN (Dong et al. 2014) and ESPCN (Shi et al. 2016).

Both return an image, (N, H_out, W_out, num_classes) with num_classes the output channels
(the input's, for a residual model), in the units of the input (pixel values in [0, 1] here).

SRCNN works at the high resolution: its input is the low-resolution image already up-sampled
by bicubic interpolation to the target size, (N, H, W, C):
    Conv 9x9 (64) -> ReLU -> Conv 1x1 (32) -> ReLU -> Conv 5x5 (C)        (the 9-1-5 network)
i.e. patch extraction, non-linear mapping and reconstruction; 'SAME' padding keeps (H, W).
Parameters: 81*C*64 + 64 + 64*32 + 32 + 25*32*C + C (8,129 for C = 1 with the paper's widths).

ESPCN works at the low resolution and up-samples at its end: input (N, h, w, C),
    Conv 5x5 (64) -> tanh -> Conv 3x3 (32) -> tanh -> Conv 3x3 (C * r^2) -> pixel shuffle
where the pixel shuffle (depth-to-space) rearranges (h, w, C * r^2) into (h * r, w * r, C):
out[n, i*r + a, j*r + b, c] = z[n, i, j, (a*r + b)*C + c], so the convolutions are r^2 times
cheaper than SRCNN's. Parameters: 25*C*64 + 64 + 9*64*32 + 32 + 9*32*C*r^2 + C*r^2.

residual=True (the default, as in VDSR, Kim et al. 2016) adds the bicubic up-sampling of the
input to the output (SRCNN: the input itself), so the network learns only the detail that
interpolation misses, and its reconstruction kernel starts at zero, so training starts from
exactly the bicubic image; residual=False is the papers' direct mapping (all kernels
lecun_normal).
Sows 'penultimate': the features before the reconstruction layer.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from cnnjax.layers import Conv2D, activation


def pixel_shuffle(z: jax.Array, r: int) -> jax.Array:
    """(N, h, w, C * r^2) -> (N, h * r, w * r, C), as in the module docstring."""
    n, h, w, cr2 = z.shape
    if cr2 % (r * r):
        raise ValueError(f"pixel_shuffle: {cr2} channels are not a multiple of r^2 = {r * r}")
    c = cr2 // (r * r)
    z = z.reshape(n, h, w, r, r, c).transpose(0, 1, 3, 2, 4, 5)
    return z.reshape(n, h * r, w * r, c)


def bicubic_upsample(x: jax.Array, r: int) -> jax.Array:
    """(N, h, w, C) -> (N, h * r, w * r, C) by bicubic interpolation (jax.image.resize)."""
    n, h, w, c = x.shape
    return jax.image.resize(x, (n, h * r, w * r, c), "bicubic")


def _check_channels(model: nn.Module, x: jax.Array) -> None:
    if x.ndim != 4:
        raise ValueError(f"{type(model).__name__} expects images (N, H, W, C), got {x.shape}")
    if model.residual and x.shape[-1] != model.num_classes:
        raise ValueError(
            f"residual {type(model).__name__} outputs as many channels as it reads: "
            f"num_classes={model.num_classes} but the input has {x.shape[-1]}"
        )


def _reconstruct_init(residual: bool) -> nn.initializers.Initializer:
    return nn.initializers.zeros_init() if residual else nn.initializers.lecun_normal()


class SRCNN(nn.Module):
    """See the module docstring. Input (N, H, W, C) bicubic-up-sampled, output (N, H, W, K)."""

    num_classes: int
    widths: Sequence[int] = (64, 32)
    kernel_sizes: Sequence[int] = (9, 1, 5)
    residual: bool = True
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        del train  # no dropout or batch norm
        _check_channels(self, x)
        y = x
        for i, (width, k) in enumerate(zip(self.widths, self.kernel_sizes)):
            y = nn.relu(Conv2D(width, (k, k), impl=self.conv_impl, name=f"conv{i}")(y))
        self.sow("intermediates", "penultimate", y)
        k = self.kernel_sizes[-1]
        y = Conv2D(
            self.num_classes,
            (k, k),
            kernel_init=_reconstruct_init(self.residual),
            impl=self.conv_impl,
            name="reconstruct",
        )(y)
        return x + y if self.residual else y


class ESPCN(nn.Module):
    """See the module docstring. Input (N, h, w, C), output (N, h * scale, w * scale, K)."""

    num_classes: int
    scale: int = 2
    widths: Sequence[int] = (64, 32)
    kernel_sizes: Sequence[int] = (5, 3, 3)
    act: str = "tanh"
    residual: bool = True
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        del train
        _check_channels(self, x)
        act, r = activation(self.act), self.scale
        y = x
        for i, (width, k) in enumerate(zip(self.widths, self.kernel_sizes)):
            y = act(Conv2D(width, (k, k), impl=self.conv_impl, name=f"conv{i}")(y))
        self.sow("intermediates", "penultimate", y)
        k = self.kernel_sizes[-1]
        y = Conv2D(
            self.num_classes * r * r,
            (k, k),
            kernel_init=_reconstruct_init(self.residual),
            impl=self.conv_impl,
            name="reconstruct",
        )(y)
        y = pixel_shuffle(y, r)
        return bicubic_upsample(x, r) + y if self.residual else y


MODELS = {"srcnn": SRCNN, "espcn": ESPCN}
