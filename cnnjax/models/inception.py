"""GoogLeNet (Inception v1, Szegedy et al. 2015) and a compact CIFAR-size Inception-v3.

GoogLeNet, table 1 of the paper on a 224x224 input (SAME padding throughout; 3x3/2 max pools):

    stem     conv 7x7/2 64 -> maxpool -> conv 1x1 64 -> conv 3x3 192 -> maxpool     28x28x192
    stage3   inception 3a, 3b -> maxpool                                            14x14x480
    stage4   inception 4a, 4b, 4c, 4d, 4e -> maxpool                                  7x7x832
    stage5   inception 5a, 5b -> global average pool -> dropout 0.4 -> dense          1024

7,005,832 parameters for 1000 classes with batch norm (6,998,552 without): the paper's
~6.8M, whose 5x5 branches are kept as 5x5 here (torchvision's googlenet uses 3x3 there).
Differences from the paper: the two auxiliary classifiers (training-only) are omitted;
batch norm after every conv by default (`batch_norm=False, lrn=True` gives the paper's
BN-free network with local response normalisation after the first pool and the 3x3 192 conv;
`googlenet_2015`). `stem='cifar'` replaces the 7x7/2 conv with a 3x3/1 conv and drops the two
stem pools, so a 32x32 image reaches the Inception modules at 32x32 (8x8 at stage 5).

Differences from torchvision's `googlenet` that change outputs, so its weights do not load
as they are (beyond the 5x5 branches, which torchvision makes 3x3):
- the stem's 7x7/2 conv pads SAME, (2, 3) rows and columns on a 224x224 input, where
  torchvision pads (3, 3);
- batch norm uses epsilon 1e-5 (Flax's and PyTorch's default), where torchvision's
  BasicConv2d sets 1e-3;
- the pool before stage 5 is the 3x3/2 SAME pool of the others, where torchvision uses a
  2x2/2 pool (ceil mode); its other 3x3/2 pools (ceil mode, no padding) equal SAME ones on
  even sizes, as on the 224x224 grid;
- no auxiliary classifiers and no `transform_input` re-normalisation.

`torchvision=True` removes the first four: stem padding (3, 3), epsilon 1e-3, torchvision's
ceil-mode pools (3x3/2 ones in the stem and before stage 4, 2x2/2 before stage 5: a ceil-mode
pool of window k and stride s gives ceil((L - k) / s) + 1 outputs, one fewer when the last
window would start past the input, padding after with -inf) and 3x3 kernels in the '5x5'
branches (named b5x5 still); 6,624,904 parameters for 1000 classes, as torchvision's
googlenet without its auxiliary classifiers, whose weights it takes
(cnnjax.interop.from_torchvision). It needs the imagenet stem, batch norm and no LRN.
`transform_input=True` is torchvision's transform_input: x_c -> x_c * std_c / 0.5 +
(mean_c - 0.5) / 0.5 per channel with ImageNet's mean (0.485, 0.456, 0.406) and std (0.229,
0.224, 0.225), turning ImageNet-normalised images into the (x - 0.5) / 0.5 inputs that
torchvision's pretrained GoogLeNet weights expect (torchvision turns it on with them).
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.blocks.inception import (
    ConvNormAct,
    InceptionNaive,
    InceptionReduction,
    InceptionV1,
    InceptionV2,
    InceptionV3,
)
from cnnjax.layers import (
    Conv2D,
    activation,
    batch_norm,
    global_avg_pool,
    local_response_norm,
    max_pool,
)
from cnnjax.pipeline import IMAGENET_MEAN, IMAGENET_STD

STEMS = ("imagenet", "cifar")

# Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) per module, per stage.
GOOGLENET_STAGES = {
    "stage3": {"3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64)},
    "stage4": {
        "4a": (192, 96, 208, 16, 48, 64),
        "4b": (160, 112, 224, 24, 64, 64),
        "4c": (128, 128, 256, 24, 64, 64),
        "4d": (112, 144, 288, 32, 64, 64),
        "4e": (256, 160, 320, 32, 128, 128),
    },
    "stage5": {"5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128)},
}


def ceil_mode_max_pool(x: jax.Array, window: int, stride: int) -> jax.Array:
    """PyTorch's MaxPool2d(window, stride, ceil_mode=True) without padding on NHWC `x`: per
    axis of length L, ceil((L - window) / stride) + 1 outputs (one fewer when the last window
    would start at or past L), the last windows padded after with -inf."""

    def pad(length: int) -> tuple[int, int]:
        out = math.ceil((length - window) / stride) + 1
        if (out - 1) * stride >= length:
            out -= 1
        return 0, max(0, (out - 1) * stride + window - length)

    return max_pool(x, window, stride, padding=(pad(x.shape[1]), pad(x.shape[2])))


def _conv_norm(conv_impl: str, use_batch_norm: bool, bn_momentum: float, train: bool):
    """The (conv, norm) factories the blocks take: Conv2D with `impl`, BatchNorm or None."""
    conv = functools.partial(Conv2D, impl=conv_impl)
    if not use_batch_norm:
        return conv, None
    return conv, batch_norm(train, bn_momentum)


class GoogLeNet(nn.Module):
    """GoogLeNet / Inception v1 without auxiliary classifiers (see the module docstring).

    Input (N, H, W, C) float; any H, W >= 1 (SAME padding), 224x224 for the paper's grid.
    Sows intermediates 'stem', 'stage3', 'stage4', 'stage5' and 'penultimate' (the 1024 pooled
    features).
    """

    num_classes: int
    stem: str = "imagenet"  # or 'cifar': 3x3/1 first conv, no stem pools
    batch_norm: bool = True
    lrn: bool = False
    act: str = "relu"
    dropout_rate: float = 0.4
    bn_momentum: float = 0.9
    torchvision: bool = False  # torchvision's googlenet layout (see the module docstring)
    transform_input: bool = False  # torchvision's re-normalisation of ImageNet-normalised x
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {self.stem!r}")
        tv = self.torchvision
        if tv and (self.stem != "imagenet" or not self.batch_norm or self.lrn):
            raise ValueError(
                "torchvision=True needs stem='imagenet', batch_norm=True and lrn=False "
                f"(torchvision's googlenet), got stem={self.stem!r}, "
                f"batch_norm={self.batch_norm}, lrn={self.lrn}"
            )
        if self.transform_input:
            std, mean = jnp.asarray(IMAGENET_STD), jnp.asarray(IMAGENET_MEAN)
            x = x * (std / 0.5) + (mean - 0.5) / 0.5
        conv, norm = _conv_norm(self.conv_impl, self.batch_norm, self.bn_momentum, train)
        if tv:
            norm = functools.partial(norm, epsilon=1e-3)
        unit = functools.partial(ConvNormAct, conv=conv, norm=norm, act=activation(self.act))
        imagenet = self.stem == "imagenet"
        if tv:
            pool = lambda y: ceil_mode_max_pool(y, 3, 2)
        else:
            pool = lambda y: max_pool(y, 3, 2, "SAME")
        lrn = local_response_norm if self.lrn else lambda y: y
        x = unit(
            64,
            (7, 7) if imagenet else (3, 3),
            2 if imagenet else 1,
            padding=((3, 3), (3, 3)) if tv else "SAME",
            name="conv1",
        )(x)
        if imagenet:
            x = pool(x)
        x = lrn(x)
        x = unit(64, (1, 1), name="conv2_reduce")(x)
        x = lrn(unit(192, (3, 3), name="conv2")(x))
        if imagenet:
            x = pool(x)
        self.sow("intermediates", "stem", x)
        for i, (stage, modules) in enumerate(GOOGLENET_STAGES.items()):
            if i:
                x = ceil_mode_max_pool(x, 2, 2) if tv and i == 2 else pool(x)
            for key, widths in modules.items():
                x = InceptionV1(
                    conv,
                    norm,
                    activation(self.act),
                    *widths,
                    k5=3 if tv else 5,
                    name=f"inception{key}",
                )(x)
            self.sow("intermediates", stage, x)
        x = global_avg_pool(x)
        self.sow("intermediates", "penultimate", x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="head")(x)


class InceptionV3Compact(nn.Module):
    """A compact CIFAR-size Inception-v3 (NOT the 23.8M-parameter 299x299 original).

    The original's three grids (35x35 figure-5 modules, 17x17 figure-6 modules with n = 7, 8x8)
    become 32x32, 16x16 and 8x8 for a 32x32 input, with narrower modules and fewer of them:

        stem     conv 3x3 32, 3x3 32, 3x3 64, all stride 1 (the original: 3x3/2, 3x3, 3x3,
                 maxpool, 1x1 80, 3x3 192, maxpool)                                   32x32x64
        stage1   blocks[0] x InceptionV2 (5x5 as two 3x3)  (64, 48, 64, 64, 96, 32)  32x32x256
        reduce1  InceptionReduction (64, 160, 64, 96)                                 16x16x512
        stage2   blocks[1] x InceptionV3, n = 7  (128, 96, 128, 96, 128, 128)         16x16x512
        reduce2  InceptionReduction (128, 192, 128, 192)                                8x8x896
        stage3   blocks[2] x InceptionV3, n = 3  (192, 128, 192, 128, 192, 192)         8x8x768
        head     global average pool -> dropout -> dense

    All channel numbers are multiplied by `width_mult` (rounded down, at least 1): 4,690,154
    parameters for 10 classes at width_mult=1, 1,178,490 at 0.5. Stage 3 uses n = 3 asymmetric
    modules in place of the original's expanded figure-7 modules; no auxiliary classifier, no
    label smoothing (a loss option).
    Batch norm after every conv. Sows 'stem', 'stage1', 'stage2', 'stage3', 'penultimate'.
    """

    num_classes: int
    width_mult: float = 1.0
    blocks: tuple[int, int, int] = (2, 2, 2)
    act: str = "relu"
    dropout_rate: float = 0.2
    bn_momentum: float = 0.9
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv, norm = _conv_norm(self.conv_impl, True, self.bn_momentum, train)
        act = activation(self.act)
        scale = lambda widths: [max(1, int(w * self.width_mult)) for w in widths]
        for i, width in enumerate(scale((32, 32, 64))):
            x = ConvNormAct(width, (3, 3), 1, conv, norm, act, name=f"stem{i}")(x)
        self.sow("intermediates", "stem", x)
        stages = (
            (InceptionV2, {}, (64, 48, 64, 64, 96, 32), (64, 160, 64, 96)),
            (InceptionV3, {"n": 7}, (128, 96, 128, 96, 128, 128), (128, 192, 128, 192)),
            (InceptionV3, {"n": 3}, (192, 128, 192, 128, 192, 192), None),
        )
        for s, (module, kwargs, widths, reduction) in enumerate(stages):
            for j in range(self.blocks[s]):
                x = module(conv, norm, act, *scale(widths), **kwargs, name=f"block{s + 1}_{j}")(x)
            self.sow("intermediates", f"stage{s + 1}", x)
            if reduction is not None:
                x = InceptionReduction(conv, norm, act, *scale(reduction), name=f"reduce{s + 1}")(x)
        x = global_avg_pool(x)
        self.sow("intermediates", "penultimate", x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="head")(x)


def inception_branch_widths(block: str, width: int, n: int = 3) -> tuple[tuple[int, ...], dict]:
    """The branch widths of one `block` module whose branches add up to `width` channels (plus
    the C_in passed through by the naive module's pool), in GoogLeNet 3a's proportions
    (64, 96, 128, 16, 32, 32) -> 256: 1x1 width/4, 3x3 width/2 (reduced from 3/8), 5x5 or its
    factorised form width/8 (reduced from width/16), pool projection width/8."""
    w1, w3r, w3, w5r, w5, wp = (max(1, width * k // 16) for k in (4, 6, 8, 1, 2, 2))
    if block == "naive":
        return (w1, w3, w5), {}
    if block in ("v1", "v2"):
        return (w1, w3r, w3, w5r, w5, wp), {}
    return (w1, w3r, w3, w5r, w5, wp), {"n": n}


INCEPTION_BLOCKS = {
    "naive": InceptionNaive,
    "v1": InceptionV1,
    "v2": InceptionV2,
    "v3": InceptionV3,
}


class InceptionNet(nn.Module):
    """A small CIFAR-size network of one kind of Inception module (the `inception` sweep).

        stem     ConvNormAct 3x3 stem_width (stem_conv)                       32x32
        stage1   blocks_per_stage x module(widths[0]) -> 2x2 max pool         16x16
        stage2   blocks_per_stage x module(widths[1]) -> global average pool -> dropout -> dense

    `block`: 'naive' (1x1 | 3x3 | 5x5 | 3x3 max pool, which passes its C_in input channels
    through, so the width grows block by block), 'v1' (1x1 reductions and a pool projection),
    'v2' (v1 with the 5x5 as two 3x3) or 'v3' (v2 with every 3x3 as 1x3 then 3x1, `n` = 3).
    Every module's branches have the widths of `inception_branch_widths`, so the modules differ
    only in how they compute them. Sows 'stem', 'stage1', 'stage2' and 'penultimate'.
    """

    num_classes: int
    block: str = "v1"  # 'naive', 'v1', 'v2' or 'v3'
    widths: tuple[int, int] = (128, 256)  # output channels of each stage's modules
    blocks_per_stage: int = 2
    stem_width: int = 32
    n: int = 3  # v3: the n of the 1 x n, n x 1 pairs
    batch_norm: bool = True
    act: str = "relu"
    dropout_rate: float = 0.0
    bn_momentum: float = 0.9
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.block not in INCEPTION_BLOCKS:
            raise ValueError(f"block must be one of {sorted(INCEPTION_BLOCKS)}, got {self.block!r}")
        conv, norm = _conv_norm(self.conv_impl, self.batch_norm, self.bn_momentum, train)
        act = activation(self.act)
        x = ConvNormAct(self.stem_width, (3, 3), 1, conv, norm, act, name="stem_conv")(x)
        self.sow("intermediates", "stem", x)
        module = INCEPTION_BLOCKS[self.block]
        for s, width in enumerate(self.widths):
            widths, kwargs = inception_branch_widths(self.block, width, self.n)
            for j in range(self.blocks_per_stage):
                x = module(conv, norm, act, *widths, **kwargs, name=f"block{s + 1}_{j}")(x)
            self.sow("intermediates", f"stage{s + 1}", x)
            if s + 1 < len(self.widths):
                x = max_pool(x, 2, 2)
        x = global_avg_pool(x)
        self.sow("intermediates", "penultimate", x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="head")(x)


# The paper's form: no batch norm, local response normalisation in the stem.
GoogLeNet2015 = functools.partial(GoogLeNet, batch_norm=False, lrn=True)

MODELS = {
    "googlenet": GoogLeNet,
    "googlenet_2015": GoogLeNet2015,
    "inception_v3_compact": InceptionV3Compact,
    "inception_net": InceptionNet,
}
