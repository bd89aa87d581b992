"""SRCNN and ESPCN: published sizes, the pixel shuffle against an explicit loop, residuals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models
from cnnjax.models.superres import bicubic_upsample, pixel_shuffle


def count(model, shape):
    variables = jax.eval_shape(
        lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(shape), train=False)
    )
    return sum(x.size for x in jax.tree.leaves(variables["params"]))


def test_srcnn_9_1_5_has_the_published_8129_parameters_on_grey_images():
    # 9*9*1*64 + 64 + 1*1*64*32 + 32 + 5*5*32*1 + 1 (Dong et al. 2014, section 4.1: 8,032
    # weights; with the biases 8,129).
    assert count(models.create("srcnn", 1), (1, 16, 16, 1)) == 8_129


@pytest.mark.parametrize("scale", [2, 3])
def test_espcn_parameter_count(scale):
    c, r2 = 3, scale * scale
    expected = 25 * c * 64 + 64 + 9 * 64 * 32 + 32 + 9 * 32 * c * r2 + c * r2
    assert count(models.create("espcn", c, scale=scale), (1, 8, 8, c)) == expected


def test_pixel_shuffle_matches_its_definition():
    r, c = 2, 3
    z = np.arange(2 * 3 * 4 * c * r * r, dtype=np.float32).reshape(2, 3, 4, c * r * r)
    out = np.asarray(pixel_shuffle(jnp.asarray(z), r))
    assert out.shape == (2, 6, 8, c)
    for n, i, j, a, b, k in np.ndindex(2, 3, 4, r, r, c):
        assert out[n, i * r + a, j * r + b, k] == z[n, i, j, (a * r + b) * c + k]
    with pytest.raises(ValueError, match="multiple of r"):
        pixel_shuffle(jnp.zeros((1, 2, 2, 3)), 2)


def test_residual_models_start_at_bicubic_and_learn_a_correction():
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 6, 6, 1))
    for name, base in (("srcnn", x), ("espcn", bicubic_upsample(x, 2))):
        model = models.create(name, 1)
        variables = model.init(jax.random.PRNGKey(1), x, train=False)
        np.testing.assert_allclose(model.apply(variables, x, train=False), base, atol=1e-6)
        perturbed = jax.tree.map(lambda v: v + 0.1, variables)
        correction = model.apply(perturbed, x, train=False) - base
        assert float(jnp.abs(correction).max()) > 1e-3
        direct = models.create(name, 1, residual=False)
        np.testing.assert_allclose(
            direct.apply(perturbed, x, train=False), correction, rtol=1e-5, atol=1e-6
        )
    with pytest.raises(ValueError, match="num_classes=3 but the input has 1"):
        models.create("srcnn", 3).init(jax.random.PRNGKey(0), x, train=False)
