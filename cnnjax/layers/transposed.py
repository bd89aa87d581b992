"""Transposed convolution (up-convolution): `conv_transpose2d`, the adjoint of `conv2d`, and
the `ConvTranspose2D` layer."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
from jax import lax

from cnnjax.layers.padding import Padding, _check_nhwc, _pair, resolve_padding
from cnnjax.layers.xla_conv import _DIMENSION_NUMBERS


def conv_transpose2d(
    y: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: Padding = "SAME",
    dilation: int | Sequence[int] = 1,
    output_size: int | Sequence[int] | None = None,
) -> jax.Array:
    """The transpose (adjoint) of `conv2d`: <conv2d(x, k), y> = <x, conv_transpose2d(y, k)>.

    y (N, H, W, C_in) -> x-shaped (N, Hx, Wx, C_out), with kernel (kh, kw, C_out, C_in): the
    kernel of the forward conv2d C_out -> C_in with the same strides, padding and dilation,
    which this function transposes exactly (it is that conv's input gradient, jax.vjp's
    answer). With stride > 1 several input sizes give the same forward output size; `output_size`
    (Hx, Wx) picks one, by default
      'SAME': Hx = H * stride (stride 2 doubles H and W, as in Keras' Conv2DTranspose);
      'VALID' and explicit (top, bottom): Hx = (H - 1) * stride + e - top - bottom,
    with e = (kh - 1) * dilation + 1 the dilated kernel extent. Computed by
    lax.conv_transpose(transpose_kernel=True): the stride-dilated y (stride - 1 zeros between
    entries), padded by (e - 1 - top, e - 1 - bottom + r), is cross-correlated with the
    spatially flipped kernel, input and output channels swapped; r = (Hx + top + bottom - e)
    mod stride counts the last input rows the forward conv never reached.

    Raises:
      ValueError: y or kernel of the wrong rank or channels, unknown padding, or an output size
        that the forward conv does not map to (H, W).
    """
    _check_nhwc(y, "conv_transpose2d")
    if kernel.ndim != 4 or kernel.shape[3] != y.shape[3]:
        raise ValueError(
            f"conv_transpose2d expects a kernel (kh, kw, C_out, C_in={y.shape[3]}), "
            f"got shape {kernel.shape}"
        )
    strides, dilation = _pair(strides, "strides"), _pair(dilation, "dilation")
    spans = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:2], dilation)]
    # Checks `padding`; the pads do not depend on the input size unless it is 'SAME'.
    pads = resolve_padding(padding, y.shape[1:3], kernel.shape[:2], strides, dilation)
    if output_size is not None:
        sizes = _pair(output_size, "output_size")
    elif padding == "SAME":
        sizes = tuple(h * s for h, s in zip(y.shape[1:3], strides))
    else:
        sizes = tuple(
            (h - 1) * s + e - sum(p) for h, s, e, p in zip(y.shape[1:3], strides, spans, pads)
        )
    pads = resolve_padding(padding, sizes, kernel.shape[:2], strides, dilation)
    forward = tuple((n + sum(p) - e) // s + 1 for n, p, e, s in zip(sizes, pads, spans, strides))
    if min(sizes) < 1 or forward != y.shape[1:3]:
        raise ValueError(
            f"the forward conv (strides {strides}, padding {padding!r}, dilation {dilation}) of "
            f"an input of size {sizes} has size {forward}, not the given {y.shape[1:3]}"
        )
    transposed_pads = [
        (e - 1 - lo, e - 1 - hi + (n + lo + hi - e) % s)
        for e, (lo, hi), n, s in zip(spans, pads, sizes, strides)
    ]
    return lax.conv_transpose(
        y,
        kernel,
        strides,
        transposed_pads,
        rhs_dilation=dilation,
        dimension_numbers=_DIMENSION_NUMBERS,
        transpose_kernel=True,
    )


class ConvTranspose2D(nn.Module):
    """Up-convolution: `conv_transpose2d(x, kernel) + bias`, the adjoint of a strided Conv2D.

    Input (N, H, W, C_in), output (N, H * stride, W * stride, features) with 'SAME' (see
    `conv_transpose2d` for 'VALID' and explicit padding). Parameters: kernel
    (kh, kw, features, C_in), the layout of the forward conv it transposes (and of
    flax.linen.ConvTranspose(transpose_kernel=True)), lecun_normal; bias (features,) if use_bias.
    """

    features: int
    kernel_size: Sequence[int]
    strides: int | Sequence[int] = 1
    padding: Padding = "SAME"
    kernel_dilation: int | Sequence[int] = 1
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_nhwc(x, type(self).__name__)
        shape = (*_pair(self.kernel_size, "kernel_size"), self.features, x.shape[-1])
        kernel = self.param("kernel", self.kernel_init, shape)
        x, kernel = nn.dtypes.promote_dtype(x, kernel)
        y = conv_transpose2d(
            x, kernel, strides=self.strides, padding=self.padding, dilation=self.kernel_dilation
        )
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,))
        return y
