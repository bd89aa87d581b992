r"""FCN segmentation of digits on a canvas: fully convolutional nets with and without skips.

    python -m experiments.segmentation [--config=experiments/configs/segmentation.py[:quick]]
        [--config.epochs=6 --config.results_dir=DIR ...]
    make segmentation [QUICK=1]

Builds a segmentation set from a digit set (`cnnjax.data.segmentation.digit_canvases`: 1 to
max_digits digits per canvas, each ink pixel labelled 1 + its digit's class, background 0),
then trains every model of `config.models` (registry names, per-pixel logits) for
`config.seeds` seeds with the shared training step (`cnnjax.train.steps.train_step`: the mean
per-pixel cross-entropy), scoring the test canvases after every epoch by pixel accuracy and
mean intersection over union (`cnnjax.metrics`). Each finished training is saved under
config.workdir, so an interrupted run resumes with the next training. Writes results.md,
results.json, mean_iou_by_epoch.png and segmentation_examples.png (input, truth and each
model's prediction on test canvases) to config.results_dir.
"""

from __future__ import annotations

import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from ml_collections import config_flags

from cnnjax import data, metrics, models, optim, report
from cnnjax.data.segmentation import digit_canvases
from cnnjax.report import pictures
from cnnjax.train.state import create_train_state, num_params
from cnnjax.train.steps import LossConfig, train_step
from experiments import cli, trainings
from experiments.sweeps.figures import mean_std

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", "experiments/configs/segmentation.py", "Segmentation config."
)
# Fields that change the data or the training, hence a saved training's identity.
IDENTITY = (
    "dataset canvas_size max_digits threshold train_canvases test_canvases data_seed model_args "
    "epochs batch_size optimizer schedule loss"
).split()


def make_data(config) -> tuple[np.ndarray, ...]:
    """(train canvases, train masks, test canvases, test masks): canvases (N, S, S, 1) float32
    in [0, 1], masks (N, S, S) int32 with 1 + num_classes classes."""
    ds = data.load(config.dataset, config.data_dir or None, exact_counts=config.exact_counts)
    parts = []
    for split, n, seed in (
        (ds.train, config.train_canvases, config.data_seed),
        (ds.test, config.test_canvases, config.data_seed + 1),
    ):
        canvases, masks = digit_canvases(
            split.images,
            split.labels,
            n,
            config.canvas_size,
            config.max_digits,
            config.threshold,
            seed,
        )
        parts += [canvases.astype(np.float32) / 255.0, masks]
    return tuple(parts)


def make_predict(model):
    """Jitted (variables, canvases) -> per-pixel class (N, S, S) int32."""
    return jax.jit(lambda v, x: jnp.argmax(model.apply(v, x, train=False), -1).astype(jnp.int32))


def score(predict, variables, x, y, num_classes: int, batch: int) -> dict:
    """Segmentation scores (cnnjax.metrics) of the model on all of (x, y)."""
    confusion = np.zeros((num_classes, num_classes), np.int64)
    for i in range(0, len(x), batch):
        pred = predict(variables, jnp.asarray(x[i : i + batch]))
        confusion += np.asarray(
            metrics.confusion_matrix(pred, jnp.asarray(y[i : i + batch]), num_classes)
        )
    return metrics.segmentation_scores(confusion)


def train_one(config, name: str, seed: int, splits, num_classes: int) -> dict:
    """Trains model `name` with `seed`; returns its record: per-epoch history, final test
    scores, parameter count, seconds, and the predictions on the first test canvases."""
    x, y, xt, yt = splits
    model = models.create(name, num_classes, **config.model_args.to_dict())
    steps_per_epoch = len(x) // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"train_canvases={len(x)} is fewer than batch_size={config.batch_size}")
    state = create_train_state(
        model,
        optim.make_optimizer(config, steps_per_epoch),
        optim.make_plateau(config),
        jax.random.PRNGKey(seed),
        (1, *x.shape[1:]),
    )
    loss_config = LossConfig(l1=config.loss.l1, l2=config.loss.l2, penalize=config.loss.penalize)
    step = jax.jit(functools.partial(train_step, loss_config=loss_config), donate_argnums=0)
    predict = make_predict(model)
    history, start = [], time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        loss_sum = count = 0.0
        for idx in trainings.epoch_batches(len(x), config.batch_size, seed, epoch):
            state, m = step(state, jnp.asarray(x[idx]), jnp.asarray(y[idx]))
            loss_sum, count = loss_sum + m["loss_sum"], count + m["count"]
        train_loss = float(loss_sum / count)
        if not np.isfinite(train_loss):
            raise FloatingPointError(
                f"{name} seed {seed}: training loss is {train_loss} at epoch {epoch}"
            )
        scores = score(predict, state.variables(), xt, yt, num_classes, config.eval_batch_size)
        history.append({"epoch": epoch, "train_loss": train_loss, **scores})
        print(
            f"{name} seed {seed} epoch {epoch}: train loss {train_loss:.4f}, test mIoU "
            f"{scores['mean_iou']:.4f}, pixel accuracy {scores['pixel_accuracy']:.4f}",
            flush=True,
        )
    shown = np.asarray(predict(state.variables(), jnp.asarray(xt[: config.num_pictures])))
    return {
        "model": name,
        "seed": seed,
        "params": num_params(state.params),
        "seconds": time.perf_counter() - start,
        "history": history,
        "final": history[-1],
        "examples": shown.tolist(),
    }


