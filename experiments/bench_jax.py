"""The cnnjax side of the benchmark: the runner's compiled training step, timed.

Every figure comes from the step the runner uses (`cnnjax.train.epoch.make_train_step`: batch
gathered on the device from uint8 data through the epoch permutation, normalised, forward,
backward, SGD-momentum update, donated buffers, no host sync between steps).
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import config as config_lib
from cnnjax import models, optim, pipeline
from cnnjax.tasks.classification import classification_fns
from cnnjax.train import epoch as epoch_lib
from cnnjax.train import steps
from cnnjax.train.state import create_train_state, num_params
from experiments import bench_timing

LEARNING_RATE = 0.01  # SGD with momentum 0.9, constant: the same on both sides
MOMENTUM = 0.9


def matmul_peak_flops(n: int | None = None, windows: int = 5) -> float:
    """Measured fp32 FLOP/s of a jitted (n, n) @ (n, n) matmul: 2 n^3 / median seconds.

    n defaults to 2048 on a CPU and 8192 on an accelerator (where a smaller product finishes
    in microseconds and measures launch overhead, not the peak). On a GPU, XLA's default fp32
    precision may use TF32 tensor cores, for this product as for the convolutions."""
    if n is None:
        n = 2048 if jax.default_backend() == "cpu" else 8192
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    seconds = bench_timing.timed_windows(lambda: matmul(a).block_until_ready(), windows)
    return 2 * n**3 / statistics.median(seconds)


def _model_config(batch_size: int):
    c = config_lib.base_config()
    c.batch_size = batch_size
    c.optimizer.name = "momentum"
    c.optimizer.learning_rate = LEARNING_RATE
    c.optimizer.momentum = MOMENTUM
    c.schedule.name = "constant"
    return c


RECIPES = ("sgd_cosine", "speedrun")  # time_to_accuracy's training recipes


def speedrun_tools() -> dict[str, float]:
    """The CIFAR-10 speedrun's optimizer tools (experiments/configs/cifar10_speedrun.py) for
    another network, all but its learning rate: Nesterov momentum, weight decay as a gradient
    term (`optimizer.sgd_weight_decay`), the triangular schedule, label smoothing and lookahead.
    (Its whitening layer, flips and per-layer rules belong to its network and CIFAR-10.)"""
    from experiments.configs import cifar10_speedrun

    c = cifar10_speedrun.get_config()
    return {
        "momentum": c.optimizer.momentum,
        "weight_decay": c.optimizer.sgd_weight_decay,
        "div_factor": c.schedule.div_factor,
        "pct_start": c.schedule.pct_start,
        "final_lr_fraction": c.schedule.final_lr_fraction,
        "label_smoothing": c.loss.label_smoothing,
        "lookahead_every": c.lookahead.every,
        "lookahead_decay": c.lookahead.decay,
        "lookahead_power": c.lookahead.power,
    }


def recipe_tools(recipe: str) -> dict[str, float] | None:
    """What `time_to_accuracy` adds to plain SGD for `recipe` (one of RECIPES): None for
    sgd_cosine, `speedrun_tools()` for speedrun."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; valid: {', '.join(RECIPES)}")
    return speedrun_tools() if recipe == "speedrun" else None


def synthetic_data(image_shape, num_batches: int, batch_size: int, seed: int = 0):
    """uint8 images (num_batches * batch_size, H, W, C) and int32 labels in [0, 10)."""
    rng = np.random.default_rng(seed)
    n = num_batches * batch_size
    images = rng.integers(0, 256, (n, *image_shape), dtype=np.uint8)
    return images, rng.integers(0, 10, n).astype(np.int32)


def create_model(name: str, conv_impl: str | None):
    overrides = {}
    if conv_impl is not None and "conv_impl" in models.hyperparameters(name):
        overrides["conv_impl"] = conv_impl
    return models.create(name, 10, **overrides)


