"""The GAN training step: one discriminator update, then one generator update (DC-GAN).

With D(x) the discriminator's logit and sigma the logistic function, on a batch of real
images x and noise z (and, for a conditional GAN, classes y given to both networks):

    D loss = -log sigma(D(x)) - log(1 - sigma(D(G(z))))         (real -> 1, fake -> 0)
    G loss = -log sigma(D(G(z)))                                 (non-saturating, Goodfellow
                                                                   et al. 2014, section 3)

each the mean over the batch. Real and fake batches go through D separately (batch norm sees
one kind at a time); D keeps the running statistics of its pass over the fakes, G of its own
pass. `condition(z, x, y)` makes the networks' inputs: z as (N, 1, 1, Z + K) with the one-hot
class appended, x with K one-hot class maps appended to its channels; unconditional (y None):
the inputs unchanged. Metrics: 'd_loss', 'g_loss', 'd_real' and 'd_fake' (mean sigma(D) on
the real and on the fake batch).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from cnnjax.train.state import TrainState


def condition(z: jax.Array, x: jax.Array, y: jax.Array | None, num_classes: int):
    """(generator input, discriminator input): z (N, Z) -> (N, 1, 1, Z [+ K]); x (N, H, W, C)
    -> (N, H, W, C [+ K]); the one-hot of y appended when y is given."""
    z = z[:, None, None, :]
    if y is None:
        return z, x
    onehot = jax.nn.one_hot(y, num_classes, dtype=x.dtype)
    maps = jnp.broadcast_to(onehot[:, None, None, :], (*x.shape[:3], num_classes))
    return jnp.concatenate([z, onehot[:, None, None, :]], -1), jnp.concatenate([x, maps], -1)


def discriminator_input(x: jax.Array, y: jax.Array | None, num_classes: int) -> jax.Array:
    """x with the class maps of y appended (as `condition`), or x."""
    return condition(jnp.zeros((x.shape[0], 0), x.dtype), x, y, num_classes)[1]


def generate(g: TrainState, z: jax.Array, y: jax.Array | None, num_classes: int) -> jax.Array:
    """Samples (N, H, W, C) in (-1, 1) from noise z (N, Z), in inference mode."""
    gz, _ = condition(z, jnp.zeros((z.shape[0], 1, 1, 0)), y, num_classes)
    return g.apply_fn(g.variables(), gz, train=False)


def _update(state: TrainState, grads, batch_stats) -> TrainState:
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    return state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, updates),
        batch_stats=batch_stats,
        opt_state=opt_state,
    )


def gan_step(
    g: TrainState,
    d: TrainState,
    real: jax.Array,
    z: jax.Array,
    y: jax.Array | None = None,
    num_classes: int = 0,
) -> tuple[TrainState, TrainState, dict[str, jax.Array]]:
    """One D update then one G update on real images (N, H, W, C) in [-1, 1] and noise z
    (N, Z); classes y (N,) int for a conditional GAN (num_classes of them), else None."""
    gz, dx_real = condition(z, real, y, num_classes)

    def fake_images(g_params):
        out, g_updates = g.apply_fn(
            {"params": g_params, "batch_stats": g.batch_stats},
            gz,
            train=True,
            mutable=["batch_stats"],
        )
        return out, g_updates["batch_stats"]

    def d_logits(d_params, batch_stats, images):
        logits, d_updates = d.apply_fn(
            {"params": d_params, "batch_stats": batch_stats},
            discriminator_input(images, y, num_classes),
            train=True,
            mutable=["batch_stats"],
        )
        return logits[:, 0], d_updates["batch_stats"]

    fake = jax.lax.stop_gradient(fake_images(g.params)[0])

    def d_objective(d_params):
        real_logits, stats = d_logits(d_params, d.batch_stats, real)
        fake_logits, stats = d_logits(d_params, stats, fake)
        loss = jnp.mean(optax.sigmoid_binary_cross_entropy(real_logits, jnp.ones_like(real_logits)))
        loss += jnp.mean(
            optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits))
        )
        return loss, (stats, real_logits, fake_logits)

    (d_loss, (d_stats, real_logits, fake_logits)), d_grads = jax.value_and_grad(
        d_objective, has_aux=True
    )(d.params)
    d = _update(d, d_grads, d_stats)

    def g_objective(g_params):
        images, stats = fake_images(g_params)
        logits, _ = d_logits(d.params, d.batch_stats, images)
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.ones_like(logits))), stats

    (g_loss, g_stats), g_grads = jax.value_and_grad(g_objective, has_aux=True)(g.params)
    g = _update(g, g_grads, g_stats)
    metrics = {
        "d_loss": d_loss,
        "g_loss": g_loss,
        "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
        "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
    }
    return g, d, metrics
