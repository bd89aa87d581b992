"""Single-image super-resolution by a factor r (config.superres.scale): an image model
learns the high-resolution image from its bicubic downscaling.

Data: the dataset's images (labels unused), training subset dataset.train_size, validation
dataset.val_size held out, test the first superres.test_size test images (0: all); pixels in
[0, 1] (dataset.normalize='scale01'). Every batch is prepared on the device:

    y   = the image (B, H, W, C) in [0, 1]                                  (the target)
    low = bicubic resize of y to (H / r, W / r), antialiased (jax.image.resize)
    x   = low for a model that up-samples itself (one with a `scale` field: ESPCN, whose
          scale the task sets to r), else clip(bicubic up-sampling of low, 0, 1) (SRCNN)

Loss: per image, the mean squared error over its pixels and channels (the objective is their
mean over the batch). Sums: loss_sum, and per image PSNR and SSIM (cnnjax.metrics.
image_scores, outputs clipped to [0, 1]), masked. Figures: loss (MSE), psnr (dB), ssim, the
means over images. Primary: psnr. `bicubic_figures` scores the bicubic baseline on a split
with the same functions (what a sweep compares the networks with).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnnjax import config as config_lib
from cnnjax import data, metrics, models, pipeline
from cnnjax.models.superres import bicubic_upsample
from cnnjax.tasks.base import (
    WITHOUT_CLASSES,
    BatchFns,
    Splits,
    Task,
    baseline_figures,
    dataset_info,
    first_test_images,
    mse_loss,
    register,
)
from cnnjax.train import data_setup


def downscale(images: jax.Array, r: int) -> jax.Array:
    """(N, H, W, C) -> (N, H / r, W / r, C), bicubic with antialiasing."""
    n, h, w, c = images.shape
    return jax.image.resize(images, (n, h // r, w // r, c), "bicubic", antialias=True)


def bicubic_baseline(low: jax.Array, r: int) -> jax.Array:
    """Bicubic up-sampling of low-resolution images by r, clipped to [0, 1]."""
    return jnp.clip(bicubic_upsample(low, r), 0.0, 1.0)


def image_sums(outputs: jax.Array, targets: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """Masked sums over images of the MSE, PSNR and SSIM, and their count (a padding image,
    mask 0, may score an infinite PSNR: it is left out, not multiplied by 0)."""
    scores = metrics.image_scores(outputs, targets)
    masked = lambda v: jnp.sum(jnp.where(mask > 0, v * mask, 0.0))
    return {
        "loss_sum": masked(mse_loss(outputs, targets)[0]),
        "psnr_sum": masked(scores["psnr"]),
        "ssim_sum": masked(scores["ssim"]),
        "count": jnp.sum(mask),
    }


def image_figures(total: dict[str, jax.Array]) -> dict[str, jax.Array]:
    n = total["count"]
    return {
        "loss": total["loss_sum"] / n,
        "psnr": total["psnr_sum"] / n,
        "ssim": total["ssim_sum"] / n,
        "count": n,
    }


def upsamples_itself(model: str) -> bool:
    """Whether `model` reads the low-resolution image (it has a `scale` field: ESPCN)."""
    return "scale" in models.hyperparameters(model)


class SuperResolution(Task):
    name = "superres"
    output_kind = "image"
    figures = ("loss", "psnr", "ssim")
    train_figures = ("loss",)
    primary = "psnr"
    higher_is_better = {"loss": False, "psnr": True, "ssim": True}
    normalize = ("scale01", "scores images in [0, 1]")
    unsupported = {
        "dataset.augment": "trains on the images as they are (augmentation is off here)",
        "mixing": "would blend the target images",
        "eval_flip_average": "would average outputs of mirrored pixels",
        **WITHOUT_CLASSES,
        "dataset.permute_pixels": "up-samples neighbouring pixels: a permutation breaks them",
    }

    def fields(self) -> ml_collections.ConfigDict:
        f = ml_collections.ConfigDict()
        f.scale = 2  # up-sampling factor r: low resolution = high / r; divides every side
        f.test_size = 1000  # the first this many test images (0: all)
        return f

    def checks(self):
        return [
            ("scale", lambda v: config_lib.is_int(v) and v >= 2, "an integer >= 2"),
            ("test_size", lambda v: config_lib.is_int(v) and v >= 0, "an integer >= 0"),
        ]

    def splits(self, config: ml_collections.ConfigDict) -> Splits:
        ds, train, val, test = data_setup.data_splits(config)
        r = config.superres.scale
        h, w = train.images.shape[1:3]
        if h % r or w % r:
            raise config_lib.ConfigError(
                f"superres.scale={r}: {ds.name} images of {h}x{w} pixels cannot be downscaled "
                f"by {r}"
            )
        test = first_test_images(config, ds.name, test, "superres")
        no_labels = lambda s: data.Split(s.images, np.zeros(len(s), np.int32))
        return Splits(
            no_labels(train),
            no_labels(val),
            no_labels(test),
            num_classes=0,
            class_names=(),
            info={**dataset_info(ds), "scale": r},
        )

    def num_outputs(self, config: ml_collections.ConfigDict, splits: Splits) -> int:
        return splits.train.images.shape[-1]  # as many channels as the image

    def model_overrides(self, config: ml_collections.ConfigDict) -> dict[str, Any]:
        overrides = config_lib.model_overrides(config)
        if upsamples_itself(config.model):
            overrides["scale"] = config.superres.scale
        return overrides

    def input_shape(self, config: ml_collections.ConfigDict, image_shape) -> tuple[int, ...]:
        h, w, c = image_shape
        r = config.superres.scale if upsamples_itself(config.model) else 1
        return (1, h // r, w // r, c)

    def batch_fns(
        self, config: ml_collections.ConfigDict, normalizer: pipeline.Normalizer, splits: Splits
    ) -> BatchFns:
        r, own = config.superres.scale, upsamples_itself(config.model)

        def prepare(images, labels):
            y = normalizer(images)
            low = downscale(y, r)
            return (low if own else bicubic_baseline(low, r)), y

        return BatchFns(
            train_batch=lambda key, images, labels: prepare(images, labels),
            eval_batch=prepare,
            loss=mse_loss,
            eval_sums=image_sums,
            figures=image_figures,
        )


def bicubic_figures(split: data.Split, scale: int, batch_size: int = 500) -> dict[str, float]:
    """The bicubic baseline's figures (loss, psnr, ssim) on `split`'s images: the same
    downscaling and scores as the task's evaluation, without a network."""

    def sums(x, labels, m):
        y = x.astype(jnp.float32) / 255.0
        return image_sums(bicubic_baseline(downscale(y, scale), scale), y, m)

    return baseline_figures(split, batch_size, sums, image_figures)


SUPERRES = register(SuperResolution())
