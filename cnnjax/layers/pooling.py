"""Pooling over H and W of NHWC inputs: max, average (padding not counted) and global average."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.layers.padding import Padding, _check_nhwc, _output_size, _pair, resolve_padding


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
