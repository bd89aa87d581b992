"""Residual blocks (He, Zhang, Ren & Sun 2016a; pre-activation: He et al. 2016b).

A residual block computes, on an NHWC input x (N, H, W, C_in),

    post-activation (2016a):  y = act(F(x) + S(x))
    pre-activation (2016b):   y = F(act(norm(x))) + S(x)

with F the residual branch (conv / norm / act layers, ending at out = expansion * features
channels, spatial size divided by `strides`) and S the shortcut:
  'A'     identity; when the shape changes, x[:, ::s, ::s] zero-padded with out - C_in channels
          appended after the input's (He et al. 2016a, section 4.2): no parameters;
  'B'     identity; when the shape changes, a 1x1 projection conv with stride s + norm
          (out*C_in weights + the norm's 2*out; no norm in the pre-activation form);
  'none'  (or False) no shortcut at all: y = act(F(x)), the plain network of the
          degradation experiment, with exactly the parameters of option A.
The shape changes when strides != 1 or C_in != out. In the pre-activation form the projection
sees act(norm(x)) (as the authors' code does where both paths are pre-activated), while the
identity and option A shortcuts see x itself.

`BasicBlock` (expansion 1): F = conv3x3(stride s) -> norm -> act -> conv3x3 -> norm, with
2 * 9*C*C weights at width C (C_in = C). `BottleneckBlock` (expansion 4): F = conv1x1 (reduce to
features) -> norm -> act -> conv3x3(stride s) -> norm -> act -> conv1x1 (expand to 4*features)
-> norm, stride on the 3x3 as in torchvision ("ResNet v1.5"); 256 -> 64 -> 64 -> 256 has
1*1*256*64 + 3*3*64*64 + 1*1*64*256 = 69,632 weights, against 2 * 3*3*256*256 = 1,179,648 for
two 3x3 convs at 256. The pre-activation forms move each norm -> act in front of its conv.

The convolution (`conv`, e.g. functools.partial(Conv2D, use_bias=False)), normalisation
(`norm`, e.g. a partial of nn.BatchNorm with use_running_average bound from `train`) and `act`
are arguments, so ablations swap them without touching the blocks. `attention` (a module
factory such as functools.partial(SqueezeExcite, reduction=8), called with no argument but its
name; the modules read the channel count from their input) is applied to F's output before the
addition (SE / CBAM / ECA). `zero_init_last` starts F's last layer at zero (the last norm's scale,
or the last conv's kernel in the pre-activation form), so every block starts as its shortcut.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.layers import Conv2D

ModuleDef = Any

SHORTCUTS = ("A", "B", "none")


def shortcut_kind(shortcut: str | bool) -> str:
    """'A', 'B' or 'none' for a `shortcut` field value (False means 'none')."""
    kind = "none" if shortcut is False else shortcut
    if kind not in SHORTCUTS:
        raise ValueError(f"shortcut must be 'A', 'B', 'none' or False, got {shortcut!r}")
    return kind


def option_a_shortcut(x: jax.Array, features: int, strides: int) -> jax.Array:
    """x[:, ::s, ::s] with features - C_in zero channels appended: (N, ceil(H/s), ceil(W/s), out).

    The spatial size matches a SAME / pad-1 3x3 conv with stride s.
    """
    extra = features - x.shape[-1]
    if extra < 0:
        raise ValueError(f"option A cannot shrink channels: {x.shape[-1]} -> {features}")
    return jnp.pad(x[:, ::strides, ::strides], ((0, 0), (0, 0), (0, 0), (0, extra)))


class ResidualBlock(nn.Module):
    """The shared skeleton of a residual block: shortcut, attention, addition and activation.

    Subclasses define `expansion` and `branch(x)`, the residual branch F (in the pre-activation
    form F receives act(norm(x)), computed here, and starts at its first conv).
    Output (N, ceil(H / strides), ceil(W / strides), expansion * features).
    """

    features: int
    norm: ModuleDef
    conv: ModuleDef = functools.partial(Conv2D, use_bias=False)
    act: Callable[[jax.Array], jax.Array] = nn.relu
    strides: int = 1
    shortcut: str | bool = "B"
    preact: bool = False
    attention: ModuleDef | None = None
    zero_init_last: bool = False

    expansion: ClassVar[int] = 1

    def conv3x3(self, features: int, strides: int, **kwargs) -> nn.Module:
        """A 3x3 conv padded by 1 on every side (PyTorch's padding=1: same alignment)."""
        return self.conv(features, (3, 3), strides=strides, padding=((1, 1), (1, 1)), **kwargs)

    def last(self, layer: str) -> dict[str, Any]:
        """Keyword arguments zero-initialising F's last layer ('conv' or 'norm') if asked."""
        if not self.zero_init_last:
            return {}
        return {"kernel_init" if layer == "conv" else "scale_init": nn.initializers.zeros_init()}

    def branch(self, x: jax.Array) -> jax.Array:
        raise NotImplementedError

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kind = shortcut_kind(self.shortcut)
        out = self.features * self.expansion
        reshaped = self.strides != 1 or x.shape[-1] != out
        h = self.act(self.norm(name="preact_norm")(x)) if self.preact else x
        y = self.branch(h)
        if self.attention is not None:
            y = self.attention(name="attention")(y)
        if kind == "A" and reshaped:
            y = y + option_a_shortcut(x, out, self.strides)
        elif kind == "B" and reshaped:
            s = self.conv(out, (1, 1), strides=self.strides, name="proj_conv")(h)
            y = y + (s if self.preact else self.norm(name="proj_norm")(s))
        elif kind != "none":
            y = y + x
        return y if self.preact else self.act(y)


class BasicBlock(ResidualBlock):
    """Two 3x3 convs at `features` channels (ResNet-18/34, CIFAR ResNets); see module doc.

    Post-activation F: conv1(stride) -> norm1 -> act -> conv2 -> norm2.
    Pre-activation F (after the shared preact_norm -> act): conv1(stride) -> norm1 -> act -> conv2.
    """

    def branch(self, x: jax.Array) -> jax.Array:
        x = self.conv3x3(self.features, self.strides, name="conv1")(x)
        x = self.act(self.norm(name="norm1")(x))
        if self.preact:
            return self.conv3x3(self.features, 1, name="conv2", **self.last("conv"))(x)
        x = self.conv3x3(self.features, 1, name="conv2")(x)
        return self.norm(name="norm2", **self.last("norm"))(x)


class BottleneckBlock(ResidualBlock):
    """1x1 reduce to `features`, 3x3 (stride here), 1x1 expand to 4 * features; see module doc.

    Post-activation F: conv1 -> norm1 -> act -> conv2(stride) -> norm2 -> act -> conv3 -> norm3.
    Pre-activation F: conv1 -> norm1 -> act -> conv2(stride) -> norm2 -> act -> conv3.
    """

    expansion: ClassVar[int] = 4

    def branch(self, x: jax.Array) -> jax.Array:
        out = self.features * self.expansion
        x = self.conv(self.features, (1, 1), name="conv1")(x)
        x = self.act(self.norm(name="norm1")(x))
        x = self.conv3x3(self.features, self.strides, name="conv2")(x)
        x = self.act(self.norm(name="norm2")(x))
        if self.preact:
            return self.conv(out, (1, 1), name="conv3", **self.last("conv"))(x)
        x = self.conv(out, (1, 1), name="conv3")(x)
        return self.norm(name="norm3", **self.last("norm"))(x)
