"""The airbench network (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU",
arXiv 2404.00498; its `airbench94`): a whitening layer and three conv groups, built for speed.

    whiten   conv 2x2 VALID, 2 * 3 * 2 * 2 = 24 filters + bias (the kernel computed from the
             training data and frozen: `whitening_init`, cnnjax.layers.whitening) -> GELU
    block_i  conv 3x3 SAME (no bias) -> max pool 2 -> BN -> GELU -> conv 3x3 -> BN -> GELU,
             widths 64, 256, 256: 31x31 -> 15x15 -> 7x7 -> 3x3 maps on a 32x32 input
    head     max pool 3 (3x3 -> 1x1) -> dense (no bias) -> x scale (1/9)

Batch norm has no scale (gamma fixed at 1), a bias, eps 1e-12 and momentum 0.6 (PyTorch's
0.4; cnnjax.layers.norm). Each 3x3 convolution starts as PyTorch's default initialisation
(uniform, variance 1 / (3 fan_in)) whose first C_in filters are replaced by identities (Dirac
deltas: filter o passes input channel o through), as airbench's `dirac_` does; the head is
PyTorch's default Linear initialisation. GELU is the exact one (x Phi(x)), PyTorch's.
Parameters for 10 classes: 1,971,640 (the whitening layer's 312 included; airbench's PyTorch
module has 1,152 more, the batch-norm weights it holds fixed at 1, which this one omits).

The training recipe (Nesterov SGD, lr x 64 on the batch-norm biases, the whitening bias trained
for 3 epochs, label smoothing, alternating flips, lookahead, test-time flips and shifts) is
experiments/configs/cifar10_speedrun.py. Sows 'stage1..3' (each group's output) and 'penultimate'.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.layers import Conv2D, activation, max_pool
from cnnjax.layers.whitening import whitening_kernel

TORCH_DEFAULT = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")  # U(+-1/sqrt(fan_in))


def dirac_init(base: nn.initializers.Initializer = TORCH_DEFAULT) -> nn.initializers.Initializer:
    """`base`, with output filters o < C_in of an HWIO kernel replaced by Dirac deltas:
    kernel[kh // 2, kw // 2, o, o] = 1 and 0 elsewhere (the layer passes channel o through)."""

    def init(key, shape, dtype=jnp.float32):
        kh, kw, c_in, c_out = shape
        kernel = base(key, shape, dtype)
        n = min(c_in, c_out)
        delta = jnp.zeros((kh, kw, c_in, n), dtype).at[kh // 2, kw // 2].set(jnp.eye(c_in, n))
        return kernel.at[..., :n].set(delta)

    return init


class ConvGroup(nn.Module):
    """conv 3x3 -> max pool 2 -> BN -> act -> conv 3x3 -> BN -> act: (N, H, W, C) ->
    (N, H // 2, W // 2, features)."""

    features: int
    train: bool
    bn_momentum: float
    act: str
    conv_impl: str

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        norm = lambda name: nn.BatchNorm(
            use_running_average=not self.train,
            momentum=self.bn_momentum,
            epsilon=1e-12,
            use_scale=False,
            name=name,
        )
        conv = lambda name: Conv2D(
            self.features,
            (3, 3),
            use_bias=False,
            kernel_init=dirac_init(),
            impl=self.conv_impl,
            name=name,
        )
        x = max_pool(conv("conv1")(x), 2)
        x = activation(self.act)(norm("norm1")(x))
        return activation(self.act)(norm("norm2")(conv("conv2")(x)))


class AirbenchNet(nn.Module):
    """The network of the module docstring: (N, 32, 32, C) -> logits (N, num_classes)."""

    num_classes: int
    widths: Sequence[int] = (64, 256, 256)
    whiten_size: int = 2  # kh = kw of the whitening convolution
    whiten_eps: float = 5e-4  # added to the patch covariance's eigenvalues
    whiten_images: int = 5000  # training images the whitening kernel is computed from
    bn_momentum: float = 0.6
    scale: float = 1 / 9  # multiplies the logits
    act: str = "gelu_erf"
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        k = self.whiten_size
        x = Conv2D(2 * x.shape[-1] * k * k, (k, k), padding="VALID", name="whiten")(x)
        x = activation(self.act)(x)
        for i, width in enumerate(self.widths):
            x = ConvGroup(
                width, train, self.bn_momentum, self.act, self.conv_impl, name=f"block{i + 1}"
            )(x)
            self.sow("intermediates", f"stage{i + 1}", x)
        x = max_pool(x, x.shape[1:3]).reshape(x.shape[0], -1)
        self.sow("intermediates", "penultimate", x)
        head = nn.Dense(self.num_classes, use_bias=False, kernel_init=TORCH_DEFAULT, name="head")
        return head(x) * self.scale


def whitening_init(model: AirbenchNet, first_images) -> dict[tuple[str, ...], jax.Array]:
    """The parameters computed from data: {('whiten', 'kernel'): the whitening kernel of
    `first_images(model.whiten_images)`, the first training images (normalised NHWC)}."""
    size = (model.whiten_size, model.whiten_size)
    kernel = whitening_kernel(first_images(model.whiten_images), size, model.whiten_eps)
    return {("whiten", "kernel"): kernel}


MODELS = {"airbench_net": AirbenchNet}
DATA_INIT = {"airbench_net": whitening_init}
