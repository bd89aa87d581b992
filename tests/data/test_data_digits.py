"""scikit-learn digits: shapes, dtypes, scaling and a fixed stratified split."""

import numpy as np
import pytest
from sklearn import datasets

from cnnjax import data


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def test_shapes_and_dtypes(digits):
    assert digits.name == "digits" and digits.source == "sklearn"
    assert digits.class_names == tuple("0123456789") and digits.num_classes == 10
    assert digits.train.images.shape == (1437, 8, 8, 1) and digits.test.images.shape == (
        360,
        8,
        8,
        1,
    )
    assert digits.train.images.dtype == np.uint8 and digits.train.labels.dtype == np.int32
    assert digits.train.images.min() == 0 and digits.train.images.max() == 255


def _examples(images, labels) -> list[bytes]:
    """Each (image, label) as bytes, sorted: compares sets of examples regardless of order."""
    return sorted(bytes([label]) + image.tobytes() for image, label in zip(images, labels))


def test_scaling_and_split_cover_every_image_once(digits):
    bunch = datasets.load_digits()
    expected = np.round(bunch.images * 255 / 16).astype(np.uint8)
    found = _examples(
        np.concatenate([digits.train.images, digits.test.images])[..., 0],
        np.concatenate([digits.train.labels, digits.test.labels]),
    )
    assert found == _examples(expected, bunch.target)


def test_split_is_stratified_and_deterministic(digits):
    assert set(np.bincount(digits.test.labels, minlength=10)) <= {35, 36, 37}
    again = data.load("digits", data_dir="/ignored")
    np.testing.assert_array_equal(again.test.images, digits.test.images)
    np.testing.assert_array_equal(again.train.labels, digits.train.labels)