def prepare_training(
    name: str,
    image_shape: tuple[int, int, int],
    batch_size: int = 128,
    conv_impl: str | None = None,
    warmup_steps: int = 3,
) -> tuple[Callable[[int], None], dict[str, Any]]:
    """The runner's training step for registered model `name` (10 classes), compiled and warmed
    up, ready to time (`bench_timing.interleaved_rates`).

    Returns (run, info): run(n) takes n steps on 8 synthetic batches and blocks until done;
    info = {'compile_seconds' (lower + compile of the step), 'flops_per_step' (XLA cost
    analysis of forward, backward and update), 'num_params'}.
    """
    num_batches = 8
    images, labels = synthetic_data(image_shape, num_batches, batch_size)
    config = _model_config(batch_size)
    model = create_model(name, conv_impl)
    tx = optim.make_optimizer(config, num_batches)
    plateau = optim.make_plateau(config)
    state = jax.jit(lambda key: create_train_state(model, tx, plateau, key, (1, *image_shape)))(
        jax.random.PRNGKey(0)
    )
    normalizer = pipeline.Normalizer.fit(images, "standardize")
    fns = classification_fns(normalizer)
    step = epoch_lib.make_train_step(fns, steps.Penalty(), batch_size)
    images, labels = jax.device_put(images), jax.device_put(labels)
    perm = pipeline.epoch_permutation(0, 0, len(labels))
    sums = epoch_lib.zero_sums(fns.train_sums)

    t = time.perf_counter()
    compiled = step.lower(state, sums, images, labels, perm, jnp.int32(0)).compile()
    compile_seconds = time.perf_counter() - t
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    info = {
        "compile_seconds": compile_seconds,
        "flops_per_step": float(cost.get("flops", float("nan"))),
        "num_params": num_params(state.params),
    }
    counter = [0]

    def run(n):
        nonlocal state, sums
        for _ in range(n):
            i = jnp.int32(counter[0] % num_batches)
            state, sums = compiled(state, sums, images, labels, perm, i)
            counter[0] += 1
        jax.block_until_ready(sums)

    run(warmup_steps)
    return run, info


def time_to_accuracy(
    name: str,
    train_split,
    test_split,
    target: float,
    max_epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int = 0,
    recipe: str = "sgd_cosine",
) -> dict[str, Any]:
    """Wall seconds from nothing compiled to test accuracy >= `target`, evaluated after every
    epoch (standardised inputs; data already in memory; `seed` draws the initial weights and
    the epochs' order). Returns `epochs_until`'s figures. The recipe, over `max_epochs`:

    - sgd_cosine: SGD momentum 0.9, learning rate `learning_rate` decayed per step to 0 by a
      cosine;
    - speedrun: `speedrun_tools()` with peak learning rate `learning_rate`: Nesterov, the
      triangular schedule, weight decay, label smoothing, lookahead."""
    tools = recipe_tools(recipe)
    t0 = time.perf_counter()
    config = _model_config(batch_size)
    config.optimizer.learning_rate = learning_rate
    config.schedule.name = "cosine"
    config.epochs = max_epochs
    steps_per_epoch = len(train_split.labels) // batch_size
    smoothing, lookahead = 0.0, None
    if tools is not None:
        config.optimizer.name = "nesterov"
        config.optimizer.momentum = tools["momentum"]
        config.optimizer.sgd_weight_decay = tools["weight_decay"]
        config.schedule.name = "triangular"
        for field in ("div_factor", "pct_start", "final_lr_fraction"):
            config.schedule[field] = tools[field]
        smoothing = tools["label_smoothing"]
        lookahead = steps.Lookahead(
            tools["lookahead_every"],
            tools["lookahead_decay"],
            tools["lookahead_power"],
            max_epochs * steps_per_epoch,
        )
    model = models.create(name, 10)
    tx = optim.make_optimizer(config, steps_per_epoch)
    plateau = optim.make_plateau(config)
    image_shape = train_split.images.shape[1:]
    state = jax.jit(
        lambda key: create_train_state(
            model, tx, plateau, key, (1, *image_shape), lookahead=lookahead is not None
        )
    )(jax.random.PRNGKey(seed))
    normalizer = pipeline.Normalizer.fit(train_split.images, "standardize")
    fns = classification_fns(normalizer, label_smoothing=smoothing)
    step = epoch_lib.make_train_step(fns, steps.Penalty(), batch_size, lookahead=lookahead)
    evaluate = epoch_lib.make_evaluate(fns)
    images, labels = jax.device_put(train_split.images), jax.device_put(train_split.labels)
    test = tuple(jax.device_put(a) for a in pipeline.padded_batches(test_split, 1000))

    def train_epoch(epoch):
        nonlocal state
        perm = pipeline.epoch_permutation(seed, epoch, len(train_split.labels))
        sums = epoch_lib.zero_sums(fns.train_sums)
        for i in range(steps_per_epoch):
            state, sums = step(state, sums, images, labels, perm, jnp.int32(i))

    test_accuracy = lambda: float(evaluate(state, *test)["accuracy"])
    return epochs_until(target, max_epochs, train_epoch, test_accuracy, t0)


def epochs_until(target, max_epochs, train_epoch, test_accuracy, t0) -> dict[str, Any]:
    """Calls train_epoch(epoch) then test_accuracy() until it reaches `target`.

    Returns {'seconds' since t0 (None if never reached), 'epochs', 'accuracies' (per epoch)}.
    """
    accuracies = []
    for epoch in range(max_epochs):
        train_epoch(epoch)
        accuracies.append(test_accuracy())
        if accuracies[-1] >= target:
            return {
                "seconds": time.perf_counter() - t0,
                "epochs": epoch + 1,
                "accuracies": accuracies,
            }
    return {"seconds": None, "epochs": None, "accuracies": accuracies}
