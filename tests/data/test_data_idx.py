"""MNIST-family IDX reading and validation."""

import gzip
import shutil

import numpy as np
import pytest

from cnnjax.data import DataError, DataNotFoundError, idx


def test_reads_gzipped_folder(mnist_dir):
    folder, arrays = mnist_dir
    ds = idx.load_mnist_dir(folder, exact_counts=False)
    assert ds.name == "mnist" and ds.num_classes == 10 and ds.source == str(folder)
    assert ds.train.images.shape == (5, 28, 28, 1) and ds.train.images.dtype == np.uint8
    assert ds.test.labels.shape == (3,) and ds.test.labels.dtype == np.int32
    np.testing.assert_array_equal(ds.train.images[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.test.labels, arrays["t10k-labels-idx1-ubyte"])


def test_reads_raw_files_and_fashion_names(mnist_dir):
    folder, arrays = mnist_dir
    for name in idx.FILE_NAMES:
        (folder / name).write_bytes(gzip.decompress((folder / f"{name}.gz").read_bytes()))
        (folder / f"{name}.gz").unlink()
    ds = idx.load_mnist_dir(folder, name="fashion_mnist", exact_counts=False)
    np.testing.assert_array_equal(ds.test.images[..., 0], arrays["t10k-images-idx3-ubyte"])
    assert ds.class_names[0] == "T-shirt/top" and ds.name == "fashion_mnist"


def test_read_idx_generic(tmp_path, datafiles):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "f").write_bytes(datafiles.idx_bytes(array))
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "f"), array)


@pytest.mark.parametrize(
    "file, data, message",
    [
        (
            "train-images-idx3-ubyte",
            lambda f: f.idx_bytes(np.zeros((5, 28, 28)), magic=0x801),
            "expected IDX magic number 0x00000803, found 0x00000801",
        ),
        (
            "train-images-idx3-ubyte",
            lambda f: f.idx_bytes(np.zeros((5, 28, 28)), magic=0x0D03),
            "expected IDX magic number 0x00000803, found 0x00000d03",
        ),
        (
            "train-images-idx3-ubyte",
            lambda f: f.idx_bytes(np.zeros((5, 28, 28)))[:-1],
            "truncated: header dimensions \\(5, 28, 28\\) need 3920 payload bytes, found 3919",
        ),
        (
            "train-images-idx3-ubyte",
            lambda f: f.idx_bytes(np.zeros((5, 28, 28))) + b"\0",
            "trailing bytes: .* found 3921",
        ),
        (
            "train-images-idx3-ubyte",
            lambda f: f.idx_bytes(np.zeros((5, 28, 28)))[:10],
            "truncated header",
        ),
        (
            "train-images-idx3-ubyte",
            lambda f: f.idx_bytes(np.zeros((5, 32, 32))),
            "expected 28x28 images, found 32x32",
        ),
        (
            "train-labels-idx1-ubyte",
            lambda f: f.idx_bytes(np.zeros(4)),
            "expected 5 labels to match .*train-images-idx3-ubyte.gz, found 4",
        ),
        (
            "train-labels-idx1-ubyte",
            lambda f: f.idx_bytes(np.array([0, 1, 2, 10, 3])),
            r"expected labels in \[0, 10\), found 10",
        ),
    ],
)
def test_malformed_file(mnist_dir, datafiles, file, data, message):
    folder, _ = mnist_dir
    path = folder / f"{file}.gz"
    datafiles.write_gz(path, data(datafiles))
    with pytest.raises(DataError, match=message) as error:
        idx.load_mnist_dir(folder, exact_counts=False)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda gz: gz[:-8] + bytes(b ^ 0xFF for b in gz[-8:-4]) + gz[-4:],  # bad CRC
        lambda gz: gz[: len(gz) // 2],  # truncated stream
    ],
)
def test_corrupt_gzip(mnist_dir, corrupt):
    folder, _ = mnist_dir
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(DataError, match="corrupt or truncated gzip") as error:
        idx.load_mnist_dir(folder, exact_counts=False)
    assert str(path) in str(error.value)


def test_missing_file_names_it_and_how_to_supply(mnist_dir):
    folder, _ = mnist_dir
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        DataNotFoundError,
        match="missing t10k-labels-idx1-ubyte\\[.gz\\]; a mnist "
        "folder must hold all of train-images-idx3-ubyte.gz",
    ):
        idx.load_mnist_dir(folder, exact_counts=False)


def test_gz_preferred_over_raw(mnist_dir):
    folder, _ = mnist_dir
    shutil.copy(folder / "train-images-idx3-ubyte.gz", folder / "train-images-idx3-ubyte")
    (folder / "train-images-idx3-ubyte").write_bytes(b"garbage")
    assert idx.load_mnist_dir(folder, exact_counts=False).train.images.shape == (5, 28, 28, 1)


def test_tiny_copy_needs_exact_counts_off(mnist_dir):
    folder, _ = mnist_dir
    with pytest.raises(DataError) as error:
        idx.load_mnist_dir(folder)
    assert str(error.value) == (
        f"{folder / 'train-images-idx3-ubyte.gz'}: expected 60000 records (the canonical MNIST "
        "release), found 5: the file is truncated or not the official release; "
        "set dataset.exact_counts=False to accept a copy of another size"
    )


@pytest.mark.parametrize(
    "split, name, title", [("train", "mnist", "MNIST"), ("test", "fashion_mnist", "Fashion-MNIST")]
)
def test_non_canonical_count(mnist_dir, datafiles, tiny_canonical_counts, split, name, title):
    """With the canonical counts made the fixture's (5 / 3), a split one example short (images
    and labels agreeing) is an error naming its images file, unless exact_counts=False."""
    folder, arrays = mnist_dir
    assert len(idx.load_mnist_dir(folder, name).train) == 5
    images_name, labels_name = idx.SPLIT_FILES[split]
    for file in (images_name, labels_name):
        datafiles.write_gz(folder / f"{file}.gz", datafiles.idx_bytes(arrays[file][:-1]))
    expected = idx.SPLIT_SIZES[split]
    with pytest.raises(DataError) as error:
        idx.load_mnist_dir(folder, name)
    assert str(error.value).startswith(
        f"{folder / images_name}.gz: expected {expected} records (the canonical {title} "
        f"release), found {expected - 1}: "
    )
    assert len(getattr(idx.load_mnist_dir(folder, name, exact_counts=False), split)) == expected - 1
