"""SRCNN and ESPCN against bicubic up-sampling at x2 and x4 on MNIST and CIFAR-10
(cnnjax.tasks.superres); bicubic is a baseline row computed by the aggregation."""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import metrics, tasks
from cnnjax.report import pictures
from cnnjax.tasks.superres import bicubic_figures
from cnnjax.train.trained import load_trained
from experiments.configs import superres
from experiments.sweeps.grid import Baseline, Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "A CNN trained end to end to map a low-resolution image to a high-resolution one beats "
    "bicubic interpolation (SRCNN, Dong et al. 2014); ESPCN's sub-pixel convolution, working at "
    "low resolution and up-sampling by a pixel shuffle at its end, does as well at a fraction "
    "of the cost (Shi et al. 2016)."
)

DATASETS = ("mnist", "cifar10")
SCALES = (2, 4)  # up-sampling factors r
MODELS = ("srcnn", "espcn")
WORSE_DB = 0.5  # test PSNR (dB) ESPCN may fall short of SRCNN and still count as doing as well
NUM_PICTURES = 4  # test images shown per (dataset, scale)

NOTES = """
Both networks learn a correction to bicubic up-sampling (SRCNN reads the bicubic image, ESPCN
the low-resolution one and up-samples by its pixel shuffle). The gain over bicubic is largest on
MNIST, whose flat background and sharp strokes bicubic blurs most: at x2 SRCNN reaches
{{mean test_psnr srcnn_mnist_x2}} dB against {{mean test_psnr bicubic_mnist_x2}} dB for bicubic.
On CIFAR-10's natural images the gain is smaller ({{mean test_psnr srcnn_cifar10_x2}} dB against
{{mean test_psnr bicubic_cifar10_x2}} dB at x2). ESPCN convolves at low resolution, so its
multiply-accumulates per image ({{count macs espcn_cifar10_x2}} at CIFAR-10 x2) are a fraction of
SRCNN's ({{count macs srcnn_cifar10_x2}}), with more parameters.
"""


def _name(model: str, dataset: str, scale: int) -> str:
    return f"{model}_{dataset}_x{scale}"


def _labels(method: str, dataset: str, scale: int) -> dict[str, str]:
    return {"dataset": dataset, "scale": f"x{scale}", "method": method}


def bicubic_test_figures(config) -> dict[str, float]:
    """Bicubic up-sampling's test figures on a run's data (test_loss is its MSE)."""
    splits = tasks.of(config).splits(config)
    found = bicubic_figures(splits.test, config.superres.scale, config.eval_batch_size)
    return {f"test_{k}": v for k, v in found.items()}


def comparisons(grid) -> tuple[Comparison, ...]:
    out = []
    for dataset, scale in grid:
        bicubic = _name("bicubic", dataset, scale)
        for model in MODELS:
            out.append(
                Comparison(
                    f"{model} beats bicubic on {dataset} x{scale}",
                    _name(model, dataset, scale),
                    bicubic,
                    "test_psnr",
                )
            )
        out.append(
            Comparison(
                f"espcn does as well as srcnn on {dataset} x{scale} (at most {WORSE_DB} dB below)",
                _name("espcn", dataset, scale),
                _name("srcnn", dataset, scale),
                "test_psnr",
                claim="not_lower",
                margin=WORSE_DB,
            )
        )
    return tuple(out)


def get_sweep(quick: bool) -> Sweep:
    if quick:
        base, grid = (lambda: superres.get_config("quick")), (("digits", 2),)
    else:
        base, grid = superres.get_config, tuple((d, r) for d in DATASETS for r in SCALES)
    runs = tuple(
        Run(
            _name(model, dataset, scale),
            {"dataset.name": dataset, "superres.scale": scale, "model": model},
            _labels(model, dataset, scale),
        )
        for dataset, scale in grid
        for model in MODELS
    )
    baselines = tuple(
        Baseline(
            _name("bicubic", dataset, scale),
            like=_name(MODELS[0], dataset, scale),
            labels=_labels("bicubic", dataset, scale),
            figures=bicubic_test_figures,
        )
        for dataset, scale in grid
    )
    return Sweep(
        name="superres",
        claim=CLAIM,
        notes="" if quick else NOTES,
        comparisons=comparisons(grid),
        base=base,
        runs=runs,
        baselines=baselines,
        num_seeds=2,
        figures=("test_psnr", "test_ssim", "test_loss", "final_train_loss"),
        curves=("val_psnr", "train_loss"),
        plots=functools.partial(plots, grid=grid),
    )


def plots(sweep, workdir, results_dir, summaries, grid) -> list[str]:
    """superres_<dataset>_x<r>.png per (dataset, scale): per test image its low-resolution
    version (ESPCN's input), bicubic up-sampling (SRCNN's input), each network's output (its
    first seed) and the original, with PSNR against the original in the titles."""
    del summaries
    files = []
    for dataset, scale in grid:
        shown = {}
        for model in MODELS:
            trained = load_trained(os.path.join(workdir, _name(model, dataset, scale)))
            images = jnp.asarray(trained.test_images[:NUM_PICTURES])
            inputs, original = trained.eval_batch(images, trained.test_labels[:NUM_PICTURES])
            outputs = jax.jit(lambda v, x: trained.model.apply(v, x, train=False))(
                trained.variables, inputs
            )
            shown["low" if model == "espcn" else "bicubic"] = inputs
            shown[model] = jnp.clip(outputs, 0.0, 1.0)
        shown["original"] = original
        columns = ["low", "bicubic", *MODELS, "original"]
        psnr = {c: metrics.image_scores(shown[c], original)["psnr"] for c in columns[1:-1]}
        tiles, titles = [], []
        for i in range(len(original)):
            for column in columns:
                tiles.append(np.asarray(shown[column][i]))
                titles.append(column if column in ("low", "original") else
                              f"{column} {float(psnr[column][i]):.1f} dB")
        name = f"superres_{dataset}_x{scale}.png"
        pictures.save_grid(
            os.path.join(results_dir, name),
            tiles,
            titles,
            columns=len(columns),
            title=f"{dataset}, x{scale}: test images (PSNR against the original)",
        )
        files.append(name)
    return files
