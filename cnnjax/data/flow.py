"""Synthetic optical flow: image pairs made by warping an image with a known smooth flow field.

    flows = random_flows(key, n, (H, W), sigma, grid)         (n, H, W, 2) float32, pixels
    second = warp(first, flows)                                (n, H, W, C) float32

A flow field is smooth and random: a `grid` x `grid` lattice of independent N(0, sigma^2)
displacements (rows and columns separately) interpolated bicubically to H x W. The second
image samples the first at the displaced positions,

    second[y, x] = first[y + flow[y, x, 0], x + flow[y, x, 1]]     (bilinear; edge pixels
                                                                     repeated outside)

so flow[y, x] says where the content seen at (y, x) in the second image was in the first (the
backward flow of the pair); a network reading (first, second) is asked for it. Everything is
a pure function of the key, so data sets are reproducible and can be drawn on the device.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def random_flows(key: jax.Array, n: int, size: tuple[int, int], sigma: float, grid: int = 4):
    """(n, H, W, 2) smooth random flow fields, in pixels (rows, columns); see the module
    docstring."""
    if grid < 2 or sigma < 0:
        raise ValueError(f"random_flows needs grid >= 2 and sigma >= 0, got {grid} and {sigma}")
    coarse = sigma * jax.random.normal(key, (n, grid, grid, 2))
    return jax.image.resize(coarse, (n, *size, 2), "bicubic")


def warp(images: jax.Array, flows: jax.Array) -> jax.Array:
    """images (n, H, W, C) sampled at (y + flow_y, x + flow_x), bilinear with edge repeat."""
    if images.shape[:3] != flows.shape[:3] or flows.shape[-1] != 2:
        raise ValueError(
            f"warp needs images (n, H, W, C) and flows (n, H, W, 2) of one size, got "
            f"{images.shape} and {flows.shape}"
        )
    h, w = images.shape[1:3]
    rows, cols = jnp.meshgrid(
        jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
    )

    def one(image, flow):
        coords = [rows + flow[..., 0], cols + flow[..., 1]]
        sample = lambda channel: jax.scipy.ndimage.map_coordinates(
            channel, coords, order=1, mode="nearest"
        )
        return jnp.stack([sample(image[..., c]) for c in range(image.shape[-1])], -1)

    return jax.vmap(one)(images.astype(jnp.float32), flows)


def endpoint_error(predicted: jax.Array, true: jax.Array) -> jax.Array:
    """Per-pair average end-point error (n,): mean over pixels of ||predicted - true||_2."""
    return jnp.mean(jnp.sqrt(jnp.sum(jnp.square(predicted - true), -1)), axis=(1, 2))
