"""Tiny synthetic MNIST, Fashion-MNIST and CIFAR-10 in their official layouts, for the sweeps."""

import gzip
import struct

import numpy as np
import pytest

CIFAR_CLASSES = "airplane automobile bird cat deer dog frog horse ship truck".split()


def _write_idx(path, array):
    header = struct.pack(f">I{array.ndim}I", (0x08 << 8) | array.ndim, *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def _band_images(rng, n, size, channels):
    """n images (n, size, size, channels) whose class is the brightest of ten horizontal bands
    (learnable, and meaningless to shuffle back), and their labels."""
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 60, (n, size, size, channels))
    for i, label in enumerate(labels):
        images[i, 2 * label + 4 : 2 * label + 6] += 150
    return images, labels


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory):
    """A data root holding mnist/ and fashion_mnist/ (IDX: 300 train, 100 test 28x28 images)
    and cifar10/cifar-10-batches-bin/ (binary records: 5 x 60 train, 100 test 32x32x3).
    Not the canonical releases' sizes: readers need exact_counts=False."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for name in ("mnist", "fashion_mnist"):
        folder = root / name
        folder.mkdir()
        for prefix, n in (("train", 300), ("t10k", 100)):
            images, labels = _band_images(rng, n, 28, 1)
            _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images[..., 0])
            _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    folder = root / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    files = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name, n in zip(files, [60] * 5 + [100]):
        images, labels = _band_images(rng, n, 32, 3)
        planes = images.transpose(0, 3, 1, 2).reshape(n, -1)  # R plane, G plane, B plane
        records = np.concatenate([labels[:, None], planes], axis=1).astype(np.uint8)
        (folder / name).write_bytes(records.tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR_CLASSES) + "\n")
    return str(root)
