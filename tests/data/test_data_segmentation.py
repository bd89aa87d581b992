"""The synthetic digit-segmentation set against a direct recomputation."""

import numpy as np
import pytest

from cnnjax.data import segmentation


@pytest.fixture(scope="module")
def digits():
    rng = np.random.default_rng(0)
    images = (rng.random((20, 6, 5)) * 255).astype(np.uint8)
    return images, np.arange(20, dtype=np.int32) % 10


def test_one_digit_is_placed_and_labelled_where_its_ink_is(digits):
    images, labels = digits
    canvases, masks = segmentation.digit_canvases(
        images, labels, 30, canvas_size=12, max_digits=1, threshold=100, seed=1
    )
    assert canvases.shape == (30, 12, 12, 1) and masks.shape == (30, 12, 12)
    for canvas, mask in zip(canvases[..., 0], masks):
        # Exactly one digit: find where it went and which one it is.
        matches = [
            (i, y, x)
            for i in range(20)
            for y in range(7)
            for x in range(8)
            if np.array_equal(canvas[y : y + 6, x : x + 5], images[i])
            and canvas.sum() == images[i].astype(int).sum()
        ]
        assert matches, "the canvas holds one of the digits, unchanged"
        i, y, x = matches[0]
        expected = np.zeros((12, 12), np.int32)
        expected[y : y + 6, x : x + 5] = np.where(images[i] >= 100, labels[i] + 1, 0)
        np.testing.assert_array_equal(mask, expected)


def test_overlaps_take_the_brightest_stroke_and_are_deterministic(digits):
    images, labels = digits
    canvases, masks = segmentation.digit_canvases(images, labels, 50, 10, max_digits=4, seed=2)
    again = segmentation.digit_canvases(images, labels, 50, 10, max_digits=4, seed=2)
    np.testing.assert_array_equal(again[0], canvases)
    np.testing.assert_array_equal(again[1], masks)
    assert set(np.unique(masks)) <= set(range(11)) and masks.max() > 0
    ink = canvases[..., 0] >= 128
    np.testing.assert_array_equal(masks > 0, ink)  # every bright pixel labelled, nothing else


def test_bad_input_is_named(digits):
    images, labels = digits
    with pytest.raises(ValueError, match="canvas_size=4 is smaller"):
        segmentation.digit_canvases(images, labels, 2, canvas_size=4)
    with pytest.raises(ValueError, match="uint8"):
        segmentation.digit_canvases(images.astype(np.float32), labels, 2)
