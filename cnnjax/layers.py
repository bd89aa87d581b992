"""The layer library: convolutions, pooling, local response normalisation and activations.

Everything works on NHWC images, (N, H, W, C), with HWIO kernels, (kh, kw, C_in, C_out), like
Flax and XLA. Activations are chosen by name so that an ablation is a config switch:
`activation('relu')(x)`.

Convolution here is cross-correlation (the kernel is not flipped), as in every deep learning
library. With input x zero-padded to xp, strides (sh, sw) and dilation (dh, dw):

    y[n, i, j, o] = sum_{p < kh, q < kw, c} xp[n, i*sh + p*dh, j*sw + q*dw, c] * k[p, q, c, o]

so the output size per spatial axis is floor((H + top + bottom - (kh - 1)*dh - 1) / sh) + 1.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from cnnjax import layer_stats

Padding = str | Sequence[tuple[int, int]]

PADDING_MODES = ("SAME", "VALID")
CONV_IMPLS = ("auto", "xla", "xla_cpu", "im2col")
# What 'auto' means on each JAX backend: the fastest implementation in the benchmark
# (`python -m experiments.benchmark --conv_impls=xla,xla_cpu,im2col`); backends not
# listed use 'xla'.
AUTO_CONV_IMPL = {"cpu": "xla_cpu", "gpu": "xla", "tpu": "xla"}
_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def scaled_tanh(x: jax.Array) -> jax.Array:
    """LeCun et al. (1998) squashing function f(x) = 1.7159 tanh(2x/3); f(+-1) = +-1."""
    return 1.7159 * jnp.tanh(2.0 * x / 3.0)


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "scaled_tanh": scaled_tanh,
    "relu": jax.nn.relu,
    "leaky_relu": jax.nn.leaky_relu,
    "elu": jax.nn.elu,
    "gelu": jax.nn.gelu,
    "swish": jax.nn.swish,
}


# Kernel initialisers by name, with fan_in = kh * kw * C_in (fan_out = kh * kw * C_out):
INITIALIZERS: dict[str, nn.initializers.Initializer] = {
    "lecun_normal": nn.initializers.lecun_normal(),  # Var = 1 / fan_in (Flax's default)
    "glorot_uniform": nn.initializers.glorot_uniform(),  # Var = 2 / (fan_in + fan_out)
    "glorot_normal": nn.initializers.glorot_normal(),
    "he_normal": nn.initializers.he_normal(),  # Var = 2 / fan_in, for ReLU (He et al. 2015)
    "he_uniform": nn.initializers.he_uniform(),
    "small_normal": nn.initializers.normal(0.01),  # N(0, 0.01^2) whatever the fan-in
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The element-wise activation called `name` (one of `ACTIVATIONS`).

    Its outputs are visible to `cnnjax.layer_stats` (per-layer statistics), which is why models
    take their nonlinearities from here; outside a measurement this is the plain function.
    """
    try:
        fn = ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; valid names: {', '.join(sorted(ACTIVATIONS))}"
        ) from None

    def apply(x: jax.Array) -> jax.Array:
        y = fn(x)
        layer_stats.record_activation(name, y)
        return y

    apply.__name__ = apply.__qualname__ = name
    return apply


def initializer(name: str) -> nn.initializers.Initializer:
    """The kernel initialiser called `name` (one of `INITIALIZERS`)."""
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown initializer {name!r}; valid names: {', '.join(sorted(INITIALIZERS))}"
        ) from None


def batch_norm(train: bool, momentum: float = 0.9) -> Callable[..., nn.BatchNorm]:
    """The `norm` factory that blocks take: BatchNorm normalising with the batch's statistics
    (and updating the running averages with `momentum`) when `train`, else with the running
    averages."""
    return functools.partial(nn.BatchNorm, use_running_average=not train, momentum=momentum)


