"""conv2d's 'xla_cpu' implementation, `_cpu_conv`: the values and derivatives of 'xla',
computed the way XLA's CPU backend runs fastest (tap sums for few input channels, an identity
matmul in front of the kernel gradient, under a custom JVP)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from cnnjax.layers.xla_conv import _xla_conv


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
