"""The 2-D convolution: `conv2d`, which checks its arguments and dispatches to one of four
implementations (`resolve_conv_impl`), and the `Conv2D` / `Conv1x1` layers built on it.

Convolution here is cross-correlation (the kernel is not flipped), as in every deep learning
library. With input x zero-padded to xp, strides (sh, sw) and dilation (dh, dw):

    y[n, i, j, o] = sum_{p < kh, q < kw, c} xp[n, i*sh + p*dh, j*sw + q*dw, c] * k[p, q, c, o]

so the output size per spatial axis is floor((H + top + bottom - (kh - 1)*dh - 1) / sh) + 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax

from cnnjax.layers import conv_timing
from cnnjax.layers.cpu_conv import _cpu_conv
from cnnjax.layers.im2col import _im2col_conv
from cnnjax.layers.onednn import library as onednn_library
from cnnjax.layers.onednn.conv import check_supported as _check_onednn
from cnnjax.layers.onednn.conv import onednn_conv
from cnnjax.layers.padding import Padding, _check_nhwc, _output_size, _pair, resolve_padding
from cnnjax.layers.xla_conv import _xla_conv

CONV_IMPLS = ("auto", "xla", "xla_cpu", "im2col", "onednn")
# What 'auto' means on each JAX backend: the fastest implementation in the benchmark
# (`python -m experiments.benchmark --conv_impls=xla,xla_cpu,im2col`); backends not
# listed use 'xla'. On the CPU with the oneDNN library built, 'auto' is TIMED instead.
AUTO_CONV_IMPL = {"cpu": "xla_cpu", "gpu": "xla", "tpu": "xla"}
# 'auto' on a CPU with oneDNN: per convolution shape, the faster of 'xla_cpu' and 'onednn'
# (`conv_timing.fastest_cpu_impl`: timed once per machine, cached).
TIMED = "timed"


def resolve_conv_impl(impl: str) -> str:
    """What `impl` runs as: 'xla', 'xla_cpu', 'im2col', 'onednn', or TIMED. `impl` itself,
    or for 'auto' AUTO_CONV_IMPL of the default backend, except TIMED where that is 'xla_cpu'
    and the oneDNN library is built and loads (`onednn.library.used_by_auto()`)."""
    if impl not in CONV_IMPLS:
        raise ValueError(f"unknown conv impl {impl!r}; valid: {', '.join(CONV_IMPLS)}")
    if impl != "auto":
        return impl
    impl = AUTO_CONV_IMPL.get(jax.default_backend(), "xla")
    return TIMED if impl == "xla_cpu" and onednn_library.used_by_auto() else impl


def available_conv_impls() -> tuple[str, ...]:
    """CONV_IMPLS without 'onednn' where its library is not built (or turned off)."""
    return tuple(i for i in CONV_IMPLS if i != "onednn" or onednn_library.available())


def _check_conv(x: jax.Array, kernel: jax.Array, groups: int) -> None:
    _check_nhwc(x, "conv2d")
    if kernel.ndim != 4:
        raise ValueError(f"conv2d expects a 4-D HWIO kernel, got shape {kernel.shape}")
    c_in, c_out = x.shape[-1], kernel.shape[-1]
    if not isinstance(groups, int) or groups < 1 or c_in % groups or c_out % groups:
        raise ValueError(
            f"groups={groups!r} must be an int >= 1 dividing the input channels ({c_in}) and "
            f"the output channels ({c_out})"
        )
    if kernel.shape[2] * groups != c_in:
        raise ValueError(
            f"kernel shape {kernel.shape} needs C_in/groups = {c_in}/{groups} = "
            f"{c_in // groups} on axis 2 for input channels {c_in}"
        )


def conv_geometry(
    x: jax.Array,
    kernel: jax.Array,
    strides: int | Sequence[int],
    padding: Padding,
    dilation: int | Sequence[int],
) -> tuple[tuple[int, int], tuple[tuple[int, int], ...], tuple[int, int], tuple[int, int]]:
    """(strides, pads ((top, bottom), (left, right)), dilation, (Ho, Wo)) of convolving
    x (N, H, W, C) with kernel (kh, kw, ., .): `conv2d`'s output size formula."""
    strides, dilation = _pair(strides, "strides"), _pair(dilation, "dilation")
    pads = resolve_padding(padding, x.shape[1:3], kernel.shape[:2], strides, dilation)
    out_size = tuple(
        _output_size(
            x.shape[1 + a], pads[a], (kernel.shape[a] - 1) * dilation[a] + 1, strides[a], "conv2d"
        )
        for a in (0, 1)
    )
    return strides, pads, dilation, out_size