# --- Argument checks ---------------------------------------------------------------------------


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """`value` as (height, width): an int is used for both; every entry must be an int >= 1."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be an int >= 1 or a pair of them, got {value!r}")
    return pair


def _check_nhwc(x: jax.Array, what: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{what} expects a 4-D NHWC input (N, H, W, C), got shape {x.shape}")


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """XLA's (and TensorFlow's) 'SAME' padding (before, after) of one spatial axis.

    The output has ceil(size / stride) positions; the dilated kernel spans
    e = (kernel - 1) * dilation + 1 inputs, so the padded input needs
    total = max((out - 1) * stride + e - size, 0) extra positions, split
    before = total // 2 and after = total - before (the odd one goes after: bottom / right).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def resolve_padding(
    padding: Padding,
    spatial: Sequence[int],
    window: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int] = (1, 1),
) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) for `padding` 'SAME', 'VALID' or explicit pairs.

    `spatial` is (H, W) of the input, `window` the (kh, kw) of the kernel or pooling window.
    """
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ValueError(
                f"unknown padding {padding!r}; valid: 'SAME', 'VALID' or "
                "((top, bottom), (left, right)) pairs of ints >= 0"
            )
        if padding == "VALID":
            return (0, 0), (0, 0)
        return tuple(map(same_padding, spatial, window, strides, dilation))
    if not _is_pair_of(padding, lambda p: _is_pair_of(p, lambda v: isinstance(v, int) and v >= 0)):
        raise ValueError(
            f"explicit padding must be ((top, bottom), (left, right)) with ints >= 0, "
            f"got {padding!r}"
        )
    return tuple(tuple(p) for p in padding)


def _is_pair_of(value: object, check: Callable[[object], bool]) -> bool:
    return isinstance(value, Sequence) and len(value) == 2 and all(map(check, value))


def _output_size(size: int, pads: tuple[int, int], span: int, stride: int, what: str) -> int:
    """floor((size + pads - span) / stride) + 1, where span is the (dilated) window extent."""
    padded = size + sum(pads)
    if padded < span:
        raise ValueError(f"{what}: window spans {span} but the padded input has only {padded}")
    return (padded - span) // stride + 1


# --- Convolution -------------------------------------------------------------------------------


def resolve_conv_impl(impl: str) -> str:
    """A concrete impl ('xla', 'xla_cpu' or 'im2col'): `impl` itself, or for 'auto'
    AUTO_CONV_IMPL of the default backend."""
    if impl not in CONV_IMPLS:
        raise ValueError(f"unknown conv impl {impl!r}; valid: {', '.join(CONV_IMPLS)}")
    return AUTO_CONV_IMPL.get(jax.default_backend(), "xla") if impl == "auto" else impl


def _xla_conv(x: jax.Array, kernel: jax.Array, args: tuple) -> jax.Array:
    """lax.conv_general_dilated with args = (strides, pads, dilation, groups), NHWC / HWIO."""
    strides, pads, dilation, groups = args
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=strides,
        padding=pads,
        rhs_dilation=dilation,
        dimension_numbers=_DIMENSION_NUMBERS,
        feature_group_count=groups,
    )


def _identity_matmul(x: jax.Array) -> jax.Array:
    """x @ I over the channel axis: x itself for finite x, but computed by a matmul, which
    XLA reads from x's buffer where it would fuse (re-compute) x's producers into an
    elementwise consumer."""
    eye = jnp.eye(x.shape[-1], dtype=x.dtype)
    return lax.dot_general(x, eye, (((x.ndim - 1,), (0,)), ((), ())))


# Input channels up to which `_tap_sum_conv` beats XLA's CPU convolution (measured on a
# 2-core EPYC: 3.5-5x faster at 1-4 channels, 2x slower at 6).
TAP_SUM_MAX_CHANNELS = 4


def _tap_sum_conv(x: jax.Array, kernel: jax.Array, args: tuple, out_size: tuple) -> jax.Array:
    """The convolution as kh*kw*C_in broadcast multiply-adds of shifted input slices:
    y[n, i, j, :] = sum_{p, q, c} xp[n, i*sh + p*dh, j*sw + q*dw, c] * kernel[p, q, c, :]
    (groups = 1), one fused loop; for a first layer (C_in of 1 to 4) several times faster on
    XLA's CPU backend than its convolution, which packs patches for a matmul whose inner
    dimension (kh*kw*C_in) is tiny. out_size = (Ho, Wo)."""
    strides, pads, dilation, _ = args
    kh, kw, c_in, _ = kernel.shape
    (ho, wo), xp = out_size, jnp.pad(x, ((0, 0), *pads, (0, 0)))
    y = jnp.zeros((x.shape[0], ho, wo, kernel.shape[3]), x.dtype)
    for p in range(kh):
        for q in range(kw):
            rows = slice(p * dilation[0], p * dilation[0] + (ho - 1) * strides[0] + 1, strides[0])
            cols = slice(q * dilation[1], q * dilation[1] + (wo - 1) * strides[1] + 1, strides[1])
            for c in range(c_in):
                y = y + xp[:, rows, cols, c : c + 1] * kernel[p, q, c]
    return y


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _cpu_conv(x: jax.Array, kernel: jax.Array, args: tuple, out_size: tuple) -> jax.Array:
    """`_xla_conv`'s values and derivatives, computed the way XLA's CPU backend runs fastest.

    Forward: `_tap_sum_conv` for float32 inputs with at most TAP_SUM_MAX_CHANNELS channels
    (groups = 1), XLA's convolution otherwise. Derivatives: XLA's convolutions, with the input
    of the kernel gradient read through `_identity_matmul`. Why: XLA's CPU backend computes
    the kernel gradient as a convolution over the input transposed to (C_in, H, W, N), and
    fuses the input's producers (batch norm, residual add and ReLU, and recursively the
    residual stream before them) into that transpose, re-computing them with a transposed,
    cache-hostile access pattern; in ResNet-20 these transposes took about half of the
    training step. Cheaper stand-ins do not work: `lax.optimization_barrier(x)` and a
    contraction of size 1 (which XLA turns into a multiply) left the ResNet-20 step as slow as
    plain 'xla' (0.77x of this one), and dropping the matmul for the 16-channel layers cost 20%.
    A custom JVP (not VJP) keeps forward-mode differentiation working.
    """
    c_in, groups = x.shape[-1], args[3]
    if groups == 1 and c_in <= TAP_SUM_MAX_CHANNELS and x.dtype == jnp.float32:
        return _tap_sum_conv(x, kernel, args, out_size)
    return _xla_conv(x, kernel, args)


@functools.partial(_cpu_conv.defjvp, symbolic_zeros=True)
def _cpu_conv_jvp(args: tuple, out_size: tuple, primals: tuple, tangents: tuple):
    """d conv(x, k) = conv(dx, k) + conv(x, dk): the convolution is bilinear."""
    (x, kernel), (dx, dkernel) = primals, tangents
    y = _cpu_conv(x, kernel, args, out_size)
    terms = []
    if not isinstance(dx, SymbolicZero):
        terms.append(_xla_conv(dx, kernel, args))
    if not isinstance(dkernel, SymbolicZero):
        terms.append(_xla_conv(_identity_matmul(x), dkernel, args))
    return y, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)


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


def _im2col_conv(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
    dilation: tuple[int, int],
    groups: int,
    out_size: tuple[int, int],
) -> jax.Array:
    """Convolution as one matrix product: patches gathered into a matrix times the kernel.

    x (N, H, W, C_in), kernel (kh, kw, Cg, C_out), out_size (Ho, Wo) -> (N, Ho, Wo, C_out):
    1. Zero-pad x to xp (N, H + top + bottom, W + left + right, C_in).
    2. For each kernel tap (p, q) take the strided slice
       xp[:, p*dh : p*dh + (Ho - 1)*sh + 1 : sh, q*dw : q*dw + (Wo - 1)*sw + 1 : sw, :]
       of shape (N, Ho, Wo, C_in); stacking the kh*kw slices, tap-major, gives the patch
       matrix P of shape (N*Ho*Wo, kh*kw*C_in) with P[(n, i, j), (p, q, c)] =
       xp[n, i*sh + p*dh, j*sw + q*dw, c].
    3. The kernel reshaped row-major is K (kh*kw*C_in, C_out) with K[(p, q, c), o] = k[p, q, c, o],
       and Y = P @ K (one GEMM) is y reshaped to (N*Ho*Wo, C_out).

    Groups G split the channels into contiguous blocks, c = g*Cg + c' and o = g*Og + o', and
    output block g sees only input block g: P becomes (G, N*Ho*Wo, kh*kw*Cg), K becomes
    (G, kh*kw*Cg, Og) (the HWIO kernel already holds Cg = C_in/G input channels) and a matmul
    batched over g gives the G output blocks, concatenated along channels. Depthwise: G = C_in.
    The patch matrix holds kh*kw copies of the input: memory for clarity and one big GEMM.
    """
    n = x.shape[0]
    kh, kw, cg, c_out = kernel.shape
    (sh, sw), (dh, dw), (ho, wo) = strides, dilation, out_size
    xp = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    taps = [
        xp[:, p * dh : p * dh + (ho - 1) * sh + 1 : sh, q * dw : q * dw + (wo - 1) * sw + 1 : sw]
        for p in range(kh)
        for q in range(kw)
    ]
    patches = jnp.stack(taps, axis=3).reshape(n * ho * wo, kh * kw, groups, cg)
    patches = patches.transpose(2, 0, 1, 3).reshape(groups, n * ho * wo, kh * kw * cg)
    og = c_out // groups
    k = kernel.reshape(kh * kw, cg, groups, og).transpose(2, 0, 1, 3).reshape(groups, -1, og)
    y = jnp.matmul(patches, k)  # (G, N*Ho*Wo, Og)
    return y.transpose(1, 0, 2).reshape(n, ho, wo, c_out)


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
    (`_im2col_conv`); all agree. 'auto' picks the fastest for the backend (`resolve_conv_impl`).

    Raises:
      ValueError: x or kernel not 4-D, channels not divisible by groups, kernel channels not
        C_in/groups, unknown impl or padding, or a window larger than the padded input.
    """
    impl = resolve_conv_impl(impl)
    _check_conv(x, kernel, groups)
    strides, dilation = _pair(strides, "strides"), _pair(dilation, "dilation")
    pads = resolve_padding(padding, x.shape[1:3], kernel.shape[:2], strides, dilation)
    out_size = tuple(
        _output_size(
            x.shape[1 + a], pads[a], (kernel.shape[a] - 1) * dilation[a] + 1, strides[a], "conv2d"
        )
        for a in (0, 1)
    )
    if impl == "im2col":
        return _im2col_conv(x, kernel, strides, pads, dilation, groups, out_size)
    args = (strides, pads, dilation, groups)
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


