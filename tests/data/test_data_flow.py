"""Synthetic optical flow: warping against NumPy shifts, flows' statistics, end-point error."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.data import flow


def test_integer_flow_is_a_shift_with_edges_repeated():
    image = np.arange(2 * 5 * 6 * 2, dtype=np.float32).reshape(2, 5, 6, 2)
    f = np.zeros((2, 5, 6, 2), np.float32)
    f[..., 0], f[..., 1] = 1.0, -2.0  # sample one row down and two columns left
    out = np.asarray(flow.warp(jnp.asarray(image), jnp.asarray(f)))
    rows = np.clip(np.arange(5) + 1, 0, 4)
    cols = np.clip(np.arange(6) - 2, 0, 5)
    np.testing.assert_allclose(out, image[:, rows][:, :, cols], rtol=1e-6)
    np.testing.assert_allclose(flow.warp(jnp.asarray(image), jnp.zeros_like(f)), image)


def test_half_pixel_flow_interpolates_linearly():
    image = jnp.asarray(np.arange(4, dtype=np.float32).reshape(1, 1, 4, 1) * 10)
    f = jnp.zeros((1, 1, 4, 2)).at[..., 1].set(0.5)
    np.testing.assert_allclose(flow.warp(image, f)[0, 0, :, 0], [5, 15, 25, 30], rtol=1e-6)
    with pytest.raises(ValueError, match="one size"):
        flow.warp(image, jnp.zeros((1, 1, 3, 2)))


def test_random_flows_are_smooth_reproducible_and_scaled_by_sigma():
    key = jax.random.PRNGKey(0)
    a = np.asarray(flow.random_flows(key, 64, (16, 16), sigma=2.0))
    np.testing.assert_array_equal(a, flow.random_flows(key, 64, (16, 16), sigma=2.0))
    assert a.shape == (64, 16, 16, 2)
    assert 1.2 < a.std() < 2.4  # interpolation shrinks the lattice's N(0, 4) a little
    neighbours = np.abs(np.diff(a, axis=1)).mean()
    # Smooth: neighbours move together (independent pixels would give 2/sqrt(pi) / sqrt(2/pi)
    # = 1.41 times the mean magnitude).
    assert neighbours < 0.5 * np.abs(a).mean()
    with pytest.raises(ValueError, match="grid >= 2"):
        flow.random_flows(key, 1, (8, 8), 1.0, grid=1)


def test_endpoint_error_is_the_mean_euclidean_distance():
    true = jnp.zeros((1, 1, 2, 2))
    predicted = jnp.asarray([[[[3.0, 4.0], [0.0, 1.0]]]])
    np.testing.assert_allclose(flow.endpoint_error(predicted, true), [3.0])  # (5 + 1) / 2
