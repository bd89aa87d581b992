"""Semantic segmentation: a class for every pixel, from digits placed on a canvas.

Data: cnnjax.data.segmentation.digit_canvases of the dataset's digits (config.dataset: MNIST,
Fashion-MNIST, digits): training canvases from the training digits (seed dataset.split_seed),
test canvases from the test digits (split_seed + 1), validation canvases from the
dataset.val_size digits held out of training (split_seed + 2). Images (N, S, S, 1) uint8,
labels (N, S, S) int32: 0 background, 1 + the class of the digit whose ink the pixel is.

Model: per-pixel logits (B, S, S, 1 + K) (models of output kind 'pixel_logits': FCN). Loss:
the mean over pixels of the cross-entropy (cnnjax.tasks.classification, which sums over
pixels for per-pixel labels). Sums: as classification's, over pixels, with the (1+K, 1+K)
confusion matrix of pixels. Figures: loss, accuracy (of pixels), and from the confusion
matrix C (hits h = diag C, truth t = row sums, predicted p = column sums):

    IoU_k = h_k / (t_k + p_k - h_k),   mean_iou = mean of IoU_k over classes with a union > 0
    mean_class_accuracy = mean of h_k / t_k over classes present in the truth

(cnnjax.metrics.segmentation_scores computes the same in NumPy). Primary: mean_iou.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnnjax import config as config_lib
from cnnjax import data, pipeline
from cnnjax.data.segmentation import digit_canvases
from cnnjax.tasks.base import BatchFns, Splits, dataset_info, register
from cnnjax.tasks.classification import (
    Classification,
    classification_figures,
    classification_fns,
)
from cnnjax.train import data_setup


def segmentation_figures(total: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Classification's figures (over pixels) plus mean_iou and mean_class_accuracy (module
    docstring) of the confusion matrix."""
    c = total["confusion"].astype(jnp.float32)
    hits, truth, predicted = jnp.diag(c), c.sum(1), c.sum(0)
    union = truth + predicted - hits
    iou = jnp.where(union > 0, hits / jnp.maximum(union, 1), 0.0)
    recall = jnp.where(truth > 0, hits / jnp.maximum(truth, 1), 0.0)
    return {
        **classification_figures(total),
        "mean_iou": iou.sum() / jnp.sum(union > 0),
        "mean_class_accuracy": recall.sum() / jnp.sum(truth > 0),
    }


class Segmentation(Classification):
    name = "segmentation"
    output_kind = "pixel_logits"
    figures = ("loss", "accuracy", "mean_iou", "mean_class_accuracy")
    train_figures = ("loss", "accuracy")
    primary = "mean_iou"
    streams = False  # its canvases are built in memory
    higher_is_better = {
        "loss": False, "accuracy": True, "mean_iou": True, "mean_class_accuracy": True
    }  # fmt: skip
    unsupported = {
        "dataset.augment": "moves pixels without their labels (augmentation is off here)",
        "mixing": "mixes images, not their per-pixel labels",
        "eval_flip_average": "would average logits of mirrored pixels",
        "layer_stats.enabled": "probes per-image labels",
        "dataset.permute_pixels": "places digits on a canvas: a pixel permutation breaks them",
        "dataset.train_per_class": "draws canvases from all training digits",
        "dataset.subset_per_seed": "draws canvases from all training digits",
    }

    def fields(self) -> ml_collections.ConfigDict:
        f = ml_collections.ConfigDict()
        f.canvas_size = 48  # pixels; divisible by the FCN's total stride (2^stages)
        f.max_digits = 2  # digits per canvas: 1 .. max_digits
        f.threshold = 128  # ink threshold (0-255) of a labelled pixel
        f.train_canvases = 6000
        f.val_canvases = 500  # from the dataset.val_size held-out digits (0 digits: none)
        f.test_canvases = 1000
        return f

    def checks(self):
        at_least = lambda low: lambda v: config_lib.is_int(v) and v >= low
        return [
            ("canvas_size", at_least(1), "an integer >= 1"),
            ("max_digits", at_least(1), "an integer >= 1"),
            ("threshold", lambda v: at_least(0)(v) and v <= 255, "an integer in [0, 255]"),
            ("train_canvases", at_least(1), "an integer >= 1"),
            ("val_canvases", at_least(0), "an integer >= 0"),
            ("test_canvases", at_least(1), "an integer >= 1"),
        ]

    def splits(self, config: ml_collections.ConfigDict) -> Splits:
        ds, train, val, test = data_setup.data_splits(config)
        f, seed = config.segmentation, config.dataset.split_seed
        if train.images.shape[-1] != 1 or f.canvas_size < max(train.images.shape[1:3]):
            raise config_lib.ConfigError(
                f"segmentation.canvas_size={f.canvas_size}: digits of {ds.name} are "
                f"{train.images.shape[1:]}; canvases need grey digits no larger than the canvas"
            )
        canvases = lambda split, n, s: data.Split(
            *digit_canvases(
                split.images, split.labels, n, f.canvas_size, f.max_digits, f.threshold, s
            )
        )
        size = f.canvas_size
        empty = data.Split(
            np.zeros((0, size, size, 1), np.uint8), np.zeros((0, size, size), np.int32)
        )
        return Splits(
            train=canvases(train, f.train_canvases, seed),
            val=canvases(val, f.val_canvases, seed + 2) if len(val) and f.val_canvases else empty,
            test=canvases(test, f.test_canvases, seed + 1),
            num_classes=1 + ds.num_classes,
            class_names=("background", *ds.class_names),
            info={**dataset_info(ds), "canvases": f.to_dict()},
        )

    def batch_fns(
        self, config: ml_collections.ConfigDict, normalizer: pipeline.Normalizer, splits: Splits
    ) -> BatchFns:
        """Classification's over pixels (normalised, label smoothing; no augmentation or mixing:
        `unsupported`), with the segmentation figures."""
        fns = classification_fns(normalizer, label_smoothing=config.loss.label_smoothing)
        return dataclasses.replace(fns, figures=segmentation_figures)


SEGMENTATION = register(Segmentation())
