"""The GAN task's state and step: per stage, one discriminator update, then one generator
update (DC-GAN; StackGAN's stages one after another).

With D(x) a discriminator's logit and sigma the logistic function, on a batch of real images
x and noise z (and, for a conditional GAN, classes y given to every network):

    D loss = -log sigma(D(x)) - log(1 - sigma(D(G(z))))         (real -> 1, fake -> 0)
    G loss = -log sigma(D(G(z)))                                 (non-saturating, Goodfellow
                                                                   et al. 2014, section 3)

each the mean over the batch. Real and fake batches go through D separately (batch norm sees
one kind at a time); D keeps the running statistics of its pass over the fakes, G of its own
pass. A GAN of S stages (models.output_kind 'gan': `model.stages()`) trains stage s's pair at
its own resolution r_s on the real images averaged down to r_s: stage 1's generator reads the
noise, stage s > 1's the fakes of stage s - 1 (as they were before its update, gradients
stopped), so one step updates D_1, G_1, D_2, G_2, ... in turn (StackGAN, Zhang et al. 2017,
trains stage II on a fixed stage I; here both stages learn together).

Conditioning: the generator of stage 1 reads (N, 1, 1, Z + K), z with the one-hot class
appended; every other network reads its images with K one-hot class maps appended to the
channels; unconditional (y None): the inputs unchanged. Metrics (of the last stage, the
images sampled): 'd_loss', 'g_loss', 'd_real' and 'd_fake' (mean sigma(D) on the real and on
the fake batch).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from cnnjax.train.state import TrainState, create_train_state


class GanState(struct.PyTreeNode):
    """The TrainStates of every stage's generator and discriminator, and the step's base key
    (the noise of step t is drawn from fold_in(rng, t)). It answers what the loop asks of a
    TrainState: step, rng, plateau (the generators' first, a scale of 1: a GAN has no
    plateau), ema (None), params and batch_stats (of every network), for_evaluation."""

    generators: tuple[TrainState, ...]
    discriminators: tuple[TrainState, ...]
    rng: jax.Array
    sizes: tuple[int, ...] = struct.field(pytree_node=False)  # r_s, the side of each stage
    ema = None

    @property
    def step(self) -> jax.Array:
        return self.generators[0].step

    @property
    def plateau(self):
        return self.generators[0].plateau

    def _per_network(self, part) -> dict[str, Any]:
        """{'generators': (part(g) per stage), 'discriminators': (part(d) per stage)}."""
        return {
            "generators": tuple(part(g) for g in self.generators),
            "discriminators": tuple(part(d) for d in self.discriminators),
        }

    @property
    def params(self) -> dict[str, Any]:
        return self._per_network(lambda s: s.params)

    @property
    def batch_stats(self) -> dict[str, Any]:
        return self._per_network(lambda s: s.batch_stats)

    def variables(self) -> dict[str, Any]:
        return self._per_network(lambda s: s.variables())

    def for_evaluation(self) -> "GanState":
        return self


def input_shapes(stages, latent: int, channels: int, num_classes: int):
    """Per stage ((1, ...) generator input, (1, ...) discriminator input) for noise of
    `latent` dimensions, images of `channels` and `num_classes` conditioning classes (0:
    unconditional); `stages` as model.stages(): ((generator, discriminator, resolution), ...)."""
    shapes, previous = [], None
    for _, _, size in stages:
        k = num_classes
        g_in = (1, 1, 1, latent + k) if previous is None else (1, previous, previous, channels + k)
        shapes.append((g_in, (1, size, size, channels + num_classes)))
        previous = size
    return shapes


def init_gan_state(stages, tx, plateau, rng, latent: int, channels: int, num_classes: int):
    """A GanState of fresh networks, each from its own key of jax.random.split(rng)."""
    gens, discs = [], []
    keys = jax.random.split(rng, 2 * len(stages) + 1)
    shapes = input_shapes(stages, latent, channels, num_classes)
    for s, ((g, d, _), (g_in, d_in)) in enumerate(zip(stages, shapes)):
        gens.append(create_train_state(g, tx, plateau, keys[2 * s], g_in))
        discs.append(create_train_state(d, tx, plateau, keys[2 * s + 1], d_in))
    sizes = tuple(size for _, _, size in stages)
    return GanState(tuple(gens), tuple(discs), keys[-1], sizes)


def with_classes(x: jax.Array, y: jax.Array | None, num_classes: int) -> jax.Array:
    """x (N, H, W, C) with the one-hot of y as K class maps appended (N, H, W, C + K), or x."""
    if y is None:
        return x
    onehot = jax.nn.one_hot(y, num_classes, dtype=x.dtype)
    maps = jnp.broadcast_to(onehot[:, None, None, :], (*x.shape[:3], num_classes))
    return jnp.concatenate([x, maps], -1)


def noise_input(z: jax.Array, y: jax.Array | None, num_classes: int) -> jax.Array:
    """Stage 1's generator input (N, 1, 1, Z [+ K]) from noise z (N, Z)."""
    return with_classes(z[:, None, None, :], y, num_classes)


