"""The GAN step: its losses are the formulas of the module docstring, for both variants."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import models
from cnnjax.train.gan import condition, gan_step, generate
from cnnjax.train.state import create_train_state

K, Z = 3, 4


def states(conditional):
    extra = K if conditional else 0
    g_model = models.create("dcgan_generator", 1, image_size=8, widths=(4, 2))
    d_model = models.create("dcgan_discriminator", 1, widths=(2, 4))
    tx = optax.adam(1e-2, b1=0.5)
    g = create_train_state(
        g_model, tx, optax.identity(), jax.random.PRNGKey(0), (1, 1, 1, Z + extra)
    )
    d = create_train_state(
        d_model, tx, optax.identity(), jax.random.PRNGKey(1), (1, 8, 8, 1 + extra)
    )
    return g, d


def log_sigmoid(x):
    return -np.logaddexp(0.0, -np.asarray(x, np.float64))


@pytest.mark.parametrize("conditional", [False, True])
def test_losses_are_the_documented_formulas(conditional):
    g, d = states(conditional)
    real = jax.random.uniform(jax.random.PRNGKey(2), (6, 8, 8, 1), minval=-1, maxval=1)
    z = jax.random.normal(jax.random.PRNGKey(3), (6, Z))
    y = jnp.arange(6) % K if conditional else None
    gz, dx = condition(z, real, y, K if conditional else 0)
    assert gz.shape == (6, 1, 1, Z + (K if conditional else 0))
    assert dx.shape == (6, 8, 8, 1 + (K if conditional else 0))

    def run_d(d_state, images, stats):
        x = condition(z, images, y, K if conditional else 0)[1]
        out, upd = d_state.apply_fn(
            {"params": d_state.params, "batch_stats": stats}, x, train=True, mutable=["batch_stats"]
        )
        return out[:, 0], upd["batch_stats"]

    fake, _ = g.apply_fn(g.variables(), gz, train=True, mutable=["batch_stats"])
    real_logits, stats = run_d(d, real, d.batch_stats)
    fake_logits, _ = run_d(d, fake, stats)
    d_loss = -np.mean(log_sigmoid(real_logits)) - np.mean(log_sigmoid(-np.asarray(fake_logits)))

    new_g, new_d, m = jax.jit(gan_step, static_argnums=5)(g, d, real, z, y, K if conditional else 0)
    assert float(m["d_loss"]) == pytest.approx(d_loss, rel=1e-4)
    assert float(m["d_real"]) == pytest.approx(
        float(jnp.mean(jax.nn.sigmoid(real_logits))), rel=1e-4
    )
    # G's loss is measured against the updated discriminator, on G's pre-update fakes.
    after, _ = run_d(new_d, fake, new_d.batch_stats)
    assert float(m["g_loss"]) == pytest.approx(-np.mean(log_sigmoid(after)), rel=1e-4)
    assert int(new_g.step) == int(new_d.step) == 1
    moved = lambda a, b: any(
        not np.allclose(x, w) for x, w in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )
    assert moved(g.params, new_g.params) and moved(d.params, new_d.params)
    samples = generate(new_g, z, y, K if conditional else 0)
    assert samples.shape == (6, 8, 8, 1) and float(jnp.abs(samples).max()) <= 1.0
