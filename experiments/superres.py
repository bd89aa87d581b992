r"""Super-resolution: SRCNN and ESPCN against bicubic up-sampling, by PSNR and SSIM.

    python -m experiments.superres [--config=experiments/configs/superres_grid.py[:quick]]
        [--config.epochs=8 --config.results_dir=DIR ...]
    make superres [QUICK=1]

For every dataset and scale r of the config, the high-resolution images (pixel values in
[0, 1]) are downscaled by r with antialiased bicubic interpolation; bicubic up-sampling of the
low-resolution image is the baseline. SRCNN reads that bicubic image, ESPCN the low-resolution
one (cnnjax.models.superres); both are trained for `config.seeds` seeds on the mean squared
error to the original (`cnnjax.train.steps.regression_step`) and scored on the test images by
PSNR and SSIM (`cnnjax.metrics.image_scores`) after every epoch. Each finished training is
saved under config.workdir, so an interrupted run resumes with the next training. Writes
results.md, results.json, psnr_gain_by_scale.png and superres_<dataset>_x<r>.png (low
resolution, bicubic, each model, original) to config.results_dir.
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

from cnnjax import data, metrics, models, optim, report
from cnnjax.models.superres import bicubic_upsample
from cnnjax.report import pictures
from cnnjax.train.state import create_train_state, num_params
from cnnjax.train.steps import regression_step
from experiments import cli, trainings
from experiments.sweeps.figures import mean_std

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", "experiments/configs/superres_grid.py", "Super-res config."
)
# Fields that change a training's numbers (with its dataset, scale, model and seed).
IDENTITY = (
    "train_size",
    "test_size",
    "data_seed",
    "epochs",
    "batch_size",
    "optimizer",
    "schedule",
    "l2",
)


@functools.partial(jax.jit, static_argnums=1)
def downscale(images: jax.Array, r: int) -> jax.Array:
    """(N, H, W, C) -> (N, H / r, W / r, C), bicubic with antialiasing."""
    n, h, w, c = images.shape
    return jax.image.resize(images, (n, h // r, w // r, c), "bicubic", antialias=True)


def _batched(fn, *arrays, batch: int) -> np.ndarray:
    """fn applied to consecutive batches of `arrays`, outputs concatenated (as NumPy)."""
    return np.concatenate(
        [
            np.asarray(fn(*(jnp.asarray(a[i : i + batch]) for a in arrays)))
            for i in range(0, len(arrays[0]), batch)
        ]
    )


def make_data(config, name: str, scale: int) -> dict[str, np.ndarray]:
    """High-resolution train/test images, their low-resolution and bicubic versions."""
    ds = data.load(name, config.data_dir or None, exact_counts=config.exact_counts)
    h, w = ds.train.images.shape[1:3]
    if h % scale or w % scale:
        raise ValueError(f"{name}: images of {h}x{w} pixels cannot be downscaled by {scale}")
    for split, size, what in (
        (ds.train, config.train_size, "train"),
        (ds.test, config.test_size, "test"),
    ):
        if size > len(split):
            raise ValueError(f"{what}_size={size}: {name} has only {len(split)} {what} images")
    keep = np.sort(
        np.random.default_rng(config.data_seed).permutation(len(ds.train))[: config.train_size]
    )
    out = {
        "train": ds.train.images[keep].astype(np.float32) / 255.0,
        "test": ds.test.images[: config.test_size].astype(np.float32) / 255.0,
    }
    for split in ("train", "test"):
        low = _batched(lambda x: downscale(x, scale), out[split], batch=config.eval_batch_size)
        out[f"{split}_low"] = low
        out[f"{split}_bicubic"] = _batched(
            lambda x: jnp.clip(bicubic_upsample(x, scale), 0, 1), low, batch=config.eval_batch_size
        )
    return out


def _inputs(model_name: str, split: str) -> str:
    """Which array a model reads: SRCNN the bicubic image, ESPCN the low-resolution one."""
    return f"{split}_bicubic" if model_name == "srcnn" else f"{split}_low"


def image_scores(predict, inputs: np.ndarray, targets: np.ndarray, batch: int) -> dict:
    """Mean test PSNR and SSIM (cnnjax.metrics.image_scores) of predict(inputs) on targets."""
    per_image = {"psnr": [], "ssim": []}
    for i in range(0, len(targets), batch):
        out = predict(jnp.asarray(inputs[i : i + batch]))
        s = metrics.image_scores(out, jnp.asarray(targets[i : i + batch]))
        for k in per_image:
            per_image[k].append(np.asarray(s[k]))
    return {k: float(np.mean(np.concatenate(v))) for k, v in per_image.items()}


def train_one(config, arrays, model_name: str, scale: int, seed: int) -> dict:
    """Trains one model; returns its per-epoch and final test scores, parameter count,
    seconds and its outputs for the first test images."""
    overrides = config.model_args[model_name].to_dict()
    if model_name == "espcn":
        overrides["scale"] = scale
    model = models.create(model_name, arrays["train"].shape[-1], **overrides)
    x, y = arrays[_inputs(model_name, "train")], arrays["train"]
    xt = arrays[_inputs(model_name, "test")]
    steps_per_epoch = len(x) // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"train_size={len(x)} is fewer than batch_size={config.batch_size}")
    state = create_train_state(
        model,
        optim.make_optimizer(config, steps_per_epoch),
        optax.identity(),  # no plateau reduction: regression_step does not read it
        jax.random.PRNGKey(seed),
        (1, *x.shape[1:]),
    )
    step = jax.jit(functools.partial(regression_step, l2=config.l2), donate_argnums=0)
    predict = jax.jit(lambda params, a: model.apply({"params": params}, a, train=False))
    history, start = [], time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        mse = 0.0
        for idx in trainings.epoch_batches(len(x), config.batch_size, seed, epoch):
            state, batch_mse = step(state, jnp.asarray(x[idx]), jnp.asarray(y[idx]))
            mse += batch_mse
        train_mse = float(mse / steps_per_epoch)
        if not np.isfinite(train_mse):
            raise FloatingPointError(
                f"{model_name} x{scale} seed {seed}: training MSE {train_mse} at epoch {epoch}"
            )
        scores = image_scores(
            functools.partial(predict, state.params), xt, arrays["test"], config.eval_batch_size
        )
        history.append({"epoch": epoch, "train_mse": train_mse, **scores})
        print(
            f"{model_name} x{scale} seed {seed} epoch {epoch}: train MSE {train_mse:.5f}, test "
            f"PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}",
            flush=True,
        )
    shown = np.clip(np.asarray(predict(state.params, jnp.asarray(xt[: config.num_pictures]))), 0, 1)
    return {
        "params": num_params(state.params),
        "seconds": time.perf_counter() - start,
        "history": history,
        "final": history[-1],
        "examples": shown.tolist(),
    }


def run_all(config) -> tuple[list[dict], dict]:
    """Bicubic scores and every training, per (dataset, scale); trainings are read from
    config.workdir when they finished before. Returns (rows, example pictures' arrays)."""
    rows, shown = [], {}
    for name in config.datasets:
        for scale in config.scales:
            arrays = make_data(config, name, scale)
            bicubic = image_scores(
                lambda a: a, arrays["test_bicubic"], arrays["test"], config.eval_batch_size
            )
            rows.append(
                {
                    "dataset": name,
                    "scale": scale,
                    "method": "bicubic",
                    "seed": None,
                    "final": bicubic,
                }
            )
            n = config.num_pictures
            shown[(name, scale)] = {
                "low": arrays["test_low"][:n],
                "bicubic": arrays["test_bicubic"][:n],
                "original": arrays["test"][:n],
            }
            for model_name in config.models:
                if models.output_kind(model_name) != "image":
                    raise ValueError(
                        f"models: {model_name!r} is not an image model (see cnnjax.models)"
                    )
                for seed in range(config.seeds):
                    identity = trainings.config_identity(
                        config, IDENTITY, model_args=config.model_args[model_name].to_dict()
                    )
                    record, reused = trainings.load_or_train(
                        os.path.join(
                            config.workdir, name, f"x{scale}", f"{model_name}_seed{seed}.json"
                        ),
                        identity,
                        lambda: train_one(config, arrays, model_name, scale, seed),
                    )
                    if reused:
                        print(f"{name} x{scale} {model_name} seed {seed}: finished before")
                    if seed == 0:
                        shown[(name, scale)][model_name] = np.asarray(
                            record["examples"], np.float32
                        )
                    record = {k: v for k, v in record.items() if k != "examples"}
                    rows.append(
                        {
                            "dataset": name,
                            "scale": scale,
                            "method": model_name,
                            "seed": seed,
                            **record,
                        }
                    )
    return rows, shown


def _group(rows, name: str, scale: int, method: str) -> list[dict]:
    """The rows of one method at one (dataset, scale): one per seed (bicubic: one)."""
    return [r for r in rows if (r["dataset"], r["scale"], r["method"]) == (name, scale, method)]


def _gains(rows, name: str, scale: int, method: str) -> list[float]:
    """Each seed's test PSNR minus bicubic's, dB."""
    base = _group(rows, name, scale, "bicubic")[0]["final"]["psnr"]
    return [r["final"]["psnr"] - base for r in _group(rows, name, scale, method)]


def _table(config, rows) -> str:
    lines = [
        "| dataset | scale | method | parameters | test PSNR (dB) | test SSIM | "
        "PSNR gain over bicubic (dB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in config.datasets:
        for scale in config.scales:
            for method in ("bicubic", *config.models):
                group = _group(rows, name, scale, method)
                (p, ps), (s, ss) = (
                    mean_std([r["final"][k] for r in group]) for k in ("psnr", "ssim")
                )
                g, gs = mean_std(_gains(rows, name, scale, method))
                lines.append(
                    f"| {name} | x{scale} | {method} | {group[0].get('params', 0):,} | "
                    f"{p:.2f} ± {ps:.2f} | {s:.4f} ± {ss:.4f} | {g:+.2f} ± {gs:.2f} |"
                )
    return "\n".join(lines)


def write_pictures(config, rows, shown) -> list[str]:
    """superres_<dataset>_x<r>.png per (dataset, scale): low resolution (shown enlarged),
    bicubic, each model (seed 0), original; PSNR in the titles. Returns the file names."""
    files = []
    for (name, scale), images in shown.items():
        columns = ["low", "bicubic", *config.models, "original"]
        tiles, titles = [], []
        for i in range(len(images["original"])):
            for column in columns:
                tile = images[column][i]
                tiles.append(tile)
                if column in ("low", "original"):
                    titles.append(column)
                else:
                    psnr = float(
                        metrics.image_scores(
                            jnp.asarray(tile[None]), jnp.asarray(images["original"][i : i + 1])
                        )["psnr"][0]
                    )
                    titles.append(f"{column} {psnr:.1f} dB")
        file = f"superres_{name}_x{scale}.png"
        pictures.save_grid(
            os.path.join(config.results_dir, file),
            tiles,
            titles,
            columns=len(columns),
            title=f"{name}, x{scale}: test images (PSNR against the original)",
        )
        files.append(file)
    return files


def main(argv):
    del argv
    config = FLAGS.config
    os.makedirs(config.results_dir, exist_ok=True)
    start = time.perf_counter()
    with trainings.exit_on_error():
        rows, shown = run_all(config)
    lines = {}
    for name in config.datasets:
        for method in config.models:
            points = [mean_std(_gains(rows, name, scale, method)) for scale in config.scales]
            lines[f"{method}, {name}"] = ([m for m, _ in points], [s for _, s in points])
    report.plot_lines(
        os.path.join(config.results_dir, "psnr_gain_by_scale.png"),
        list(config.scales),
        lines,
        {},
        "up-sampling factor r",
        "test PSNR gain over bicubic (dB)",
        title="Super-resolution: gain over bicubic interpolation",
    )
    files = write_pictures(config, rows, shown)
    body = [
        "# Super-resolution: SRCNN and ESPCN against bicubic up-sampling",
        "",
        f"High-resolution images: {config.train_size} training images and the first "
        f"{config.test_size} test images of each dataset, pixel values in [0, 1]; "
        f"low-resolution images: downscaled by r with antialiased bicubic interpolation. "
        f"Residual models (output = bicubic up-sampling + learned correction); "
        f"{config.epochs} epochs of mean squared error, batch {config.batch_size}, "
        f"{config.optimizer.name} at {config.optimizer.learning_rate} ({config.schedule.name}); "
        f"PSNR and SSIM (dm-pix, 11x11 Gaussian window) on all channels of the clipped output, "
        f"averaged over the test images; mean ± std over {config.seeds} seeds.",
        "",
        _table(config, rows),
        "",
        "![psnr_gain_by_scale.png](psnr_gain_by_scale.png)",
        "",
        *[f"![{f}]({f})\n" for f in files],
    ]
    trainings.write_results(
        config.results_dir,
        "experiments.superres",
        {"config": config.to_dict(), "rows": rows},
        body,
        [r for r in rows if r["seed"] is not None],
        time.perf_counter() - start,
    )


if __name__ == "__main__":
    cli.run(main)
