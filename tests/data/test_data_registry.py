"""Dataset registry and where data is found: explicit data_dir, $CNNJAX_DATA_DIR, defaults, TFDS."""

import pathlib
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from cnnjax import data
from cnnjax.data import cifar, locate, tfds


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No env var, default roots inside tmp_path, and no TFDS, unless a test says otherwise."""
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    monkeypatch.setattr(locate, "DEFAULT_ROOTS", (str(tmp_path / "default"),))
    monkeypatch.setattr(tfds, "available", lambda: False)


def _copy_mnist(mnist_dir, destination):
    shutil.copytree(mnist_dir[0], destination)
    return destination


def test_names():
    assert (
        data.list_datasets()
        == list(data.DATASETS)
        == ["digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "cifar100_coarse", "folder",
           "tfds"]
    )


def test_unknown_name_lists_valid_names():
    with pytest.raises(
        data.DataError,
        match="unknown dataset 'imagenet'; expected one of digits, "
        "mnist, fashion_mnist, cifar10, cifar100, cifar100_coarse",
    ):
        data.load("imagenet")


def test_explicit_dir_beats_env_var(tmp_path, mnist_dir, monkeypatch):
    _copy_mnist(mnist_dir, tmp_path / "env" / "mnist")
    explicit = _copy_mnist(mnist_dir, tmp_path / "explicit" / "mnist")
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "env"))
    ds = data.load("mnist", data_dir=tmp_path / "explicit", exact_counts=False)
    assert ds.source == str(explicit)


def test_env_var_used_without_dir(tmp_path, mnist_dir, monkeypatch):
    found = _copy_mnist(mnist_dir, tmp_path / "env" / "mnist")
    _copy_mnist(mnist_dir, tmp_path / "default" / "mnist")
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "env"))
    ds = data.load("mnist", exact_counts=False)
    assert ds.source == str(found) and ds.train.images.shape == (5, 28, 28, 1)


def test_default_roots_searched_last(tmp_path, mnist_dir, monkeypatch):
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "env-without-data"))
    found = _copy_mnist(mnist_dir, tmp_path / "default" / "fashion-mnist")
    assert data.load("fashion_mnist", exact_counts=False).source == str(found)


def test_explicit_dir_without_data_is_an_error(tmp_path, mnist_dir, monkeypatch):
    _copy_mnist(mnist_dir, tmp_path / "env" / "mnist")
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(data.DataNotFoundError) as error:
        data.load("mnist", data_dir=tmp_path / "empty")
    message = str(error.value)
    assert f"{tmp_path / 'empty' / 'mnist'} (data_dir)" in message
    assert f"{tmp_path / 'empty'} (data_dir)" in message
    assert str(tmp_path / "env") not in message
    assert (
        "pass --data_dir=DIR or set CNNJAX_DATA_DIR=DIR, where DIR holds "
        "mnist/train-images-idx3-ubyte.gz"
    ) in message


def test_not_found_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as error:
        data.load("cifar10")
    message = str(error.value)
    for place in (
        f"{tmp_path / 'env' / 'cifar10'} ($CNNJAX_DATA_DIR)",
        f"{tmp_path / 'env' / 'cifar-10'} ($CNNJAX_DATA_DIR)",
        f"{tmp_path / 'default' / 'cifar10'} (default)",
        f"{tmp_path / 'default'} (default)",
    ):
        assert place in message
    assert (
        "cifar10/cifar-10-binary.tar.gz (or cifar-10-python.tar.gz, or either extracted)" in message
    )


def test_idx_files_directly_in_a_root_need_explicit_dir(tmp_path, mnist_dir, monkeypatch):
    """MNIST and Fashion-MNIST share file names, so a bare root is trusted only when explicit."""
    monkeypatch.setenv(locate.ENV_VAR, str(mnist_dir[0]))
    with pytest.raises(data.DataNotFoundError):
        data.load("fashion_mnist")
    assert data.load("mnist", data_dir=mnist_dir[0], exact_counts=False).source == str(mnist_dir[0])


@pytest.mark.parametrize("archive", [True, False], ids=["archive", "folder"])
def test_cifar_release_found_in_root_alias_or_as_data_dir(
    tmp_path, datafiles, monkeypatch, archive
):
    release = cifar.CIFAR100_RELEASES[0]
    files, _, _ = datafiles.release_files(release)
    in_root = datafiles.write_release(tmp_path / "env", release, files, archive)
    in_alias = datafiles.write_release(tmp_path / "explicit" / "cifar-100", release, files, archive)
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "env"))
    assert data.load("cifar100_coarse", exact_counts=False).source == str(in_root)
    ds = data.load("cifar100", data_dir=tmp_path / "explicit", exact_counts=False)
    assert ds.source == str(in_alias)
    extracted_or_archive_folder = in_alias.parent if archive else in_alias
    ds = data.load("cifar100", data_dir=extracted_or_archive_folder, exact_counts=False)
    assert ds.num_classes == 100


def _fake_tfds(calls):
    def load(name, split, batch_size, with_info, download):
        calls.append((name, split, batch_size, with_info, download))
        batch = {
            "image": np.zeros((2, 32, 32, 3), np.uint8),
            "label": np.array([3, 99]),
            "coarse_label": np.array([1, 19]),
        }
        info = types.SimpleNamespace(
            features={
                "label": types.SimpleNamespace(names=[f"f{i}" for i in range(100)]),
                "coarse_label": types.SimpleNamespace(names=[f"c{i}" for i in range(20)]),
            }
        )
        return (batch, dict(batch)), info

    return types.SimpleNamespace(load=load, as_numpy=lambda tree: tree)


def test_tfds_fallback_only_when_nothing_found(tmp_path, datafiles, monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _fake_tfds(calls))
    monkeypatch.setattr(tfds, "available", lambda: True)
    ds = data.load("cifar100_coarse")
    assert calls == [("cifar100", ["train", "test"], -1, True, False)]
    assert (
        ds.source == "tfds:cifar100" and ds.num_classes == 20 and ds.test.labels.tolist() == [1, 19]
    )
    with pytest.raises(data.DataNotFoundError):
        data.load("cifar100", data_dir=tmp_path / "empty")
    release = cifar.CIFAR100_RELEASES[0]
    files, _, _ = datafiles.release_files(release)
    datafiles.write_release(tmp_path / "default" / "cifar100", release, files, archive=True)
    assert data.load("cifar100", exact_counts=False).source.endswith("cifar-100-binary.tar.gz")
    assert len(calls) == 1


def test_tfds_failure_keeps_the_places_looked(monkeypatch):
    def failing_load(*args, **kwargs):
        raise AssertionError("Dataset mnist: could not find data")

    monkeypatch.setitem(
        sys.modules, "tensorflow_datasets", types.SimpleNamespace(load=failing_load)
    )
    monkeypatch.setattr(tfds, "available", lambda: True)
    with pytest.raises(
        data.DataNotFoundError,
        match="(?s)Looked for .*--data_dir=DIR.*tfds:mnist: not available .*tfds build mnist",
    ):
        data.load("mnist")


def test_import_is_light():
    code = (
        "import sys, cnnjax.data; heavy = {'tensorflow', 'tensorflow_datasets', 'sklearn'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=pathlib.Path(data.__file__).parents[2],
    )
    assert result.stdout.strip() == "[]"


def test_split_and_dataset_validate():
    images, labels = np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1], np.int32)
    with pytest.raises(data.DataError, match="Split.images must be"):
        data.Split(images=images.astype(np.float32), labels=labels)
    with pytest.raises(data.DataError, match="Split.labels must be"):
        data.Split(images=images, labels=labels[:1])
    split = data.Split(images=images, labels=labels)
    with pytest.raises(data.DataError, match=r"labels must lie in \[0, 1\), found \[0, 1\]"):
        data.Dataset(name="x", train=split, test=split, class_names=("a",), source="here")


def test_exact_counts_reaches_the_readers(tmp_path, mnist_dir, datafiles):
    """data.load checks the canonical counts by default; exact_counts=False accepts tiny copies."""
    release = cifar.CIFAR10_RELEASES[1]
    files, _, _ = datafiles.release_files(release)
    datafiles.write_release(tmp_path / "root" / "cifar10", release, files, archive=True)
    _copy_mnist(mnist_dir, tmp_path / "root" / "mnist")
    for name, expected in (("mnist", 60000), ("cifar10", 10000)):
        with pytest.raises(data.DataError, match=f"expected {expected} records .* found"):
            data.load(name, data_dir=tmp_path / "root")
        assert len(data.load(name, data_dir=tmp_path / "root", exact_counts=False).test) > 0