class SeparableConv2D(nn.Module):
    """Depthwise separable convolution (Chollet, Xception, 2017): depthwise k x k, then 1x1.

    The depthwise conv (groups = C_in, `depth_multiplier` m filters per input channel, no bias)
    filters each channel on its own, (N, H, W, C_in) -> (N, Ho, Wo, m*C_in); the pointwise
    `Conv1x1` mixes channels, -> (N, Ho, Wo, features), with no non-linearity in between.
    Parameters 'depthwise/kernel' (k, k, 1, m*C_in) and 'pointwise/kernel' (1, 1, m*C_in, C_out),
    plus 'pointwise/bias' (C_out,) if use_bias (the only bias, as in Keras' SeparableConv2D):

        separable: k*k*C_in*m + m*C_in*C_out (+ C_out)     full conv: k*k*C_in*C_out (+ C_out)

    Without biases and with m = 1 the ratio is
    (k*k*C_in + C_in*C_out) / (k*k*C_in*C_out) = 1/C_out + 1/k^2, e.g. 3x3, C_out = 64:
    1/64 + 1/9 = 0.127, almost 8x fewer weights (and multiply-adds per output pixel).
    """

    features: int
    kernel_size: Sequence[int]
    strides: int | Sequence[int] = 1
    padding: Padding = "SAME"
    kernel_dilation: int | Sequence[int] = 1
    depth_multiplier: int = 1
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_nhwc(x, type(self).__name__)
        c_in = x.shape[-1]
        x = Conv2D(
            c_in * self.depth_multiplier,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            kernel_dilation=self.kernel_dilation,
            feature_group_count=c_in,
            use_bias=False,
            kernel_init=self.kernel_init,
            impl=self.impl,
            name="depthwise",
        )(x)
        return Conv1x1(
            self.features,
            use_bias=self.use_bias,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            impl=self.impl,
            name="pointwise",
        )(x)


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


