"""ResNets (He et al. 2016a): the ImageNet family, the CIFAR family and its plain twins.

ImageNet (`resnet18/34/50/101/152`): stem conv7x7/2 (64, padding 3) -> norm -> act ->
max pool 3x3/2 (padding 1), four stages at widths (64, 128, 256, 512) of basic (18, 34) or
bottleneck (50, 101, 152; output 4 x width) blocks, stride 2 in the first block of stages 2-4,
option B projection shortcuts, global average pool, dense head. A 224x224 input gives
56 -> 28 -> 14 -> 7 feature maps. Parameters (1000 classes, conv without bias, batch norm scale
and bias counted, running statistics not), as torchvision's models:
  ResNet-18 11,689,512   ResNet-34 21,797,672   ResNet-50 25,557,032
  ResNet-101 44,549,160  ResNet-152 60,192,808
(stride on the bottleneck's 3x3, "v1.5", as torchvision; the paper put it on the first 1x1).

CIFAR (`resnet20/32/44/56/110`, depth 6n + 2 with n = 3, 5, 7, 9, 18; section 4.2): stem conv3x3
(16) -> norm -> act, three stages of n basic blocks at widths (16, 32, 64) on 32x32 -> 16x16 ->
8x8 maps, option A shortcuts (no parameters), global average pool, dense head: ResNet-20 has
269,722 parameters for 10 classes. `plain20/32/44/56/110` are the same networks without
shortcuts (the degradation experiment, figure 6), with the same parameter count.

`preact=True` gives the pre-activation networks (He et al. 2016b): pre-activation blocks plus a
final norm -> act before pooling (the stem keeps its norm -> act, so the first block normalises
an already normalised input, 2 * width[0] parameters more than the authors' version).

`attention='se'|'cbam'|'eca'` inserts squeeze-and-excitation, CBAM or ECA
(cnnjax.blocks.attention) on every residual branch before the addition, with
`attention_reduction` r for the SE and CBAM MLPs (C -> max(1, C // r) -> C). On ResNet-20
(widths 16/32/64, r = 16) SE adds 2,373 parameters (0.9%), CBAM 3,264, ECA 27.

Convolution kernels are initialised as torchvision's (He normal, fan_out); the dense head uses
Flax's default. Sows 'stage{i}' after each stage and 'penultimate' (the pooled features).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax

from cnnjax.blocks.attention import CBAM, ECA, SqueezeExcite
from cnnjax.blocks.residual import BasicBlock, BottleneckBlock
from cnnjax.layers import Conv2D, activation, batch_norm, global_avg_pool, max_pool

BLOCKS = {"basic": BasicBlock, "bottleneck": BottleneckBlock}
STEMS = ("imagenet", "cifar")
ATTENTIONS = {"none": None, "se": SqueezeExcite, "cbam": CBAM, "eca": ECA}

HE_FAN_OUT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class ResNet(nn.Module):
    """A ResNet of `len(stage_sizes)` stages; see the module docstring.

    Input (N, H, W, C) -> logits (N, num_classes). The 'imagenet' stem divides H and W by 4 and
    every stage after the first by 2 more (any H, W >= 1 work; 224 is the design size); the
    'cifar' stem keeps them (32 is the design size).
    """

    num_classes: int
    stage_sizes: Sequence[int]
    block: str = "basic"  # 'basic' or 'bottleneck'
    widths: Sequence[int] = (64, 128, 256, 512)
    stem: str = "imagenet"  # 'imagenet' (7x7/2 conv + max pool) or 'cifar' (3x3 conv)
    shortcut: str | bool = "B"  # 'A', 'B', 'none' / False (plain network)
    preact: bool = False
    act: str = "relu"
    bn_momentum: float = 0.9
    zero_init_last: bool = False  # zero last norm scale (or conv) of every residual branch
    attention: str = "none"  # 'none', 'se', 'cbam' or 'eca' on every residual branch
    attention_reduction: int = 16  # r of the SE / CBAM MLP (ignored by ECA)
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {sorted(BLOCKS)}, got {self.block!r}")
        if self.stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {self.stem!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(
                f"attention must be one of {sorted(ATTENTIONS)}, got {self.attention!r}"
            )
        if len(self.stage_sizes) != len(self.widths):
            raise ValueError(
                f"stage_sizes {tuple(self.stage_sizes)} and widths {tuple(self.widths)} "
                "must have the same length"
            )
        conv = functools.partial(
            Conv2D, use_bias=False, kernel_init=HE_FAN_OUT, impl=self.conv_impl
        )
        norm = batch_norm(train, self.bn_momentum)
        act = activation(self.act)
        attention = ATTENTIONS[self.attention]
        if attention is not None and attention is not ECA:
            attention = functools.partial(attention, reduction=self.attention_reduction)
        if self.stem == "imagenet":
            x = conv(self.widths[0], (7, 7), strides=2, padding=((3, 3), (3, 3)), name="stem_conv")(
                x
            )
        else:
            x = conv(self.widths[0], (3, 3), padding=((1, 1), (1, 1)), name="stem_conv")(x)
        x = act(norm(name="stem_norm")(x))
        if self.stem == "imagenet":
            x = max_pool(x, 3, 2, padding=((1, 1), (1, 1)))
        for i, (size, width) in enumerate(zip(self.stage_sizes, self.widths)):
            for j in range(size):
                x = BLOCKS[self.block](
                    width,
                    norm=norm,
                    conv=conv,
                    act=act,
                    strides=2 if i > 0 and j == 0 else 1,
                    shortcut=self.shortcut,
                    preact=self.preact,
                    zero_init_last=self.zero_init_last,
                    attention=attention,
                    name=f"stage{i}_block{j}",
                )(x)
            self.sow("intermediates", f"stage{i}", x)
        if self.preact:
            x = act(norm(name="final_norm")(x))
        x = global_avg_pool(x)
        self.sow("intermediates", "penultimate", x)
        return nn.Dense(self.num_classes, name="head")(x)


ResNet18 = functools.partial(ResNet, stage_sizes=(2, 2, 2, 2), block="basic")
ResNet34 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block="basic")
ResNet50 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block="bottleneck")
ResNet101 = functools.partial(ResNet, stage_sizes=(3, 4, 23, 3), block="bottleneck")
ResNet152 = functools.partial(ResNet, stage_sizes=(3, 8, 36, 3), block="bottleneck")

CifarResNet = functools.partial(ResNet, widths=(16, 32, 64), stem="cifar", shortcut="A")
ResNet20 = functools.partial(CifarResNet, stage_sizes=(3, 3, 3))
ResNet32 = functools.partial(CifarResNet, stage_sizes=(5, 5, 5))
ResNet44 = functools.partial(CifarResNet, stage_sizes=(7, 7, 7))
ResNet56 = functools.partial(CifarResNet, stage_sizes=(9, 9, 9))
ResNet110 = functools.partial(CifarResNet, stage_sizes=(18, 18, 18))
Plain20 = functools.partial(ResNet20, shortcut="none")
Plain32 = functools.partial(ResNet32, shortcut="none")
Plain44 = functools.partial(ResNet44, shortcut="none")
Plain56 = functools.partial(ResNet56, shortcut="none")
Plain110 = functools.partial(ResNet110, shortcut="none")

MODELS = {
    "resnet18": ResNet18,
    "resnet34": ResNet34,
    "resnet50": ResNet50,
    "resnet101": ResNet101,
    "resnet152": ResNet152,
    "resnet20": ResNet20,
    "resnet32": ResNet32,
    "resnet44": ResNet44,
    "resnet56": ResNet56,
    "resnet110": ResNet110,
    "plain20": Plain20,
    "plain32": Plain32,
    "plain44": Plain44,
    "plain56": Plain56,
    "plain110": Plain110,
}