def run_all(config) -> tuple[list[dict], tuple[np.ndarray, ...], int]:
    """Every (model, seed) training, each read from config.workdir if it finished before."""
    splits = make_data(config)
    num_classes = int(max(splits[1].max(), splits[3].max())) + 1
    records = []
    for name in config.models:
        if models.output_kind(name) != "pixel_logits":
            raise ValueError(f"models: {name!r} is not a per-pixel model (see cnnjax.models)")
        for seed in range(config.seeds):
            record, reused = trainings.load_or_train(
                os.path.join(config.workdir, f"{name}_seed{seed}.json"),
                trainings.config_identity(config, IDENTITY),  # the path names model, seed
                lambda: train_one(config, name, seed, splits, num_classes),
            )
            if reused:
                print(f"{name} seed {seed}: finished before, read from {config.workdir}")
            records.append(record)
    return records, splits, num_classes


def _table(config, records) -> str:
    lines = [
        "| model | parameters | test mean IoU | test pixel accuracy | mean class accuracy | "
        "training loss | minutes per training |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in config.models:
        group = [r for r in records if r["model"] == name]
        keys = ("mean_iou", "pixel_accuracy", "mean_class_accuracy", "train_loss")
        cells = [
            f"{m:.4f} ± {s:.4f}"
            for m, s in (mean_std([r["final"][k] for r in group]) for k in keys)
        ]
        minutes = np.mean([r["seconds"] for r in group]) / 60
        lines.append(
            f"| `{name}` | {group[0]['params']:,} | " + " | ".join(cells) + f" | {minutes:.1f} |"
        )
    return "\n".join(lines)


def write_pictures(config, records, splits, num_classes) -> None:
    """segmentation_examples.png: per test canvas, the input, the truth and each model's
    prediction (its seed-0 training)."""
    xt, yt = splits[2], splits[3]
    columns = ["input", "truth", *config.models]
    tiles, titles = [], []
    for i in range(config.num_pictures):
        tiles += [xt[i], pictures.label_colours(yt[i], num_classes)]
        for name in config.models:
            first = next(r for r in records if r["model"] == name)
            tiles.append(pictures.label_colours(np.asarray(first["examples"][i]), num_classes))
        titles += columns if i == 0 else [""] * len(columns)
    pictures.save_grid(
        os.path.join(config.results_dir, "segmentation_examples.png"),
        tiles,
        titles,
        columns=len(columns),
        title="test canvases: black = background, one colour per digit class",
    )


def main(argv):
    del argv
    config = FLAGS.config
    os.makedirs(config.results_dir, exist_ok=True)
    start = time.perf_counter()
    with trainings.exit_on_error():
        records, splits, num_classes = run_all(config)
    table = _table(config, records)
    epochs = list(range(1, config.epochs + 1))
    curves = {
        name: trainings.history_curve([r for r in records if r["model"] == name], "mean_iou")
        for name in config.models
    }
    report.plot_lines(
        os.path.join(config.results_dir, "mean_iou_by_epoch.png"),
        epochs,
        curves,
        {},
        "epoch",
        "test mean IoU",
        title="FCN on digit canvases: with and without skip connections",
    )
    write_pictures(config, records, splits, num_classes)
    body = [
        "# FCN segmentation of digits on a canvas",
        "",
        f"{config.train_canvases} training and {config.test_canvases} test canvases of "
        f"{config.canvas_size}x{config.canvas_size} pixels, 1 to {config.max_digits} "
        f"`{config.dataset}` digits each (test canvases from test digits); {num_classes} "
        f"classes (background + digits), every pixel of ink >= {config.threshold} labelled "
        f"with its digit. {config.epochs} epochs, batch {config.batch_size}, "
        f"{config.optimizer.name} at {config.optimizer.learning_rate} ({config.schedule.name}); "
        f"mean ± std over {config.seeds} seeds. Mean IoU averages the {num_classes} classes.",
        "",
        table,
        "",
        "![mean_iou_by_epoch.png](mean_iou_by_epoch.png)",
        "",
        "![segmentation_examples.png](segmentation_examples.png)",
        "",
    ]
    payload = {
        "config": config.to_dict(),
        "records": [{k: v for k, v in r.items() if k != "examples"} for r in records],
    }
    trainings.write_results(
        config.results_dir,
        "experiments.segmentation",
        payload,
        body,
        records,
        time.perf_counter() - start,
    )


if __name__ == "__main__":
    cli.run(main)
