"""Inception modules (Szegedy et al. 2015, Ioffe & Szegedy 2015, Szegedy et al. 2016).

An Inception module runs parallel branches on the same NHWC input (N, H, W, C) and concatenates
their outputs along channels: (N, H, W, sum of the branches' widths), spatial size unchanged
(SAME padding, stride 1), except for the grid reduction, which halves H and W.

Parameter arithmetic (weights only; a k x k conv C_in -> C_out has k*k*C_in*C_out):
  * 1x1 reductions: a 3x3 branch 256 -> 192 has 3*3*256*192 = 442,368 weights; reducing to 64
    first costs 1*1*256*64 + 3*3*64*192 = 16,384 + 110,592 = 126,976 (3.5x fewer).
  * Factorising a 5x5 into two stacked 3x3 (same receptive field): 9 + 9 = 18 weights per
    (input, output) channel pair against 25, i.e. 18/25 = 0.72 (with equal widths).
  * Factorising an n x n into 1 x n then n x 1: 2n against n^2 per channel pair, 14/49 for n=7.

Every branch is built from `ConvNormAct` units, so the convolution (`conv`, e.g. a partial of
`cnnjax.layers.Conv2D` with its `impl`), the normalisation (`norm`, e.g. a partial of
nn.BatchNorm with use_running_average bound from `train`, or None) and the activation are
arguments of the blocks, not baked in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.layers import Conv2D, avg_pool, max_pool

ModuleDef = Any

POOLS = {"max": max_pool, "avg": avg_pool}


def _pool(name: str) -> Callable[..., jax.Array]:
    try:
        return POOLS[name]
    except KeyError:
        raise ValueError(f"pool must be 'max' or 'avg', got {name!r}") from None


class ConvNormAct(nn.Module):
    """conv(features, kernel_size, strides) -> norm (if given) -> act, SAME padding by default
    (`padding` as Conv2D's: 'SAME', 'VALID' or ((top, bottom), (left, right))).

    The convolution has a bias only without `norm` (batch norm's shift replaces it), so its
    parameters are kh*kw*C_in*features (+ features), plus norm's 2*features scale and bias.
    """

    features: int
    kernel_size: Sequence[int] = (1, 1)
    strides: int | Sequence[int] = 1
    conv: ModuleDef = Conv2D
    norm: ModuleDef | None = None
    act: Callable[[jax.Array], jax.Array] = nn.relu
    padding: Any = "SAME"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.conv(
            self.features,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            use_bias=self.norm is None,
            name="conv",
        )(x)
        if self.norm is not None:
            x = self.norm(name="norm")(x)
        return self.act(x)


class _Branches(nn.Module):
    """Shared fields of the Inception modules: how to build a ConvNormAct unit."""

    conv: ModuleDef = Conv2D
    norm: ModuleDef | None = None
    act: Callable[[jax.Array], jax.Array] = nn.relu

    def unit(self, features: int, kernel_size: Sequence[int], name: str, strides: int = 1):
        return ConvNormAct(
            features, kernel_size, strides, self.conv, self.norm, self.act, name=name
        )


class InceptionNaive(_Branches):
    """The naive Inception module (Szegedy et al. 2015, figure 2a): 1x1, 3x3, 5x5 and pool.

    Output channels f1 + f3 + f5 + C_in (the 3x3/1 max pool passes all C_in channels through,
    so stacking these modules grows the width: the reason for the 1x1 reductions).
    Weights: C_in*(f1 + 9*f3 + 25*f5).
    """

    f1: int = 64
    f3: int = 128
    f5: int = 32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branches = [
            self.unit(self.f1, (1, 1), "b1x1")(x),
            self.unit(self.f3, (3, 3), "b3x3")(x),
            self.unit(self.f5, (5, 5), "b5x5")(x),
            max_pool(x, 3, 1, "SAME"),
        ]
        return jnp.concatenate(branches, axis=-1)


class InceptionV1(_Branches):
    """GoogLeNet's Inception module (Szegedy et al. 2015, figure 2b and table 1).

    Branches: 1x1 f1 | 1x1 f3r -> 3x3 f3 | 1x1 f5r -> 5x5 f5 | 3x3/1 max pool -> 1x1 pool_proj,
    output channels f1 + f3 + f5 + pool_proj. The six numbers are table 1's columns
    "#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj", e.g. 3a = (64, 96, 128, 16, 32, 32)
    on 192 channels -> 256. Weights: C_in*(f1 + f3r + f5r + pool_proj) + 9*f3r*f3 + 25*f5r*f5.
    `k5` is the third branch's kernel size (5; torchvision's googlenet uses 3 there, keeping
    the parameter names b5x5*).
    """

    f1: int = 64
    f3r: int = 96
    f3: int = 128
    f5r: int = 16
    f5: int = 32
    pool_proj: int = 32
    k5: int = 5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b3 = self.unit(self.f3r, (1, 1), "b3x3_reduce")(x)
        b5 = self.unit(self.f5r, (1, 1), "b5x5_reduce")(x)
        branches = [
            self.unit(self.f1, (1, 1), "b1x1")(x),
            self.unit(self.f3, (3, 3), "b3x3")(b3),
            self.unit(self.f5, (self.k5, self.k5), "b5x5")(b5),
            self.unit(self.pool_proj, (1, 1), "pool_proj")(max_pool(x, 3, 1, "SAME")),
        ]
        return jnp.concatenate(branches, axis=-1)


class InceptionV2(_Branches):
    """BN-Inception's module (Ioffe & Szegedy 2015; Szegedy et al. 2016, figure 5).

    InceptionV1 with the 5x5 branch factorised into two stacked 3x3 convs (same 5x5 receptive
    field, 18/25 of the weights at equal width): 1x1 f1 | 1x1 f3r -> 3x3 f3 |
    1x1 d3r -> 3x3 d3 -> 3x3 d3 | 3x3/1 `pool` ('max' or 'avg') -> 1x1 pool_proj; output channels
    f1 + f3 + d3 + pool_proj. Weights: C_in*(f1 + f3r + d3r + pool_proj) + 9*f3r*f3 +
    9*d3r*d3 + 9*d3*d3.
    """

    f1: int = 64
    f3r: int = 64
    f3: int = 64
    d3r: int = 64
    d3: int = 96
    pool_proj: int = 32
    pool: str = "avg"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        pooled = _pool(self.pool)(x, 3, 1, "SAME")
        b3 = self.unit(self.f3r, (1, 1), "b3x3_reduce")(x)
        d3 = self.unit(self.d3r, (1, 1), "d3x3_reduce")(x)
        d3 = self.unit(self.d3, (3, 3), "d3x3_a")(d3)
        branches = [
            self.unit(self.f1, (1, 1), "b1x1")(x),
            self.unit(self.f3, (3, 3), "b3x3")(b3),
            self.unit(self.d3, (3, 3), "d3x3_b")(d3),
            self.unit(self.pool_proj, (1, 1), "pool_proj")(pooled),
        ]
        return jnp.concatenate(branches, axis=-1)


class InceptionV3(_Branches):
    """Inception-v3's asymmetric module (Szegedy et al. 2016, figure 6), n x n as 1 x n, n x 1.

    Branches: 1x1 f1 | 1x1 fnr -> 1xn fnr -> nx1 fn |
    1x1 dnr -> 1xn dnr -> nx1 dnr -> 1xn dnr -> nx1 dn | 3x3/1 `pool` -> 1x1 pool_proj;
    output channels f1 + fn + dn + pool_proj (the paper uses n = 7 on the 17x17 grid, e.g.
    (192, 128, 192, 128, 192, 192) on 768 channels -> 768). Each 1 x n + n x 1 pair has 2n
    weights per channel pair where an n x n conv has n^2. Weights: C_in*(f1 + fnr + dnr +
    pool_proj) + n*fnr*fnr + n*fnr*fn + 3*n*dnr*dnr + n*dnr*dn.
    """

    f1: int = 192
    fnr: int = 128
    fn: int = 192
    dnr: int = 128
    dn: int = 192
    pool_proj: int = 192
    n: int = 7
    pool: str = "avg"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        n = self.n
        pooled = _pool(self.pool)(x, 3, 1, "SAME")
        b = self.unit(self.fnr, (1, 1), "bnxn_reduce")(x)
        b = self.unit(self.fnr, (1, n), "bnxn_1xn")(b)
        b = self.unit(self.fn, (n, 1), "bnxn_nx1")(b)
        d = self.unit(self.dnr, (1, 1), "dnxn_reduce")(x)
        d = self.unit(self.dnr, (1, n), "dnxn_1xn_a")(d)
        d = self.unit(self.dnr, (n, 1), "dnxn_nx1_a")(d)
        d = self.unit(self.dnr, (1, n), "dnxn_1xn_b")(d)
        d = self.unit(self.dn, (n, 1), "dnxn_nx1_b")(d)
        pooled = self.unit(self.pool_proj, (1, 1), "pool_proj")(pooled)
        return jnp.concatenate([self.unit(self.f1, (1, 1), "b1x1")(x), b, d, pooled], axis=-1)


class InceptionReduction(_Branches):
    """Inception-v3's grid reduction (Szegedy et al. 2016, figure 10): H, W halved.

    Branches in parallel, all with stride 2 at the end: 1x1 f3r -> 3x3/2 f3 |
    1x1 d3r -> 3x3 d3 -> 3x3/2 d3 | 3x3/2 max pool; output (N, ceil(H/2), ceil(W/2),
    f3 + d3 + C_in). Pooling and convolving in parallel avoids both the representational
    bottleneck of pooling first and the cost of convolving at full size first.
    Weights: C_in*(f3r + d3r) + 9*f3r*f3 + 9*d3r*d3 + 9*d3*d3.
    """

    f3r: int = 64
    f3: int = 96
    d3r: int = 64
    d3: int = 96

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b = self.unit(self.f3r, (1, 1), "b3x3_reduce")(x)
        d = self.unit(self.d3r, (1, 1), "d3x3_reduce")(x)
        d = self.unit(self.d3, (3, 3), "d3x3_a")(d)
        branches = [
            self.unit(self.f3, (3, 3), "b3x3", strides=2)(b),
            self.unit(self.d3, (3, 3), "d3x3_b", strides=2)(d),
            max_pool(x, 3, 2, "SAME"),
        ]
        return jnp.concatenate(branches, axis=-1)