# --- Pooling and normalisation -----------------------------------------------------------------


def _pool(
    x: jax.Array,
    init: float,
    reducer: Callable[[jax.Array, jax.Array], jax.Array],
    window: int | Sequence[int],
    strides: int | Sequence[int] | None,
    padding: Padding,
    what: str,
) -> jax.Array:
    """`reducer` (lax.max or lax.add) over each window of H and W of an NHWC x, from `init`.

    Non-overlapping windows without padding (window == strides, the usual 2x2/2 pooling) are a
    reshape (N, Ho, wh, Wo, ww, C) reduced over the wh and ww axes: the same values, faster on
    XLA's CPU backend, where reduce_window's max gradient (select-and-scatter) is slow.
    """
    _check_nhwc(x, what)
    window = _pair(window, "window")
    strides = window if strides is None else _pair(strides, "strides")
    pads = resolve_padding(padding, x.shape[1:3], window, strides)
    out = [
        _output_size(x.shape[1 + axis], pads[axis], window[axis], strides[axis], what)
        for axis in (0, 1)
    ]
    if window == strides and pads == ((0, 0), (0, 0)):
        (ho, wo), (wh, ww) = out, window
        blocks = x[:, : ho * wh, : wo * ww].reshape(x.shape[0], ho, wh, wo, ww, x.shape[3])
        return (jnp.max if reducer is lax.max else jnp.sum)(blocks, axis=(2, 4))
    full_pads = ((0, 0), *pads, (0, 0))
    return lax.reduce_window(x, init, reducer, (1, *window, 1), (1, *strides, 1), full_pads)


