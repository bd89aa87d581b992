"""FCN: its parameter count, its bilinear start and its shapes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models
from cnnjax.layers import conv_transpose2d
from cnnjax.models.fcn import bilinear_init


def count(model, shape):
    variables = jax.eval_shape(
        lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(shape), train=False)
    )
    return sum(x.size for x in jax.tree.leaves(variables["params"]))


def test_parameter_counts_with_and_without_skips():
    small = functools.partial(models.create, num_classes=3, widths=(4, 8), convs_per_stage=1)
    # conv 1->4 (36) + BN (8); conv 4->8 (288) + BN (16); score_last 8*3+3 = 27.
    encoder = 36 + 8 + 288 + 16 + 27
    # skips: up1 (4*4*3*3 + 3), score0 (4*3 + 3), up0 (4*4*3*3 + 3).
    assert count(small("fcn"), (1, 8, 8, 1)) == encoder + 147 + 15 + 147
    # no skips: one up-sampling x4, kernel 8: 8*8*3*3 + 3.
    assert count(small("fcn_noskip"), (1, 8, 8, 1)) == encoder + 579


@pytest.mark.parametrize("factor", [2, 4])
def test_bilinear_start_interpolates_like_jax_image_resize(factor):
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 6, 6, 2))
    kernel = bilinear_init(None, (2 * factor, 2 * factor, 2, 2))
    up = conv_transpose2d(x, kernel, strides=factor)
    reference = jax.image.resize(x, (1, 6 * factor, 6 * factor, 2), "bilinear")
    inner = slice(factor, -factor)  # the borders see zero padding instead of edge values
    np.testing.assert_allclose(up[:, inner, inner], reference[:, inner, inner], atol=1e-5)


def test_output_is_per_pixel_and_sizes_must_divide():
    model = models.create("fcn", 5, widths=(2, 2), convs_per_stage=1)
    x = jnp.zeros((2, 12, 8, 1))
    variables = model.init(jax.random.PRNGKey(0), x, train=False)
    assert model.apply(variables, x, train=False).shape == (2, 12, 8, 5)
    with pytest.raises(ValueError, match="divisible by 4"):
        model.init(jax.random.PRNGKey(0), jnp.zeros((1, 10, 8, 1)), train=False)
    with pytest.raises(ValueError, match="C_out == C_in"):
        bilinear_init(None, (4, 4, 2, 3))
