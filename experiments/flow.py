r"""Optical flow with FlowNetSimple on image pairs warped by known smooth random flows.

    python -m experiments.flow [--config=experiments/configs/flow.py[:quick]]
        [--config.train_steps=3000 --config.results_dir=DIR ...]
    make flow [QUICK=1]

Every training step draws a fresh batch on the device (cnnjax.data.flow): images of the
training split, random smooth flow fields (key: data_seed, step) and the second frames they
make; `flownet_simple` reads the stacked frames and is trained on the squared end-point error
(`regression_step`'s mean squared error over both flow components). The test pairs are fixed
(the first test images, key data_seed + 1). Reported: the average end-point error (EPE,
pixels) on the test pairs every `eval_every` steps, against the zero-flow baseline (EPE =
mean flow magnitude). Each finished training is saved under config.workdir, so an interrupted
run resumes with the next one. Writes results.md, results.json, epe_by_step.png and
flow_examples.png (frames, true and predicted flow in the colour wheel) to config.results_dir.
"""

from __future__ import annotations

import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import flags
from ml_collections import config_flags

from cnnjax import data, models, report
from cnnjax.data import flow as flow_data
from cnnjax.report import pictures
from cnnjax.train.state import create_train_state, num_params
from cnnjax.train.steps import regression_step
from experiments import cli, trainings
from experiments.sweeps.figures import mean_std

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "experiments/configs/flow.py", "Optical-flow config.")
# Fields that change a training's numbers (with its seed).
IDENTITY = (
    "dataset",
    "sigma",
    "grid",
    "test_pairs",
    "data_seed",
    "model_args",
    "train_steps",
    "batch_size",
    "eval_every",
    "learning_rate",
)


def make_pairs(images: jax.Array, key: jax.Array, n: int, sigma: float, grid: int, first=None):
    """n pairs: (stacked frames (n, H, W, 2C) in [0, 1], true flows (n, H, W, 2)); the first
    frames are `first` or n random images of `images` (uint8)."""
    key_images, key_flows = jax.random.split(key)
    if first is None:
        first = images[jax.random.randint(key_images, (n,), 0, images.shape[0])]
    first = first.astype(jnp.float32) / 255.0
    flows = flow_data.random_flows(key_flows, n, first.shape[1:3], sigma, grid)
    second = flow_data.warp(first, flows)
    return jnp.concatenate([first, second], -1), flows


def load(config):
    """(training images on the device (N, H, W, C) uint8, test pairs (frames, flows))."""
    ds = data.load(config.dataset, config.data_dir or None, exact_counts=config.exact_counts)
    h, w = ds.train.images.shape[1:3]
    if h % 8 or w % 8:
        raise ValueError(f"{config.dataset}: FlowNetSimple needs sides divisible by 8, got {h}x{w}")
    if config.test_pairs > len(ds.test):
        raise ValueError(f"test_pairs={config.test_pairs}: only {len(ds.test)} test images")
    test = make_pairs(
        None,
        jax.random.PRNGKey(config.data_seed + 1),
        config.test_pairs,
        config.sigma,
        config.grid,
        first=jnp.asarray(ds.test.images[: config.test_pairs]),
    )
    return jnp.asarray(ds.train.images), test


def test_epe(predict, params, test, batch: int = 500) -> float:
    """Average end-point error over the test pairs, pixels."""
    frames, flows = test
    errors = [
        flow_data.endpoint_error(predict(params, frames[i : i + batch]), flows[i : i + batch])
        for i in range(0, len(frames), batch)
    ]
    return float(jnp.mean(jnp.concatenate(errors)))


def train_one(config, images, test, seed: int) -> dict:
    """Trains FlowNetSimple with `seed`; returns its test EPE history and example flows."""
    model = models.create("flownet_simple", 2, **config.model_args.to_dict())
    frames = test[0]
    tx = optax.adam(optax.cosine_decay_schedule(config.learning_rate, config.train_steps))
    state = create_train_state(
        model, tx, optax.identity(), jax.random.PRNGKey(seed), (1, *frames.shape[1:])
    )
    pairs = jax.jit(
        functools.partial(make_pairs, n=config.batch_size, sigma=config.sigma, grid=config.grid)
    )
    step = jax.jit(regression_step, donate_argnums=0)
    predict = jax.jit(lambda params, x: model.apply({"params": params}, x, train=False))
    data_key = jax.random.PRNGKey(config.data_seed)
    history, mse, start = [], 0.0, time.perf_counter()
    for t in range(1, config.train_steps + 1):
        x, f = pairs(images, jax.random.fold_in(data_key, t))
        state, batch_mse = step(state, x, f)
        mse += batch_mse
        if t % config.eval_every == 0 or t == config.train_steps:
            since = t - (history[-1]["step"] if history else 0)
            train_mse = float(mse) / since
            if not np.isfinite(train_mse):
                raise FloatingPointError(f"seed {seed}: training loss {train_mse} at step {t}")
            epe = test_epe(predict, state.params, test)
            history.append({"step": t, "train_mse": train_mse, "test_epe": epe})
            print(
                f"seed {seed} step {t}: train MSE {train_mse:.4f}, test EPE {epe:.4f}", flush=True
            )
            mse = 0.0
    shown = np.asarray(predict(state.params, frames[: config.num_pictures]))
    return {
        "params": num_params(state.params),
        "seconds": time.perf_counter() - start,
        "history": history,
        "final": history[-1],
        "examples": shown.tolist(),
    }


