"""Loss and penalty math against hand computation."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import losses


def test_cross_entropy_matches_hand_computation():
    logits = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    labels = jnp.array([0, 2])
    z = np.exp([2.0, 0.0, -1.0])
    expected = [-math.log(z[0] / z.sum()), math.log(3.0)]
    np.testing.assert_allclose(losses.cross_entropy(logits, labels), expected, rtol=1e-6)


def test_label_smoothing_targets():
    logits = jnp.array([[1.0, 2.0, 3.0, 4.0]])
    eps = 0.2
    logp = np.log(np.exp([1.0, 2.0, 3.0, 4.0]) / np.exp([1.0, 2.0, 3.0, 4.0]).sum())
    target = np.array([1 - eps + eps / 4, eps / 4, eps / 4, eps / 4])
    np.testing.assert_allclose(
        losses.cross_entropy(logits, jnp.array([0]), eps), [-(target * logp).sum()], rtol=1e-6
    )


PARAMS = {
    "conv": {"kernel": jnp.array([[1.0, -2.0]]), "bias": jnp.array([3.0])},
    "bn": {"scale": jnp.array([-4.0])},
}


@pytest.mark.parametrize("penalize,abs_sum,sq_sum", [("kernels", 3.0, 5.0), ("all", 10.0, 30.0)])
def test_weight_penalty(penalize, abs_sum, sq_sum):
    assert losses.weight_penalty(PARAMS, l1=0.1, penalize=penalize) == pytest.approx(0.1 * abs_sum)
    assert losses.weight_penalty(PARAMS, l2=0.1, penalize=penalize) == pytest.approx(0.05 * sq_sum)
    assert losses.weight_penalty(PARAMS, l1=0.1, l2=0.1, penalize=penalize) == pytest.approx(
        0.1 * abs_sum + 0.05 * sq_sum
    )
    assert losses.weight_penalty(PARAMS, penalize=penalize) == 0.0


def test_bad_penalize_choice():
    with pytest.raises(ValueError, match="penalize"):
        losses.weight_penalty(PARAMS, l1=1.0, penalize="biases")
