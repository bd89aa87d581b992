"""VGG networks (Simonyan & Zisserman 2015), configurations A, B, D, E = VGG-11, 13, 16, 19.

Five stages of 3x3 convs (padding 1, with bias) -> (batch norm) -> act, each ending in a 2x2/2
max pool, at widths 64, 128, 256, 512, 512 with these numbers of convs per stage:
  VGG-11 (A) 1, 1, 2, 2, 2    VGG-13 (B) 2, 2, 2, 2, 2
  VGG-16 (D) 2, 2, 3, 3, 3    VGG-19 (E) 2, 2, 4, 4, 4
then flatten -> Dense(4096) -> act -> Dropout(0.5) -> Dense(4096) -> act -> Dropout(0.5) ->
Dense(num_classes). A 224x224 input leaves 7x7x512 = 25,088 features, so the layers match
torchvision's vgg* exactly; parameters for 1000 classes:
  VGG-11 132,863,336   VGG-13 133,047,848   VGG-16 138,357,544   VGG-19 143,667,240
and with batch norm (`*_bn`; the convs keep their bias, as torchvision's): 132,868,840,
133,053,736, 138,365,992, 143,678,248.

Difference from torchvision: by default there is no adaptive average pool to 7x7; the
features left after the fifth pool, (H/32) x (W/32) x 512 (floored), are flattened as they
are, so smaller inputs (down to 32x32, which leaves 1x1x512) get a narrower first dense layer,
and inputs other than 224 do not share its weights. `adaptive_pool=7` adds torchvision's
adaptive average pool (cnnjax.models.alexnet.adaptive_avg_pool) before the flatten: the first
dense layer is then 25,088 wide at every input size and torchvision's weights
(cnnjax.interop.from_torchvision) give torchvision's outputs at any size >= 32x32; at 224 the
pool is the identity. Conv kernels use torchvision's He normal (fan_out) init.
Sows 'stage{i}' after each pool and 'penultimate' (the second dense layer's activations).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax

from cnnjax.layers import Conv2D, activation, max_pool
from cnnjax.models.alexnet import adaptive_avg_pool

WIDTHS = (64, 128, 256, 512, 512)
CONVS_PER_STAGE = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}

HE_FAN_OUT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class VGG(nn.Module):
    """VGG-`depth` (11, 13, 16 or 19); input (N, H, W, C) with H, W >= 32 -> (N, num_classes)."""

    num_classes: int
    depth: int = 16
    batch_norm: bool = False
    hidden: int = 4096
    dropout_rate: float = 0.5
    act: str = "relu"
    bn_momentum: float = 0.9
    adaptive_pool: int = 0  # > 0: adaptive average pool to that square before the flatten
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.depth not in CONVS_PER_STAGE:
            raise ValueError(f"depth must be one of {sorted(CONVS_PER_STAGE)}, got {self.depth!r}")
        act = activation(self.act)
        conv = functools.partial(
            Conv2D, kernel_size=(3, 3), padding=((1, 1), (1, 1)), kernel_init=HE_FAN_OUT
        )
        for i, (convs, width) in enumerate(zip(CONVS_PER_STAGE[self.depth], WIDTHS)):
            for j in range(convs):
                x = conv(width, impl=self.conv_impl, name=f"conv{i}_{j}")(x)
                if self.batch_norm:
                    x = nn.BatchNorm(
                        use_running_average=not train, momentum=self.bn_momentum, name=f"bn{i}_{j}"
                    )(x)
                x = act(x)
            x = max_pool(x, 2)
            self.sow("intermediates", f"stage{i}", x)
        if self.adaptive_pool:
            x = adaptive_avg_pool(x, self.adaptive_pool)
        x = x.reshape((x.shape[0], -1))
        x = act(nn.Dense(self.hidden, name="dense0")(x))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        x = act(nn.Dense(self.hidden, name="dense1")(x))
        self.sow("intermediates", "penultimate", x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="head")(x)


VGG11 = functools.partial(VGG, depth=11)
VGG13 = functools.partial(VGG, depth=13)
VGG16 = functools.partial(VGG, depth=16)
VGG19 = functools.partial(VGG, depth=19)
VGG11BN = functools.partial(VGG11, batch_norm=True)
VGG13BN = functools.partial(VGG13, batch_norm=True)
VGG16BN = functools.partial(VGG16, batch_norm=True)
VGG19BN = functools.partial(VGG19, batch_norm=True)

MODELS = {
    "vgg11": VGG11,
    "vgg13": VGG13,
    "vgg16": VGG16,
    "vgg19": VGG19,
    "vgg11_bn": VGG11BN,
    "vgg13_bn": VGG13BN,
    "vgg16_bn": VGG16BN,
    "vgg19_bn": VGG19BN,
}
