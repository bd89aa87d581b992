"""Scores of dense (per-pixel) predictions, from a confusion matrix that adds up over batches.

    C[i, j]          = number of pixels of true class i predicted as class j       (K, K)
    pixel accuracy   = sum_i C[i, i] / sum C
    IoU_i            = C[i, i] / (sum_j C[i, j] + sum_j C[j, i] - C[i, i])
                       (intersection over union of the true and predicted regions of class i)
    mean IoU         = mean of IoU_i over the classes present in truth or prediction
    mean class acc.  = mean over the classes present in truth of C[i, i] / sum_j C[i, j]

as in Long et al. 2015 (FCN), section 5. And of restored images (super-resolution), per image,
for pixel values in [0, 1] (dm-pix):

    PSNR = 10 log10(1 / mean((x - y)^2))   dB
    SSIM = mean over 11x11 Gaussian windows (sigma 1.5) of the structural similarity of x and y

And of generated samples, from a trained classifier's class probabilities p(y|x_i) on N
samples, with p(y) = mean_i p(y|x_i) (Salimans et al. 2016's Inception Score, with our own
classifier in place of Inception):

    inception score = exp(mean_i KL(p(y|x_i) || p(y)))        in [1, K]: high when each
                      sample is confidently one class and the classes are balanced
    confidence      = mean_i max_y p(y|x_i)
    coverage        = exp(H(p(y))) / K                         effective share of the K classes
"""

from __future__ import annotations

import dm_pix
import jax
import jax.numpy as jnp
import numpy as np


def confusion_matrix(
    predictions: jax.Array, labels: jax.Array, num_classes: int, mask: jax.Array | None = None
) -> jax.Array:
    """C (num_classes, num_classes) int32 of int `predictions` and `labels` of one shape (any);
    with `mask` (the same shape, or broadcastable to it), only the elements where it is
    non-zero count (the padding of an evaluation's last batch does not)."""
    if predictions.shape != labels.shape:
        raise ValueError(
            f"confusion_matrix: predictions {predictions.shape} and labels {labels.shape} differ"
        )
    cells = num_classes * num_classes
    pairs = labels.reshape(-1) * num_classes + predictions.reshape(-1)
    if mask is not None:  # masked elements go to an extra bin, dropped below
        pairs = jnp.where(jnp.broadcast_to(mask, labels.shape).reshape(-1) != 0, pairs, cells)
    counts = jnp.bincount(pairs, length=cells + 1)[:cells]
    return counts.reshape(num_classes, num_classes).astype(jnp.int32)


def per_class_report(confusion: np.ndarray, class_names=None) -> dict[str, list]:
    """Per-class precision, recall, F1 and support of a classification confusion matrix
    (C[i, j]: examples of true class i predicted as j), by scikit-learn's
    `precision_recall_fscore_support` on the (true, predicted) pairs the matrix counts:

        precision_i = C[i, i] / sum_j C[j, i]     recall_i = C[i, i] / sum_j C[i, j]
        F1_i = 2 precision_i recall_i / (precision_i + recall_i)

    with 0 where a denominator is 0 (a class never predicted, or absent from the labels).
    Returns {'class_names', 'precision', 'recall', 'f1', 'support'} (lists of floats, ints)."""
    from sklearn import metrics as sk_metrics  # Imported here: slow to import.

    c = np.asarray(confusion, np.int64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.sum() == 0 or (c < 0).any():
        raise ValueError(f"per_class_report needs a non-empty (K, K) count matrix, got {c.shape}")
    k = c.shape[0]
    true, predicted = np.divmod(np.repeat(np.arange(k * k), c.reshape(-1)), k)
    precision, recall, f1, support = sk_metrics.precision_recall_fscore_support(
        true, predicted, labels=np.arange(k), zero_division=0
    )
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    return {
        "class_names": names,
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "f1": [float(v) for v in f1],
        "support": [int(v) for v in support],
    }


def segmentation_scores(confusion: np.ndarray) -> dict[str, float | list[float]]:
    """{'pixel_accuracy', 'mean_iou', 'mean_class_accuracy', 'iou' (per class, NaN for a class
    absent from truth and prediction)} of a confusion matrix (see the module docstring)."""
    c = np.asarray(confusion, np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.sum() == 0:
        raise ValueError(f"segmentation_scores needs a non-empty (K, K) matrix, got {c.shape}")
    hits, truth, predicted = np.diag(c), c.sum(1), c.sum(0)
    union = truth + predicted - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, hits / union, np.nan)
        recall = np.where(truth > 0, hits / truth, np.nan)
    return {
        "pixel_accuracy": float(hits.sum() / c.sum()),
        "mean_iou": float(np.nanmean(iou)),
        "mean_class_accuracy": float(np.nanmean(recall)),
        "iou": [float(v) for v in iou],
    }


def image_scores(predictions: jax.Array, targets: jax.Array) -> dict[str, jax.Array]:
    """{'psnr': (N,) dB, 'ssim': (N,)} of images (N, H, W, C) in [0, 1]; predictions are
    clipped to [0, 1] first (as a saved image would be)."""
    if predictions.shape != targets.shape or predictions.ndim != 4:
        raise ValueError(
            f"image_scores needs two (N, H, W, C) batches of one shape, got "
            f"{predictions.shape} and {targets.shape}"
        )
    predictions = jnp.clip(predictions, 0.0, 1.0)
    return {"psnr": dm_pix.psnr(predictions, targets), "ssim": dm_pix.ssim(predictions, targets)}


def sample_scores(probs: np.ndarray) -> dict[str, float]:
    """{'inception_score', 'confidence', 'coverage'} of class probabilities (N, K) of samples
    (see the module docstring)."""
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise ValueError(f"sample_scores needs probabilities (N, K) summing to 1, got {p.shape}")
    marginal = p.mean(0)
    log = lambda a: np.log(np.maximum(a, 1e-12))
    kl = (p * (log(p) - log(marginal))).sum(1)
    entropy = -(marginal * log(marginal)).sum()
    return {
        "inception_score": float(np.exp(kl.mean())),
        "confidence": float(p.max(1).mean()),
        "coverage": float(np.exp(entropy) / p.shape[1]),
    }