def downsample(x: jax.Array, size: int) -> jax.Array:
    """Images (N, S, S, C) averaged over f x f blocks to (N, size, size, C), f = S / size."""
    f = x.shape[1] // size
    if f == 1:
        return x
    return x.reshape(x.shape[0], size, f, size, f, x.shape[-1]).mean((2, 4))


def _update(state: TrainState, grads, batch_stats) -> TrainState:
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    return state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, updates),
        batch_stats=batch_stats,
        opt_state=opt_state,
    )


def _stage_step(g: TrainState, d: TrainState, g_in, real, y, num_classes: int):
    """One D update then one G update of a stage; returns (g, d, fakes, metrics)."""

    def fake_images(g_params):
        out, updates = g.apply_fn(
            {"params": g_params, "batch_stats": g.batch_stats},
            g_in,
            train=True,
            mutable=["batch_stats"],
        )
        return out, updates["batch_stats"]

    def d_logits(d_params, batch_stats, images):
        logits, updates = d.apply_fn(
            {"params": d_params, "batch_stats": batch_stats},
            with_classes(images, y, num_classes),
            train=True,
            mutable=["batch_stats"],
        )
        return logits[:, 0], updates["batch_stats"]

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
    return g, d, fake, metrics


def gan_step(
    state: GanState,
    real: jax.Array,
    z: jax.Array,
    y: jax.Array | None = None,
    num_classes: int = 0,
) -> tuple[GanState, dict[str, jax.Array]]:
    """Every stage's D update then G update (module docstring) on real images (N, S, S, C)
    in [-1, 1] and noise z (N, Z); classes y (N,) int for a conditional GAN (num_classes of
    them), else None. Returns (state, the last stage's metrics)."""
    gens, discs = list(state.generators), list(state.discriminators)
    g_in = noise_input(z, y, num_classes)
    for s, (g, d, size) in enumerate(zip(gens, discs, state.sizes)):
        gens[s], discs[s], fake, metrics = _stage_step(
            g, d, g_in, downsample(real, size), y, num_classes
        )
        g_in = with_classes(fake, y, num_classes)
    return state.replace(generators=tuple(gens), discriminators=tuple(discs)), metrics


def generate(state: GanState, z: jax.Array, y: jax.Array | None, num_classes: int) -> jax.Array:
    """The last stage's samples (N, S, S, C) in (-1, 1) from noise z (N, Z), every network
    in inference mode."""
    apply_fns = [g.apply_fn for g in state.generators]
    return sample(apply_fns, [g.variables() for g in state.generators], z, y, num_classes)


def sample(apply_fns, variables, z: jax.Array, y: jax.Array | None, num_classes: int):
    """`generate` from the stages' generator apply functions and variables (those of a run
    read back: cnnjax.train.trained, variables['generators'])."""
    g_in = noise_input(z, y, num_classes)
    for apply_fn, v in zip(apply_fns, variables):
        images = apply_fn(v, g_in, train=False)
        g_in = with_classes(images, y, num_classes)
    return images
