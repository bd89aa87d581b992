"""conv2d's 'im2col' implementation: patches gathered into a matrix, then one (batched) GEMM."""

from __future__ import annotations

import jax
import jax.numpy as jnp


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
