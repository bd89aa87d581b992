"""Reads the real shared copies ($CNNJAX_DATA_DIR, else /work/shared/datasets); skips if absent."""

import os
import pathlib

import numpy as np
import pytest

from cnnjax import data
from cnnjax.data import idx, locate

ROOT = pathlib.Path(os.environ.get(locate.ENV_VAR) or "/work/shared/datasets")


def test_mnist_test_split():
    folder = ROOT / "mnist"
    paths = [idx.find_idx_file(folder, name) for name in idx.SPLIT_FILES["test"]]
    if None in paths:
        pytest.skip(f"no MNIST test files in {folder}")
    split = idx.read_split(*paths)
    assert split.images.shape == (10000, 28, 28, 1) and split.images.dtype == np.uint8
    assert split.labels.shape == (10000,) and split.labels.dtype == np.int32
    assert set(np.unique(split.labels)) == set(range(10))
    assert split.labels[:5].tolist() == [7, 2, 1, 0, 4]  # the canonical t10k order


def test_mnist_has_the_canonical_counts():
    """data.load's default exact_counts=True accepts the official files."""
    if None in [idx.find_idx_file(ROOT / "mnist", name) for name in idx.FILE_NAMES]:
        pytest.skip(f"no MNIST files in {ROOT / 'mnist'}")
    ds = data.load("mnist", data_dir=ROOT)
    assert (len(ds.train), len(ds.test)) == (60000, 10000)


def test_cifar10():
    """About 2 s: one streaming pass over the 173 MB archive; exact_counts=True (the default)."""
    if not (ROOT / "cifar10").is_dir():
        pytest.skip(f"no {ROOT / 'cifar10'}")
    ds = data.load("cifar10", data_dir=ROOT)
    assert ds.train.images.shape == (50000, 32, 32, 3) and ds.test.images.shape == (
        10000,
        32,
        32,
        3,
    )
    assert ds.train.images.dtype == np.uint8 and ds.test.labels.dtype == np.int32
    assert np.bincount(ds.train.labels).tolist() == [5000] * 10
    assert np.bincount(ds.test.labels).tolist() == [1000] * 10
    assert ds.class_names == (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )
