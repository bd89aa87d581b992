"""cnnjax.interpret: Grad-CAM equals CAM on a GAP + linear model; a trained model's heatmap
peaks on the patch that decides the class; filters and feature-map layers of registered models."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import interpret, models


class Features(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(8, (3, 3), name="conv1")(x))
        return nn.relu(nn.Conv(8, (3, 3), name="conv2")(x))


class GapNet(nn.Module):
    """features (module) -> global average pooling -> dense head: the model CAM is made for."""

    @nn.compact
    def __call__(self, x, train):
        f = Features(name="features")(x)
        return nn.Dense(2, name="head")(jnp.mean(f, axis=(1, 2)))


def patch_data(n, seed):
    """16x16 noise images; class 1 has a bright 4x4 patch at a random place, class 0 a dim one.
    Returns images (n, 16, 16, 1), labels (n,), patch corners (n, 2)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 0.3, (n, 16, 16, 1)).astype(np.float32)
    labels = rng.integers(0, 2, n)
    corners = rng.integers(0, 13, (n, 2))
    for img, label, (r, c) in zip(images, labels, corners):
        img[r : r + 4, c : c + 4] = 1.0 if label else 0.15
    return jnp.asarray(images), jnp.asarray(labels), corners


@pytest.fixture(scope="module")
def trained():
    model = GapNet()
    images, labels, _ = patch_data(512, 0)
    params = model.init(jax.random.PRNGKey(0), images[:1], train=False)["params"]
    tx = optax.adam(1e-2)
    opt = tx.init(params)

    @jax.jit
    def step(params, opt):
        def loss(p):
            logits = model.apply({"params": p}, images, train=True)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        updates, opt = tx.update(jax.grad(loss)(params), opt)
        return optax.apply_updates(params, updates), opt

    for _ in range(300):
        params, opt = step(params, opt)
    return model, {"params": params}


def test_grad_cam_equals_cam_on_a_gap_linear_model(trained):
    model, variables = trained
    images, _, _ = patch_data(8, 1)
    classes = jnp.asarray([0, 1] * 4)
    g = interpret.grad_cam(model.apply, variables, images, classes, "features")
    c = interpret.cam(model.apply, variables, images, classes, "features")
    assert g.shape == (8, 16, 16) and float(g.max()) == pytest.approx(1.0)
    np.testing.assert_allclose(np.asarray(g), np.asarray(c), atol=1e-5)


def test_heatmap_peaks_on_the_patch_that_decides_the_class(trained):
    model, variables = trained
    images, labels, corners = patch_data(64, 2)
    logits = model.apply(variables, images, train=False)
    assert float(jnp.mean(jnp.argmax(logits, -1) == labels)) > 0.95
    ones = np.flatnonzero(np.asarray(labels) == 1)
    maps = interpret.grad_cam(
        model.apply, variables, images[ones], jnp.ones(len(ones), jnp.int32), "features"
    )
    hits = 0
    for m, (r, c) in zip(np.asarray(maps), corners[ones]):
        i, j = np.unravel_index(np.argmax(m), m.shape)
        hits += (r - 1 <= i <= r + 4) and (c - 1 <= j <= c + 4)
    assert hits >= 0.9 * len(ones)


def test_cam_refuses_a_model_that_is_not_gap_then_linear():
    model = models.create("small_cnn", 10, widths=(4,), convs_per_stage=1, hidden=8)
    x = jnp.ones((2, 8, 8, 1))
    variables = model.init(jax.random.PRNGKey(0), x, train=False)
    layer = interpret.last_feature_map(model.apply, variables, x)
    with pytest.raises(ValueError, match="CAM needs logits = global average"):
        interpret.cam(model.apply, variables, x, jnp.zeros(2, jnp.int32), layer)
    assert (
        interpret.grad_cam(model.apply, variables, x, jnp.zeros(2, jnp.int32), layer).shape[0] == 2
    )


def test_filters_and_feature_map_layer_of_resnet20():
    model = models.create("resnet20", 10)
    x = jnp.ones((1, 32, 32, 3))
    variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x, train=False))
    assert interpret.first_conv_kernel(model.apply, variables, x).shape == (3, 3, 3, 16)
    layer = interpret.last_feature_map(model.apply, variables, x)
    assert layer.startswith("stage2"), layer
    maps = jax.eval_shape(
        lambda v: interpret.grad_cam(model.apply, v, x, jnp.zeros(1, jnp.int32), layer), variables
    )
    assert maps.shape == (1, 8, 8)
    up = interpret.upsample(jnp.ones((1, 8, 8)), (32, 32))
    assert up.shape == (1, 32, 32)
