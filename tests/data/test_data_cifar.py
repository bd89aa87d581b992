"""CIFAR-10/100 reading, binary and python releases, archive and extracted folder."""

import numpy as np
import pytest

from cnnjax.data import DataError, DataNotFoundError, cifar

RELEASES = {
    (set_name, release.pickled): release
    for set_name, releases in (
        ("cifar10", cifar.CIFAR10_RELEASES),
        ("cifar100", cifar.CIFAR100_RELEASES),
    )
    for release in releases
}


def _load(set_name, path, label_mode, exact_counts=False):
    """Reads a release; by default without the canonical-count check (the files are tiny)."""
    if set_name == "cifar10":
        return cifar.load_cifar10(path, exact_counts=exact_counts)
    return cifar.load_cifar100(path, label_mode=label_mode, exact_counts=exact_counts)


@pytest.mark.parametrize(
    "set_name, label_mode, kind_index, name",
    [
        ("cifar10", None, 0, "cifar10"),
        ("cifar100", "fine", 1, "cifar100"),
        ("cifar100", "coarse", 0, "cifar100_coarse"),
    ],
)
@pytest.mark.parametrize("pickled", [False, True], ids=["binary", "python"])
@pytest.mark.parametrize("archive", [True, False], ids=["archive", "folder"])
def test_loads_release(
    tmp_path, datafiles, set_name, label_mode, kind_index, name, pickled, archive
):
    release = RELEASES[set_name, pickled]
    files, expected, names = datafiles.release_files(release)
    path = datafiles.write_release(tmp_path, release, files, archive)
    ds = _load(set_name, path, label_mode)
    assert ds.name == name and ds.source == str(path)
    assert ds.class_names == names[kind_index]
    for split in (ds.train, ds.test):
        assert split.images.dtype == np.uint8 and split.labels.dtype == np.int32
    assert ds.train.images.shape == (2 * len(release.train), 32, 32, 3)
    for split, (images, labels) in zip((ds.train, ds.test), (expected["train"], expected["test"])):
        np.testing.assert_array_equal(split.images, images)
        np.testing.assert_array_equal(split.labels, labels[:, kind_index])


def test_channels_are_planes(tmp_path, datafiles):
    """Pixel bytes are the R, G, B planes: a record of 1024 R bytes of 1 etc. is NHWC (1, 2, 3)."""
    release = RELEASES["cifar10", False]
    files, _, _ = datafiles.release_files(release, n=1)
    files["test_batch.bin"] = bytes([7]) + bytes([1] * 1024 + [2] * 1024 + [3] * 1024)
    path = datafiles.write_release(tmp_path, release, files, archive=False)
    ds = cifar.load_cifar10(path, exact_counts=False)
    assert ds.test.labels.tolist() == [7]
    np.testing.assert_array_equal(ds.test.images[0, 5, 9], [1, 2, 3])


@pytest.mark.parametrize("archive", [True, False], ids=["archive", "folder"])
def test_missing_member(tmp_path, datafiles, archive):
    release = RELEASES["cifar10", False]
    files, _, _ = datafiles.release_files(release)
    del files["data_batch_3.bin"]
    path = datafiles.write_release(tmp_path, release, files, archive)
    member = "cifar-10-batches-bin/data_batch_3.bin" if archive else "data_batch_3.bin"
    with pytest.raises(
        DataNotFoundError,
        match=f"{member}: missing from the "
        f"{'archive' if archive else 'folder'}; the release cifar-10-binary.tar.gz",
    ):
        cifar.load_cifar10(path, exact_counts=False)


def test_missing_class_names(tmp_path, datafiles):
    release = RELEASES["cifar100", True]
    files, _, _ = datafiles.release_files(release)
    del files["meta"]
    path = datafiles.write_release(tmp_path, release, files, archive=True)
    with pytest.raises(DataNotFoundError, match="cifar-100-python/meta: missing"):
        cifar.load_cifar100(path, exact_counts=False)


@pytest.mark.parametrize(
    "set_name, file, corrupt, message",
    [
        (
            "cifar10",
            "data_batch_2.bin",
            lambda data: data[:-1],
            "expected a whole, non-zero number of 3073-byte records .* found 6145 bytes",
        ),
        (
            "cifar10",
            "test_batch.bin",
            lambda data: b"",
            "expected a whole, non-zero number of 3073-byte records .* found 0 bytes",
        ),
        (
            "cifar10",
            "test_batch.bin",
            lambda data: bytes([10]) + data[1:],
            r"expected labels in \[0, 10\), found \[\d+, 10\]",
        ),
        (
            "cifar100",
            "train.bin",
            lambda data: bytes([0, 100]) + data[2:],
            r"expected labels in \[0, 100\), found \[\d+, 100\]",
        ),
        (
            "cifar100",
            "test.bin",
            lambda data: bytes([20]) + data[1:],
            r"expected labels in \[0, 20\), found \[\d+, 20\]",
        ),
        (
            "cifar10",
            "batches.meta.txt",
            lambda data: b"cat\ndog\n",
            "expected 10 class names, found 2",
        ),
    ],
)
def test_malformed_binary(tmp_path, datafiles, set_name, file, corrupt, message):
    release = RELEASES[set_name, False]
    files, _, _ = datafiles.release_files(release)
    files[file] = corrupt(files[file])
    path = datafiles.write_release(tmp_path, release, files, archive=True)
    # A fine-label run still validates coarse labels, and vice versa.
    with pytest.raises(DataError, match=message) as error:
        _load(set_name, path, "fine")
    assert f"{path}:{release.folder}/{file}" in str(error.value)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda batch: batch.update({b"labels": [0, 10]}), r"expected labels in \[0, 10\)"),
        (
            lambda batch: batch.update({b"labels": [0]}),
            "expected b'labels' to hold 2 integer labels",
        ),
        (
            lambda batch: batch.pop(b"labels"),
            "expected b'labels' to hold 2 integer labels, found a NoneType",
        ),
        (
            lambda batch: batch.update({b"data": batch[b"data"][:, :100]}),
            r"expected b'data' to be an \(N, 3072\) uint8 array",
        ),
    ],
)
def test_malformed_pickled_batch(tmp_path, datafiles, edit, message):
    release = RELEASES["cifar10", True]
    files, expected, _ = datafiles.release_files(release)
    images, labels = expected["test"]
    batch = {b"data": images.transpose(0, 3, 1, 2).reshape(2, -1), b"labels": labels[:, 0].tolist()}
    edit(batch)
    files["test_batch"] = datafiles.py2_pickle(batch)
    path = datafiles.write_release(tmp_path, release, files, archive=False)
    with pytest.raises(DataError, match=message) as error:
        cifar.load_cifar10(path, exact_counts=False)
    assert str(path / "test_batch") in str(error.value)