def write_pictures(config, test, record) -> None:
    """flow_examples.png: per test pair, both frames, the true and the predicted flow (seed 0),
    on one colour scale per pair."""
    frames, flows = (np.asarray(a) for a in test)
    predicted = np.asarray(record["examples"])
    channels = frames.shape[-1] // 2
    tiles, titles = [], []
    for i in range(config.num_pictures):
        top = float(np.hypot(flows[i, ..., 0], flows[i, ..., 1]).max())
        epe = float(np.mean(np.hypot(*np.moveaxis(predicted[i] - flows[i], -1, 0))))
        tiles += [
            frames[i, ..., :channels],
            frames[i, ..., channels:],
            pictures.flow_colours(flows[i], top),
            pictures.flow_colours(predicted[i], top),
        ]
        titles += ["first", "second", f"true (max {top:.1f} px)", f"predicted (EPE {epe:.2f})"]
    pictures.save_grid(
        os.path.join(config.results_dir, "flow_examples.png"),
        tiles,
        titles,
        columns=4,
        title="test pairs: hue = direction, saturation = magnitude (white: no motion)",
    )


def main(argv):
    del argv
    config = FLAGS.config
    os.makedirs(config.results_dir, exist_ok=True)
    start = time.perf_counter()
    with trainings.exit_on_error():
        images, test = load(config)
        records = []
        for seed in range(config.seeds):
            record, reused = trainings.load_or_train(
                os.path.join(config.workdir, f"flownet_simple_seed{seed}.json"),
                trainings.config_identity(config, IDENTITY),
                lambda: train_one(config, images, test, seed),
            )
            if reused:
                print(f"seed {seed}: finished before")
            records.append(record)
    zero = float(jnp.mean(flow_data.endpoint_error(jnp.zeros_like(test[1]), test[1])))
    epe, epe_std = mean_std([r["final"]["test_epe"] for r in records])
    steps = [h["step"] for h in records[0]["history"]]
    report.plot_lines(
        os.path.join(config.results_dir, "epe_by_step.png"),
        steps,
        {"FlowNetSimple": trainings.history_curve(records, "test_epe")},
        {"zero flow": ("FlowNetSimple", zero)},
        "training step",
        "test end-point error (pixels)",
        title="FlowNetSimple on warped image pairs",
    )
    write_pictures(config, test, records[0])
    body = [
        "# Optical flow: FlowNetSimple against zero flow",
        "",
        f"Pairs of `{config.dataset}` images: the second frame is the first warped by a smooth "
        f"random flow (a {config.grid}x{config.grid} lattice of N(0, {config.sigma}^2) pixel "
        f"displacements, bicubically interpolated; `cnnjax.data.flow`). Training pairs are drawn "
        f"afresh every step from the training images; {config.test_pairs} fixed test pairs "
        f"from the test images. {config.train_steps} steps of {config.batch_size} pairs, Adam "
        f"{config.learning_rate} (cosine); squared end-point error; mean ± std over "
        f"{config.seeds} seeds.",
        "",
        "| method | parameters | test EPE (pixels) |",
        "|---|---|---|",
        f"| zero flow | 0 | {zero:.4f} |",
        f"| FlowNetSimple | {records[0]['params']:,} | {epe:.4f} ± {epe_std:.4f} |",
        "",
        "![epe_by_step.png](epe_by_step.png)",
        "",
        "![flow_examples.png](flow_examples.png)",
        "",
    ]
    payload = {
        "config": config.to_dict(),
        "zero_flow_epe": zero,
        "records": [{k: v for k, v in r.items() if k != "examples"} for r in records],
    }
    trainings.write_results(
        config.results_dir, "experiments.flow", payload, body, records, time.perf_counter() - start
    )


if __name__ == "__main__":
    cli.run(main)
