"""The GAN step (cnnjax.train.gan): its losses are the formulas of the module docstring, for
both variants, and a two-stage GAN trains each stage at its own resolution."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import models
from cnnjax.train.gan import (
    GanState,
    downsample,
    gan_step,
    generate,
    init_gan_state,
    with_classes,
)

K, Z = 3, 4


def gan_state(name="dcgan", conditional=False):
    model = models.create(
        name, 1, image_size=8, generator_widths=(4, 2), discriminator_widths=(2, 4)
    )
    tx = optax.adam(1e-2, b1=0.5)
    k = K if conditional else 0
    return init_gan_state(model.stages(), tx, optax.identity(), jax.random.PRNGKey(0), Z, 1, k)


def log_sigmoid(x):
    return -np.logaddexp(0.0, -np.asarray(x, np.float64))


@pytest.mark.parametrize("conditional", [False, True])
def test_losses_are_the_documented_formulas(conditional):
    state = gan_state(conditional=conditional)
    k = K if conditional else 0
    (g,), (d,) = state.generators, state.discriminators
    real = jax.random.uniform(jax.random.PRNGKey(2), (6, 8, 8, 1), minval=-1, maxval=1)
    z = jax.random.normal(jax.random.PRNGKey(3), (6, Z))
    y = jnp.arange(6) % K if conditional else None
    gz = with_classes(z[:, None, None, :], y, k)
    assert gz.shape == (6, 1, 1, Z + k)
    assert with_classes(real, y, k).shape == (6, 8, 8, 1 + k)

    def run_d(d_state, images, stats):
        out, upd = d_state.apply_fn(
            {"params": d_state.params, "batch_stats": stats},
            with_classes(images, y, k),
            train=True,
            mutable=["batch_stats"],
        )
        return out[:, 0], upd["batch_stats"]

    fake, _ = g.apply_fn(g.variables(), gz, train=True, mutable=["batch_stats"])
    real_logits, stats = run_d(d, real, d.batch_stats)
    fake_logits, _ = run_d(d, fake, stats)
    d_loss = -np.mean(log_sigmoid(real_logits)) - np.mean(log_sigmoid(-np.asarray(fake_logits)))

    new, m = jax.jit(gan_step, static_argnums=4)(state, real, z, y, k)
    assert float(m["d_loss"]) == pytest.approx(d_loss, rel=1e-4)
    assert float(m["d_real"]) == pytest.approx(
        float(jnp.mean(jax.nn.sigmoid(real_logits))), rel=1e-4
    )
    # G's loss is measured against the updated discriminator, on G's pre-update fakes.
    (new_d,) = new.discriminators
    after, _ = run_d(new_d, fake, new_d.batch_stats)
    assert float(m["g_loss"]) == pytest.approx(-np.mean(log_sigmoid(after)), rel=1e-4)
    assert int(new.step) == int(new_d.step) == 1
    moved = lambda a, b: any(
        not np.allclose(x, w) for x, w in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )
    assert moved(g.params, new.generators[0].params) and moved(d.params, new_d.params)
    samples = generate(new, z, y, k)
    assert samples.shape == (6, 8, 8, 1) and float(jnp.abs(samples).max()) <= 1.0


def test_downsample_is_the_mean_of_each_block():
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    expected = np.zeros((2, 4, 4, 3), np.float32)
    for i in range(4):
        for j in range(4):
            expected[:, i, j] = x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean((1, 2))
    np.testing.assert_allclose(downsample(jnp.asarray(x), 4), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(downsample(jnp.asarray(x), 8), x)  # factor 1: as it is


def test_a_stackgan_step_trains_stage_one_at_half_the_side_as_if_alone():
    state = gan_state("stackgan", conditional=True)
    assert state.sizes == (4, 8)
    (g1, g2), (d1, d2) = state.generators, state.discriminators
    # Input channels: stage I reads noise and the class, stage II stage I's images and the
    # class maps, each discriminator its images and the class maps.
    assert g1.params["project"]["kernel"].shape[-1] == Z + K  # transposed: (h, w, out, in)
    assert g2.params["encode"]["kernel"].shape[2] == 1 + K  # (h, w, in, out)
    assert d1.params["conv0"]["kernel"].shape[2] == d2.params["conv0"]["kernel"].shape[2] == 1 + K
    real = jax.random.uniform(jax.random.PRNGKey(2), (6, 8, 8, 1), minval=-1, maxval=1)
    z = jax.random.normal(jax.random.PRNGKey(3), (6, Z))
    y = jnp.arange(6) % K
    step = jax.jit(gan_step, static_argnums=4)
    new, m = step(state, real, z, y, K)
    assert all(int(s.step) == 1 for s in (*new.generators, *new.discriminators))
    assert np.isfinite(float(m["d_loss"]) + float(m["g_loss"]))
    # Stage I learns from the real images averaged down to 4x4, exactly as a one-stage GAN
    # of its pair would (stage II reads its fakes with gradients stopped).
    alone, _ = step(GanState((g1,), (d1,), state.rng, (4,)), downsample(real, 4), z, y, K)
    pairs = [(new.generators[0], alone.generators[0])]
    pairs.append((new.discriminators[0], alone.discriminators[0]))
    for a, b in pairs:
        for x, w in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
            np.testing.assert_allclose(x, w, rtol=1e-5, atol=1e-7)
    assert generate(new, z, y, K).shape == (6, 8, 8, 1)
