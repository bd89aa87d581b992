"""Patch whitening: the filters decorrelate the patches they were computed from."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.layers import conv2d
from cnnjax.layers.whitening import patches, whitening_kernel


def test_patches_are_the_windows_in_hwc_order():
    x = jnp.arange(2 * 3 * 4 * 2, dtype=jnp.float32).reshape(2, 3, 4, 2)
    p = patches(x, (2, 2))
    assert p.shape == (2 * 2 * 3, 8)
    np.testing.assert_array_equal(p[0], np.asarray(x[0, :2, :2, :]).reshape(-1))
    np.testing.assert_array_equal(p[-1], np.asarray(x[1, 1:3, 2:4, :]).reshape(-1))


def test_whitened_patches_have_unit_uncorrelated_variances():
    # correlated channels, so that whitening has something to undo
    key1, key2 = jax.random.split(jax.random.PRNGKey(0))
    base = jax.random.normal(key1, (64, 8, 8, 1))
    x = jnp.concatenate([base, base + 0.3 * jax.random.normal(key2, (64, 8, 8, 1))], -1)
    eps = 1e-6
    kernel = whitening_kernel(x, (2, 2), eps)
    assert kernel.shape == (2, 2, 2, 16)
    y = conv2d(x, kernel, padding="VALID", impl="xla").reshape(-1, 16)
    half = np.asarray(y[:, :8], np.float64)
    np.testing.assert_allclose(half.T @ half / len(half), np.eye(8), atol=2e-3)
    np.testing.assert_array_equal(y[:, 8:], -y[:, :8])  # the second half: the negatives
    # the filters are ordered by decreasing eigenvalue: the first captures the most variance
    p = np.asarray(patches(x, (2, 2)), np.float64)
    w = np.asarray(kernel, np.float64).reshape(8, 16)[:, :8]
    norms = np.linalg.norm(w, axis=0)
    variances = np.var(p @ (w / norms), axis=0) + np.mean(p @ (w / norms), axis=0) ** 2
    assert np.all(np.diff(variances) <= 1e-9)


def test_eps_caps_the_gain_of_tiny_directions():
    x = jnp.zeros((4, 3, 3, 1)).at[:, 1, 1, 0].set(1.0)  # most patch directions never vary
    kernel = whitening_kernel(x, (2, 2), eps=0.25)
    assert np.isfinite(np.asarray(kernel)).all()
    assert float(jnp.max(jnp.abs(kernel))) <= 1 / np.sqrt(0.25) + 1e-6


def test_whitening_needs_nhwc_images():
    with pytest.raises(ValueError, match=r"NHWC images, got shape \(3, 4\)"):
        whitening_kernel(jnp.zeros((3, 4)), (2, 2))