def conv2d(
    x: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: Padding = "SAME",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    impl: str = "auto",
) -> jax.Array:
    """2-D cross-correlation of x (N, H, W, C_in) with kernel (kh, kw, C_in/groups, C_out).

    Returns (N, Ho, Wo, C_out) with Ho = floor((H + top + bottom - (kh - 1)*dilation - 1) /
    stride) + 1 (and so for W); 'SAME' gives Ho = ceil(H / stride) with XLA's padding
    (`same_padding`), 'VALID' pads nothing. Input channels and output channels are split into
    `groups` contiguous blocks, block g of the output seeing only block g of the input
    (depthwise when groups == C_in). `impl` 'xla' calls lax.conv_general_dilated;
    'xla_cpu' gives the same values and derivatives, computed as XLA's CPU backend runs them
    fastest (`_cpu_conv`); 'im2col' gathers patches into a matrix and does one matmul
    (`_im2col_conv`); 'onednn' calls oneDNN's CPU convolutions through XLA's FFI (float32,
    CPU only, no forward-mode derivatives; built on first use: `cnnjax.layers.onednn`); all
    agree. 'auto' picks the fastest for the backend (`resolve_conv_impl`): on a CPU with
    oneDNN built, per shape by a one-time timing (`conv_timing`).

    Raises:
      ValueError: x or kernel not 4-D, channels not divisible by groups, kernel channels not
        C_in/groups, unknown impl or padding, a window larger than the padded input, or
        'onednn' with a dtype other than float32 or off the CPU.
      OneDNNUnavailable: 'onednn' where its library cannot be built or loaded.
    """
    impl = resolve_conv_impl(impl)
    _check_conv(x, kernel, groups)
    strides, pads, dilation, out_size = conv_geometry(x, kernel, strides, padding, dilation)
    if impl == "im2col":
        return _im2col_conv(x, kernel, strides, pads, dilation, groups, out_size)
    args = (strides, pads, dilation, groups)
    if impl == TIMED:
        impl = conv_timing.fastest_cpu_impl(x, kernel, args, out_size)
    if impl == "onednn":
        _check_onednn(x, kernel)
        return onednn_conv(x, kernel, args, out_size)
    if impl == "xla_cpu":
        return _cpu_conv(x, kernel, args, out_size)
    return _xla_conv(x, kernel, args)


class Conv2D(nn.Module):
    """A 2-D convolution layer, `conv2d(x, kernel) + bias`, a drop-in for flax.linen.Conv.

    Input (N, H, W, C_in), output (N, Ho, Wo, features). Parameters, named as in nn.Conv and
    initialised the same way (lecun_normal kernel, zero bias), so swapping the two changes
    nothing and L1/L2 penalties on 'kernel' leaves still apply:
      kernel (kh, kw, C_in / feature_group_count, features): kh*kw*C_in*features/groups weights;
      bias (features,) if use_bias.
    """

    features: int
    kernel_size: Sequence[int]
    strides: int | Sequence[int] = 1
    padding: Padding = "SAME"
    kernel_dilation: int | Sequence[int] = 1
    feature_group_count: int = 1
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_nhwc(x, type(self).__name__)
        groups = self.feature_group_count
        if not isinstance(groups, int) or groups < 1 or x.shape[-1] % groups:
            raise ValueError(
                f"feature_group_count={groups!r} must be an int >= 1 dividing the input "
                f"channels ({x.shape[-1]})"
            )
        kh, kw = _pair(self.kernel_size, "kernel_size")
        shape = (kh, kw, x.shape[-1] // groups, self.features)
        kernel = self.param("kernel", self.kernel_init, shape)
        x, kernel = nn.dtypes.promote_dtype(x, kernel)
        y = conv2d(
            x,
            kernel,
            strides=self.strides,
            padding=self.padding,
            dilation=self.kernel_dilation,
            groups=groups,
            impl=self.impl,
        )
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,))
        return y


class Conv1x1(Conv2D):
    """A pointwise (1x1) convolution: a Dense layer C_in -> features applied at every pixel.

    y[n, i, j, :] = x[n, i*s, j*s, :] @ kernel[0, 0] + bias, kernel (1, 1, C_in, features):
    `Conv2D` with kernel_size fixed to (1, 1) (not a constructor argument; 'SAME' and 'VALID'
    coincide for it). With strides 2 it is ResNet's projection shortcut.
    """

    kernel_size: Sequence[int] = dataclasses.field(default=(1, 1), init=False)
