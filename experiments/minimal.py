r"""The whole idea in one file: data on the device, a model from the registry, one jitted
training step, evaluation. Everything else in cnnjax (the one loop, `cnnjax.train.run`) adds
what a research run needs around these same pieces: checkpoints and exact resume, replicas,
devices, validation, reports.

    python -m experiments.minimal                                  # 8x8 digits, seconds
    python -m experiments.minimal --dataset=mnist --model=lenet5 --epochs=5

Prints the test accuracy after every epoch. No checkpoints, no validation split, no
augmentation: use `python -m experiments.train` for those.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import optax
from absl import app, flags

from cnnjax import data, models
from cnnjax.train.state import create_train_state
from cnnjax.train.steps import train_step

flags.DEFINE_string("dataset", "digits", "A cnnjax.data name (digits needs no download).")
flags.DEFINE_string("model", "small_cnn", "A registry name (cnnjax.models.list_models()).")
flags.DEFINE_integer("epochs", 10, "Passes over the training images.", lower_bound=1)
flags.DEFINE_integer("batch_size", 64, "Images per step.", lower_bound=1)
flags.DEFINE_float("learning_rate", 1e-3, "Adam's peak learning rate (cosine to 0).")
flags.DEFINE_integer("seed", 0, "Initialisation and batch order.")
FLAGS = flags.FLAGS

EVAL_BATCH = 1000  # test images per evaluation step


def load(name: str):
    """Train and test images on the device as float32 (N, H, W, C), standardised by the
    training set's mean and std, and int32 labels (N,)."""
    ds = data.load(name)
    mean, std = ds.train.images.mean(), ds.train.images.std()
    prepare = lambda split: (
        jnp.asarray((split.images - mean) / std, jnp.float32),
        jnp.asarray(split.labels),
    )
    return prepare(ds.train), prepare(ds.test), ds.num_classes


def cross_entropy(logits: jax.Array, labels: jax.Array):
    """Per-example cross-entropy (B,) and the batch's correct predictions: the loss_fn
    contract of cnnjax.train.steps.train_step."""
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return loss, {"correct": jnp.sum(jnp.argmax(logits, -1) == labels)}


@functools.partial(jax.jit, static_argnums=5, donate_argnums=0)
def step(state, images, labels, order, i, batch_size: int):
    """One optimizer step on batch i of the epoch's order, gathered on the device. (A whole
    epoch in one jax.lax.scan of this step runs slower on XLA's CPU backend.)"""
    idx = jax.lax.dynamic_slice_in_dim(order, i * batch_size, batch_size)
    state, metrics = train_step(state, images[idx], labels[idx], cross_entropy)
    return state, metrics["loss_sum"] / metrics["count"]


def run_epoch(state, images, labels, key, batch_size: int):
    """One pass in a fresh random order (from `key`) over the full batches; returns (state,
    mean training loss)."""
    order = jax.random.permutation(key, images.shape[0])
    losses = []
    for i in range(images.shape[0] // batch_size):
        state, loss = step(state, images, labels, order, i, batch_size)
        losses.append(loss)
    return state, float(jnp.mean(jnp.stack(losses)))


@jax.jit
def correct(state, images, labels):
    """Correct predictions of the model in evaluation mode (batch norm's running statistics,
    no dropout) on a batch."""
    logits = state.apply_fn(state.variables(), images, train=False)
    return jnp.sum(jnp.argmax(logits, -1) == labels)


def accuracy(state, images, labels) -> float:
    hits = sum(
        int(correct(state, images[i : i + EVAL_BATCH], labels[i : i + EVAL_BATCH]))
        for i in range(0, images.shape[0], EVAL_BATCH)
    )
    return hits / images.shape[0]


def main(argv):
    del argv
    (x, y), (x_test, y_test), num_classes = load(FLAGS.dataset)
    steps_per_epoch = x.shape[0] // FLAGS.batch_size
    if steps_per_epoch == 0:
        raise app.UsageError(f"--batch_size={FLAGS.batch_size} exceeds the {x.shape[0]} images")
    model = models.create(FLAGS.model, num_classes)
    schedule = optax.cosine_decay_schedule(FLAGS.learning_rate, FLAGS.epochs * steps_per_epoch)
    key = jax.random.PRNGKey(FLAGS.seed)
    plateau = optax.contrib.reduce_on_plateau()  # never fed here: its scale stays 1
    state = create_train_state(model, optax.adam(schedule), plateau, key, (1, *x.shape[1:]))
    print(f"{FLAGS.model} on {FLAGS.dataset}: {x.shape[0]} training, {x_test.shape[0]} test images")
    for e in range(1, FLAGS.epochs + 1):
        start = time.perf_counter()
        state, loss = run_epoch(state, x, y, jax.random.fold_in(key, e), FLAGS.batch_size)
        seconds = time.perf_counter() - start
        test = accuracy(state, x_test, y_test)
        print(f"epoch {e}: train loss {loss:.4f}, test accuracy {test:.4f} ({seconds:.2f} s)")


if __name__ == "__main__":
    app.run(main)
