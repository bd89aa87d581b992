"""Segmentation scores against counts made by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import metrics


def test_confusion_matrix_counts_every_pair():
    labels = np.array([[0, 0, 1], [2, 2, 1]])
    preds = np.array([[0, 1, 1], [2, 0, 0]])
    c = np.asarray(metrics.confusion_matrix(jnp.asarray(preds), jnp.asarray(labels), 3))
    expected = np.zeros((3, 3), int)
    for t, p in zip(labels.ravel(), preds.ravel()):
        expected[t, p] += 1
    np.testing.assert_array_equal(c, expected)
    with pytest.raises(ValueError, match="differ"):
        metrics.confusion_matrix(jnp.zeros(3, int), jnp.zeros(4, int), 2)


def test_scores_of_a_hand_made_confusion_matrix():
    # class 0: 5 right, 1 called 1; class 1: 2 right, 2 called 0; class 2: absent everywhere.
    c = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
    s = metrics.segmentation_scores(c)
    assert s["pixel_accuracy"] == pytest.approx(7 / 10)
    assert s["iou"][0] == pytest.approx(5 / (6 + 7 - 5))  # truth 6, predicted 7
    assert s["iou"][1] == pytest.approx(2 / (4 + 3 - 2))
    assert np.isnan(s["iou"][2])  # absent: left out of the mean
    assert s["mean_iou"] == pytest.approx((5 / 8 + 2 / 5) / 2)
    assert s["mean_class_accuracy"] == pytest.approx((5 / 6 + 2 / 4) / 2)
    with pytest.raises(ValueError, match="non-empty"):
        metrics.segmentation_scores(np.zeros((2, 2)))


def test_sample_scores_at_their_extremes():
    k = 4
    uniform = metrics.sample_scores(np.full((8, k), 1 / k))
    assert uniform["inception_score"] == pytest.approx(1.0)
    assert uniform["confidence"] == pytest.approx(1 / k) and uniform["coverage"] == pytest.approx(1)
    balanced = metrics.sample_scores(np.eye(k)[np.arange(8) % k])  # confident, every class
    assert balanced["inception_score"] == pytest.approx(k, rel=1e-6)
    assert balanced["confidence"] == 1.0 and balanced["coverage"] == pytest.approx(1.0)
    collapsed = metrics.sample_scores(np.eye(k)[np.zeros(8, int)])  # mode collapse
    assert collapsed["inception_score"] == pytest.approx(1.0)
    assert collapsed["coverage"] == pytest.approx(1 / k)
    with pytest.raises(ValueError, match="summing to 1"):
        metrics.sample_scores(np.ones((3, 2)))


def test_a_masked_confusion_matrix_counts_only_the_real_examples():
    rng = np.random.default_rng(0)
    labels, preds = rng.integers(0, 4, 30), rng.integers(0, 4, 30)
    mask = (rng.random(30) > 0.3).astype(np.float32)
    c = np.asarray(metrics.confusion_matrix(jnp.asarray(preds), jnp.asarray(labels), 4,
                                            jnp.asarray(mask)))
    expected = np.zeros((4, 4), int)
    for t, p, m in zip(labels, preds, mask):
        expected[t, p] += int(m)
    np.testing.assert_array_equal(c, expected)


def test_per_class_report_follows_the_definitions():
    # class 0: 5 right, 1 called 1; class 1: 2 right, 2 called 0; class 2: never predicted.
    c = np.array([[5, 1, 0], [2, 2, 0], [1, 0, 0]])
    r = metrics.per_class_report(c, ("a", "b", "c"))
    assert r["class_names"] == ["a", "b", "c"] and r["support"] == [6, 4, 1]
    precision, recall = [5 / 8, 2 / 3, 0.0], [5 / 6, 2 / 4, 0.0]
    np.testing.assert_allclose(r["precision"], precision)
    np.testing.assert_allclose(r["recall"], recall)
    f1 = [2 * p * q / (p + q) if p + q else 0.0 for p, q in zip(precision, recall)]
    np.testing.assert_allclose(r["f1"], f1)
    # support-weighted recall is the accuracy
    assert np.dot(r["recall"], r["support"]) / 11 == pytest.approx(np.trace(c) / c.sum())
    with pytest.raises(ValueError, match="non-empty"):
        metrics.per_class_report(np.zeros((2, 2), int))
