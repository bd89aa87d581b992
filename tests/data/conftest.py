"""Writers of tiny synthetic data files in the official layouts, as fixtures.

Their record counts are not the canonical releases': readers get exact_counts=False, or the
`tiny_canonical_counts` fixture makes the tiny counts the canonical ones.
"""

import dataclasses
import gzip
import io
import pathlib
import pickle
import struct
import tarfile
import types

import numpy as np
import pytest

from cnnjax.data import cifar, idx, pickles

MNIST_TRAIN, MNIST_TEST = 5, 3
CIFAR_RECORDS = 2  # records per batch file written by release_files by default


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An unsigned-byte IDX file holding `array` (magic overridable)."""
    if magic is None:
        magic = (idx.UBYTE << 8) | array.ndim
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


class Py2Pickler(pickle._Pickler):
    """Writes protocol-2 pickles as Python 2 did for the CIFAR python releases.

    Python 3 pickles bytes at protocol 2 through the global _codecs.encode;
    Python 2 wrote its str (bytes) with the (SHORT_)BINSTRING opcodes, and
    numpy 1 named _reconstruct under numpy.core.multiarray.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_string(self, obj):
        if isinstance(obj, str):
            obj = obj.encode("latin1")
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)

    dispatch[bytes] = save_py2_string
    dispatch[str] = save_py2_string

    def save_global(self, obj, name=None):
        if obj is pickles.ALLOWED_GLOBALS[("numpy.core.multiarray", "_reconstruct")]:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def write_gz(path: pathlib.Path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data))


@pytest.fixture
def mnist_dir(tmp_path):
    """A folder of gzip'd MNIST IDX files with 5 train / 3 test examples; returns (dir, arrays)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", MNIST_TRAIN), ("test", MNIST_TEST)):
        images_name, labels_name = idx.SPLIT_FILES[split]
        arrays[images_name] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[labels_name] = rng.integers(0, 10, n, dtype=np.uint8)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, array in arrays.items():
        write_gz(folder / f"{name}.gz", idx_bytes(array))
    return folder, arrays


def _records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """Binary CIFAR records: label bytes, then the R, G and B planes."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([labels.astype(np.uint8), planes], axis=1).tobytes()


def release_files(release: cifar.Release, n: int = CIFAR_RECORDS, seed: int = 0):
    """Files of a tiny CIFAR release, n records per batch.

    Returns:
      files: release file name -> bytes.
      expected: split -> (images (N, 32, 32, 3), labels (N, number of label kinds)).
      names: one tuple of class names per label kind.
    """
    rng = np.random.default_rng(seed)
    names = tuple(
        tuple(f"class{kind.num_classes}_{i}" for i in range(kind.num_classes))
        for kind in release.labels
    )
    files, expected = {}, {}
    for split, batches in (("train", release.train), ("test", release.test)):
        split_images, split_labels = [], []
        for batch in batches:
            images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
            labels = np.stack([rng.integers(0, kind.num_classes, n) for kind in release.labels], 1)
            if release.pickled:
                content = {
                    b"batch_label": b"batch",
                    b"filenames": [b"x.png"] * n,
                    b"data": images.transpose(0, 3, 1, 2).reshape(n, -1),
                }
                content.update(
                    {
                        kind.pickle_key: [int(v) for v in labels[:, i]]
                        for i, kind in enumerate(release.labels)
                    }
                )
                files[batch] = py2_pickle(content)
            else:
                files[batch] = _records(images, labels)
            split_images.append(images)
            split_labels.append(labels)
        expected[split] = (np.concatenate(split_images), np.concatenate(split_labels))
    if release.pickled:
        files[release.meta] = py2_pickle(
            {
                kind.names_key: [name.encode() for name in kind_names]
                for kind, kind_names in zip(release.labels, names)
            }
        )
    else:
        for kind, kind_names in zip(release.labels, names):
            files[kind.names_file] = ("\n".join(kind_names) + "\n\n").encode()
    return files, expected, names


def write_release(
    root: pathlib.Path, release: cifar.Release, files: dict, archive: bool
) -> pathlib.Path:
    """Writes files as the release's .tar.gz or extracted folder under root; returns its path."""
    root.mkdir(parents=True, exist_ok=True)
    if not archive:
        folder = root / release.folder
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return folder
    path = root / release.archive
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{release.folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def tiny_canonical_counts(monkeypatch):
    """Makes the files above canonical: CIFAR_RECORDS per CIFAR batch, MNIST_TRAIN /
    MNIST_TEST IDX examples, so exact_counts=True accepts them and rejects other counts."""
    for table in ("CIFAR10_RELEASES", "CIFAR100_RELEASES"):
        releases = tuple(
            dataclasses.replace(r, train_records=CIFAR_RECORDS, test_records=CIFAR_RECORDS)
            for r in getattr(cifar, table)
        )
        monkeypatch.setattr(cifar, table, releases)
    monkeypatch.setattr(idx, "SPLIT_SIZES", {"train": MNIST_TRAIN, "test": MNIST_TEST})


@pytest.fixture
def datafiles():
    """The file writers above, for tests (conftest modules are not importable by name)."""
    return types.SimpleNamespace(
        idx_bytes=idx_bytes,
        py2_pickle=py2_pickle,
        write_gz=write_gz,
        release_files=release_files,
        write_release=write_release,
    )
