"""A CIFAR-size Xception (Chollet 2017): residual blocks of depthwise separable convolutions.

Chollet's network on 299x299 images, and the scaled-down version here for 32x32 inputs:

                 original (299x299)                       here (32x32, defaults)
    stem         conv 3x3/2 32, conv 3x3 64 (VALID)       conv 3x3 32, conv 3x3 64 (stride 1)
    entry flow   blocks 128/2, 256/2, 728/2               blocks 64/2, 128/2, 256/2     -> 4x4
    middle flow  8 blocks of 3 separable convs, 728       4 blocks, 256 wide            -> 4x4
    exit flow    block (728, 1024)/2                      block (256, 512)/2            -> 2x2
                 sepconv 1536, sepconv 2048, GAP          sepconv 768, sepconv 1024, GAP
                 (optional dense layers), logistic        dropout, dense

Every conv is followed by batch norm (and ReLU where the paper has one); the blocks are
`cnnjax.blocks.xception.XceptionBlock` (3x3 max pool with stride 2 and a strided 1x1
projection shortcut in the downsampling blocks). The stride-2 stem is dropped so that a 32x32
image is downsampled 16x in all (the original 32x). 2,564,714 parameters for 10 classes with
the defaults (the original: 22.9M).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax

from cnnjax.blocks.inception import ConvNormAct
from cnnjax.blocks.xception import XceptionBlock
from cnnjax.layers import (
    Conv1x1,
    Conv2D,
    SeparableConv2D,
    activation,
    batch_norm,
    global_avg_pool,
)


class Xception(nn.Module):
    """Xception scaled for 32x32 inputs (see the module docstring); any H, W >= 1 work.

    Sows intermediates 'stem', 'entry', 'middle', 'exit' and 'penultimate' (the pooled
    features).
    """

    num_classes: int
    stem_widths: Sequence[int] = (32, 64)
    entry_widths: Sequence[int] = (64, 128, 256)
    middle_blocks: int = 4
    exit_widths: Sequence[int] = (256, 512)
    head_widths: Sequence[int] = (768, 1024)
    act: str = "relu"
    dropout_rate: float = 0.0
    bn_momentum: float = 0.9
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        act = activation(self.act)
        norm = batch_norm(train, self.bn_momentum)
        sep_conv = functools.partial(SeparableConv2D, impl=self.conv_impl)
        block = functools.partial(
            XceptionBlock,
            sep_conv=sep_conv,
            conv=functools.partial(Conv1x1, impl=self.conv_impl),
            norm=norm,
            act=act,
        )
        conv = functools.partial(Conv2D, impl=self.conv_impl)
        for i, width in enumerate(self.stem_widths):
            x = ConvNormAct(width, (3, 3), 1, conv, norm, act, name=f"stem{i}")(x)
        self.sow("intermediates", "stem", x)
        for i, width in enumerate(self.entry_widths):
            x = block((width, width), strides=2, pre_act=i > 0, name=f"entry{i}")(x)
        self.sow("intermediates", "entry", x)
        middle = (self.entry_widths[-1],) * 3
        for i in range(self.middle_blocks):
            x = block(middle, name=f"middle{i}")(x)
        self.sow("intermediates", "middle", x)
        x = block(tuple(self.exit_widths), strides=2, name="exit_block")(x)
        for i, width in enumerate(self.head_widths):
            x = sep_conv(width, (3, 3), use_bias=False, name=f"exit_sepconv{i}")(x)
            x = act(norm(name=f"exit_norm{i}")(x))
        self.sow("intermediates", "exit", x)
        x = global_avg_pool(x)
        self.sow("intermediates", "penultimate", x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="head")(x)


MODELS = {"xception": Xception}
