"""Patch whitening (ZCA-style, without the rotation back): a convolution kernel computed from
the data, so that the first layer sees decorrelated, unit-variance patches (Coates & Ng 2012;
the frozen first layer of airbench, Jordan 2024, arXiv 2404.00498).

For patches p (vectors of kh*kw*C values) of the training images, with covariance
Sigma = E[p p^T] (patches of normalised images, not centred again) = V diag(lambda) V^T:

    w_i = v_i / sqrt(lambda_i + eps),  i = 1 .. D (D = kh*kw*C, largest eigenvalue first)

so that w_i . p has variance lambda_i / (lambda_i + eps) (about 1 for lambda >> eps) and
different i are uncorrelated. The kernel holds the D filters w_i followed by the D filters
-w_i: 2D output channels, so that a ReLU or GELU after the layer passes both signs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def patches(images: jax.Array, size: tuple[int, int]) -> jax.Array:
    """Every (kh, kw) patch of NHWC `images` (stride 1, no padding), flattened in HWC order:
    (N * (H - kh + 1) * (W - kw + 1), kh * kw * C), float32."""
    kh, kw = size
    n, h, w, c = images.shape
    x = images.astype(jnp.float32)
    cols = [x[:, p : p + h - kh + 1, q : q + w - kw + 1, :] for p in range(kh) for q in range(kw)]
    return jnp.stack(cols, axis=3).reshape(-1, kh * kw * c)


def whitening_kernel(images: jax.Array, size: tuple[int, int], eps: float = 5e-4) -> jax.Array:
    """The HWIO kernel (kh, kw, C, 2 kh kw C) of the module docstring from NHWC `images`
    (already normalised as the network sees them): filters w_1 .. w_D, then -w_1 .. -w_D."""
    if images.ndim != 4:
        raise ValueError(f"whitening_kernel expects NHWC images, got shape {images.shape}")
    kh, kw = size
    c = images.shape[-1]
    p = patches(images, size)
    covariance = p.T @ p / p.shape[0]
    eigenvalues, eigenvectors = jnp.linalg.eigh(covariance)  # ascending
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    filters = eigenvectors / jnp.sqrt(eigenvalues + eps)  # (D, D): column i is w_i
    kernel = jnp.concatenate([filters, -filters], axis=1)  # (D, 2D)
    return kernel.reshape(kh, kw, c, 2 * kh * kw * c)