def max_pool(
    x: jax.Array,
    window: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> jax.Array:
    """Max over each (wh, ww) window of a float NHWC x, per channel; strides default to window.

    y[n, i, j, c] = max_{p < wh, q < ww} xp[n, i*sh + p, j*sw + q, c], with x padded by -inf
    ('SAME' uses `same_padding`, so padding never wins). Output (N, Ho, Wo, C) with
    Ho = floor((H + pads - wh) / sh) + 1, e.g. 2x2 windows with stride 2 halve H and W.
    The gradient flows only to each window's maximum (split equally between tied maxima of
    non-overlapping windows; to the first of them otherwise).
    """
    return _pool(x, -jnp.inf, lax.max, window, strides, padding, "max_pool")


def avg_pool(
    x: jax.Array,
    window: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> jax.Array:
    """Mean over each (wh, ww) window of an NHWC x, per channel; strides default to window.

    Padded positions do not count: each window's sum is divided by the number of input
    elements it covers, as Keras / TensorFlow do ('SAME' border outputs average fewer than
    wh*ww values). flax.linen.avg_pool counts them by default (count_include_pad=True).
    """
    sums = _pool(x, 0.0, lax.add, window, strides, padding, "avg_pool")
    ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
    counts = _pool(ones, 0.0, lax.add, window, strides, padding, "avg_pool")
    return sums / counts


def global_avg_pool(x: jax.Array) -> jax.Array:
    """Mean over H and W: (N, H, W, C) -> (N, C) (Lin et al., Network in Network, 2013)."""
    _check_nhwc(x, "global_avg_pool")
    return jnp.mean(x, axis=(1, 2))


def local_response_norm(
    x: jax.Array,
    depth_radius: int = 2,
    bias: float = 2.0,
    alpha: float = 1e-4,
    beta: float = 0.75,
) -> jax.Array:
    """AlexNet's local response normalisation across channels (Krizhevsky et al., 2012).

    With r = depth_radius (AlexNet: n = 2r + 1 = 5 adjacent maps), k = bias, and C channels:

        b_c = a_c / (k + alpha * sum_{c' = max(0, c - r)}^{min(C - 1, c + r)} a_{c'}^2)^beta

    per pixel of an NHWC x. Convention: AlexNet's and TensorFlow's
    (tf.nn.local_response_normalization): alpha multiplies the plain sum of squares, it is
    NOT divided by the window size n. PyTorch's nn.LocalResponseNorm(size=n) divides it by n
    (and always by n, also where the window is cut at the edges); for its alpha use
    alpha_torch / (2 * depth_radius + 1). Defaults are AlexNet's k=2, n=5, alpha=1e-4, beta=0.75.
    """
    _check_nhwc(x, "local_response_norm")
    if not isinstance(depth_radius, int) or depth_radius < 0:
        raise ValueError(f"depth_radius must be an int >= 0, got {depth_radius!r}")
    r = depth_radius
    sums = lax.reduce_window(
        jnp.square(x), 0.0, lax.add, (1, 1, 1, 2 * r + 1), (1, 1, 1, 1), ((0, 0),) * 3 + ((r, r),)
    )
    return x / (bias + alpha * sums) ** beta
