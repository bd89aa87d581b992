"""A tiny synthetic MNIST in the official gzip'd IDX layout, for the sweeps' tests."""

import gzip
import struct

import numpy as np
import pytest


def _write_idx(path, array):
    header = struct.pack(f">I{array.ndim}I", (0x08 << 8) | array.ndim, *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture(scope="session")
def tiny_mnist_root(tmp_path_factory):
    """A data root holding mnist/ with 300 train and 100 test 28x28 images whose class is
    the brightest of ten horizontal bands (learnable, and meaningless to shuffle back)."""
    root = tmp_path_factory.mktemp("data")
    folder = root / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 300), ("t10k", 100)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28))
        for i, label in enumerate(labels):
            images[i, 2 * label + 4 : 2 * label + 6] += 150
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return str(root)
