"""Image classification: one class per image, softmax cross-entropy, accuracy and a confusion
matrix.

Training batches are augmented (config.dataset.augment, cnnjax.pipeline.Augment) and
normalised on the device, then optionally mixed (config.mixing, cnnjax.mixing); the key of
step t is fold_in(rng, t), folded with 1 for the augmentation and 2 for the mixing, so a
resumed run draws the same. Targets are {'labels': (B,) int32}, with mixing also
{'labels_b', 'lam'}: loss = lam CE(y) + (1 - lam) CE(y_b), and `correct` counts lam for a
prediction of y and 1 - lam for one of y_b. Label smoothing: config.loss.label_smoothing.

Sums: training `correct`; evaluation `loss_sum`, `correct`, `count` and `confusion` (C, C)
int32 (true class i predicted as j), masked. Figures: loss = loss_sum / count, accuracy =
correct / count. The same functions serve per-pixel labels (B, H, W) (cnnjax.tasks.
segmentation): every sum then runs over pixels.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from cnnjax import losses, metrics, pipeline
from cnnjax.mixing import Mixing
from cnnjax.tasks.base import BatchFns, Splits, Task, register


def cross_entropy_loss(label_smoothing: float = 0.0):
    """(logits, targets) -> (per-target cross-entropy, {'correct'}) for targets {'labels'}
    (and, mixed, {'labels_b', 'lam'}); see the module docstring."""

    def loss(logits: jax.Array, targets: dict[str, jax.Array]):
        labels = targets["labels"]
        data_loss = losses.cross_entropy(logits, labels, label_smoothing)
        predicted = jnp.argmax(logits, -1)
        hits = (predicted == labels).astype(jnp.float32)
        if "labels_b" in targets:
            lam = targets["lam"]
            other = losses.cross_entropy(logits, targets["labels_b"], label_smoothing)
            data_loss = lam * data_loss + (1 - lam) * other
            hits = lam * hits + (1 - lam) * (predicted == targets["labels_b"])
        return data_loss, {"correct": jnp.sum(hits)}

    return loss


def classification_sums(logits: jax.Array, labels: jax.Array, mask: jax.Array):
    """Masked sums of the cross-entropy and of correct predictions over the targets, their
    count, and the confusion matrix (C, C) int32; mask (B,) is 1 for real examples."""
    data_loss = losses.cross_entropy(logits, labels)
    mask = jnp.broadcast_to(mask.reshape(mask.shape + (1,) * (labels.ndim - 1)), labels.shape)
    predictions = jnp.argmax(logits, -1)
    return {
        "loss_sum": jnp.sum(data_loss * mask),
        "correct": jnp.sum((predictions == labels) * mask),
        "count": jnp.sum(mask),
        "confusion": metrics.confusion_matrix(predictions, labels, logits.shape[-1], mask),
    }


def classification_figures(total: dict[str, jax.Array]) -> dict[str, jax.Array]:
    return {
        "loss": total["loss_sum"] / total["count"],
        "accuracy": total["correct"] / total["count"],
        "count": total["count"],
        "confusion": total["confusion"],
    }


def classification_fns(
    normalizer: pipeline.Normalizer,
    augment: pipeline.Augment = pipeline.Augment(0, False),
    mixing: Mixing = Mixing(),
    label_smoothing: float = 0.0,
) -> BatchFns:
    """The BatchFns of classification (module docstring): augment, normalise, mix."""

    def train_batch(key, images, labels):
        x = images
        if augment.enabled:
            x = augment(jax.random.fold_in(key, 1), x)
        x = normalizer(x)
        targets: dict[str, Any] = {"labels": labels}
        if mixing.enabled:
            x, labels_b, lam = mixing(jax.random.fold_in(key, 2), x, labels)
            targets.update(labels_b=labels_b, lam=lam)
        return x, targets

    return BatchFns(
        train_batch=train_batch,
        eval_batch=lambda images, labels: (normalizer(images), labels),
        loss=cross_entropy_loss(label_smoothing),
        eval_sums=classification_sums,
        figures=classification_figures,
        train_sums=("correct",),
    )


class Classification(Task):
    name = "classification"
    output_kind = "logits"
    figures = ("loss", "accuracy")
    train_figures = ("loss", "accuracy")
    primary = "accuracy"
    higher_is_better = {"loss": False, "accuracy": True}
    streams = True

    def batch_fns(
        self, config: ml_collections.ConfigDict, normalizer: pipeline.Normalizer, splits: Splits
    ) -> BatchFns:
        return classification_fns(
            normalizer,
            # alternate_flip is the training step's (cnnjax.train.epoch): it needs the index
            pipeline.Augment(
                **{k: v for k, v in config.dataset.augment.items() if k != "alternate_flip"}
            ),
            Mixing(**config.mixing.to_dict()),
            config.loss.label_smoothing,
        )

    def train_record(self, totals: dict[str, float]) -> dict[str, float]:
        return {
            "loss": totals["loss_sum"] / totals["count"],
            "accuracy": totals["correct"] / totals["count"],
        }


CLASSIFICATION = register(Classification())