def test_unrecognised_inputs(tmp_path, datafiles):
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        DataNotFoundError, match="expected an extracted CIFAR folder holding data_batch_1.bin"
    ):
        cifar.load_cifar10(tmp_path / "empty")
    release = RELEASES["cifar100", False]
    files, _, _ = datafiles.release_files(release)
    archive = datafiles.write_release(tmp_path, release, files, archive=True)
    with pytest.raises(
        DataError, match="expected an archive with members cifar-10-batches-bin/data_batch_1.bin or"
    ):
        cifar.load_cifar10(archive)
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(DataError, match="junk.tar.gz: cannot read as a tar archive"):
        cifar.load_cifar10(tmp_path / "junk.tar.gz")
    with pytest.raises(DataError, match="label_mode must be one of"):
        cifar.load_cifar100(archive, label_mode="medium")


def test_truncated_archive(tmp_path, datafiles):
    release = RELEASES["cifar10", False]
    files, _, _ = datafiles.release_files(release)
    path = datafiles.write_release(tmp_path, release, files, archive=True)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="cannot read as a tar archive"):
        cifar.load_cifar10(path)


def test_canonical_counts():
    """The tables hold the official releases' sizes: 50000 train and 10000 test records."""
    for release in cifar.CIFAR10_RELEASES + cifar.CIFAR100_RELEASES:
        assert release.train_records * len(release.train) == 50000
        assert release.test_records * len(release.test) == 10000


def test_batch_short_of_the_canonical_count(tmp_path, datafiles):
    """The issue's case: data_batch_2.bin shortened by 5 whole records, after a full batch."""
    release = RELEASES["cifar10", False]
    files, _, _ = datafiles.release_files(release)
    files["data_batch_1.bin"] = bytes(10000 * 3073)
    files["data_batch_2.bin"] = bytes(9995 * 3073)
    path = datafiles.write_release(tmp_path, release, files, archive=False)
    message = (
        f"{path / 'data_batch_2.bin'}: expected 10000 records (the canonical CIFAR-10 release), "
        "found 9995: the file is truncated or not the official release; "
        "set dataset.exact_counts=False to accept a copy of another size"
    )
    with pytest.raises(DataError) as error:
        cifar.load_cifar10(path)
    assert str(error.value) == message
    assert len(cifar.load_cifar10(path, exact_counts=False).train) == 10000 + 9995 + 3 * 2


@pytest.mark.parametrize(
    "set_name, pickled, file, title",
    [
        ("cifar10", False, "test_batch.bin", "CIFAR-10"),
        ("cifar10", True, "data_batch_3", "CIFAR-10"),
        ("cifar100", False, "train.bin", "CIFAR-100"),
        ("cifar100", True, "train", "CIFAR-100"),
    ],
)
@pytest.mark.parametrize("archive", [True, False], ids=["archive", "folder"])
def test_non_canonical_count(
    tmp_path, datafiles, tiny_canonical_counts, set_name, pickled, file, title, archive
):
    """With the canonical count made 2, a 2-record release loads and a 3-record batch does not
    (unless exact_counts=False); the error names the file and both counts."""
    release = RELEASES[set_name, pickled]
    files, _, _ = datafiles.release_files(release)
    canonical = datafiles.write_release(tmp_path / "canonical", release, files, archive)
    assert len(_load(set_name, canonical, "fine", exact_counts=True).test) == 2 * len(release.test)
    files[file] = datafiles.release_files(release, n=3, seed=1)[0][file]
    path = datafiles.write_release(tmp_path / "other", release, files, archive)
    where = f"{path}:{release.folder}/{file}" if archive else str(path / file)
    with pytest.raises(DataError) as error:
        _load(set_name, path, "fine", exact_counts=True)
    assert str(error.value).startswith(
        f"{where}: expected 2 records (the canonical {title} release), found 3: "
    )
    assert "set dataset.exact_counts=False" in str(error.value)
    ds = _load(set_name, path, "fine", exact_counts=False)
    assert len(ds.train) + len(ds.test) == 2 * len(release.train + release.test) + 1
