"""The streaming input pipeline (dataset.pipeline=stream): what each process reads, the
evaluation batches, the resume position, and runs equal to the in-memory pipeline's."""

import importlib
import os
import re
import threading

import numpy as np
import pytest

from cnnjax import config as config_lib
from cnnjax import data, pipeline
from cnnjax import tasks as tasks_lib
from cnnjax.data import lazy_images
from cnnjax.train import loop, stream


class Recording:
    """(N, 2, 2, 1) uint8 rows whose pixels are their index mod 256, recording each row read."""

    def __init__(self, n):
        self.shape, self.dtype, self.read = (n, 2, 2, 1), np.dtype(np.uint8), []
        self._lock = threading.Lock()

    def __getitem__(self, row):
        with self._lock:
            self.read.append(int(row))
        return np.full((2, 2, 1), row % 256, np.uint8)


def _stream(images, labels, process=0, processes=1):
    return stream.Stream(images, labels, 3, 2, None, process, processes)


@pytest.mark.parametrize("replicas", [1, 3])
def test_each_process_reads_only_its_half_of_every_global_batch(replicas):
    n, batch, steps = 40, 8, 4
    rng = np.random.default_rng(0)
    perm = np.stack([rng.permutation(n) for _ in range(replicas)])
    perm = perm[0] if replicas == 1 else perm
    labels = np.arange(n, dtype=np.int32)
    halves = []
    for process in (0, 1):
        images = Recording(n)
        batches = list(_stream(images, labels, process, 2).epoch(perm, steps, batch))
        assert len(batches) == steps
        rows = perm.reshape(replicas, n)[:, : steps * batch].reshape(replicas, steps, 2, 4)
        mine = rows[:, :, process]  # (K, steps, 4): this process's positions
        assert sorted(images.read) == sorted(mine.reshape(-1).tolist())
        for i, (x, y) in enumerate(batches):
            want = mine[:, i] if replicas > 1 else mine[0, i]
            np.testing.assert_array_equal(np.asarray(y), want)
            np.testing.assert_array_equal(np.asarray(x)[..., 0, 0, 0], want % 256)
        halves.append(batches)
    for i in range(steps):  # the two halves side by side are the global batch
        joined = np.concatenate([np.asarray(halves[p][i][1]) for p in (0, 1)], axis=-1)
        rows = perm.reshape(replicas, n)[:, i * batch : (i + 1) * batch]
        np.testing.assert_array_equal(joined, rows if replicas > 1 else rows[0])


@pytest.mark.parametrize("processes", [1, 2])
def test_evaluation_batches_are_padded_batches(processes):
    n, batch = 23, 8
    images = np.random.default_rng(1).integers(0, 255, (n, 3, 3, 2), dtype=np.uint8)
    split = data.Split(images, np.arange(n, dtype=np.int32))
    want = pipeline.padded_batches(split, batch)
    parts = [list(_stream(images, split.labels, p, processes).evaluation(batch))
             for p in range(processes)]  # fmt: skip
    assert all(len(part) == 3 for part in parts)
    for b in range(3):
        for a in range(3):  # images, labels, mask
            joined = np.concatenate([np.asarray(part[b][a]) for part in parts])
            np.testing.assert_array_equal(joined, want[a][b])


def test_a_resumed_epoch_reads_the_rest_of_it():
    n, batch, steps = 30, 5, 6
    perm = np.random.default_rng(2).permutation(n)
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1)
    labels = np.arange(n, dtype=np.int32)
    whole = [np.asarray(y) for _, y in _stream(images, labels).epoch(perm, steps, batch)]
    batches = _stream(images, labels).epoch(perm, steps, batch)
    next(batches), next(batches)
    assert batches.position == {"next_index": 2}
    rest = _stream(images, labels).epoch(perm, steps, batch, state=batches.position)
    np.testing.assert_array_equal(np.stack([np.asarray(y) for _, y in rest]), whole[2:])


def test_lazy_images_decode_as_the_folder_and_keep_exact_sums(digits_folder):
    memory = data.load_folder(digits_folder, data.FolderOptions(image_size=8, cache_dir="off"))
    lazy = data.load_folder(
        digits_folder, data.FolderOptions(image_size=8, cache_dir="off", lazy=True)
    )
    assert isinstance(lazy.train.images, lazy_images.LazyImages)
    assert lazy.train.images.shape == memory.train.images.shape
    np.testing.assert_array_equal(lazy.train.labels, memory.train.labels)
    rows = np.array([5, 0, 17])
    np.testing.assert_array_equal(np.asarray(lazy.test.images[rows]), memory.test.images[rows])
    assert lazy.test.images[3].shape == (8, 8, 1)
    view = lazy.train.images[rows]
    assert pipeline.Normalizer.fit(view, "standardize") == pipeline.Normalizer.fit(
        memory.train.images[rows], "standardize"
    )


def _config(make_config, pipeline_name, **overrides):
    c = make_config(dataset__pipeline=pipeline_name, **overrides)
    c.dataset.augment.crop_padding = 1  # on the device: both pipelines draw the same
    return c


def _same_run(a, b):
    for key in ("test_loss", "test_accuracy", "final_train_loss", "best_val_accuracy"):
        assert a[key] == b[key], key


@pytest.mark.parametrize(
    "overrides",
    [{}, {"num_seeds": 3, "dataset__train_size": 600, "dataset__subset_per_seed": True}],
    ids=["one_seed", "three_seeds_own_subsets"],
)
def test_a_streamed_run_equals_the_in_memory_run(tmp_path, make_config, overrides):
    runs = {
        p: loop.run(_config(make_config, p, **overrides), str(tmp_path / p), progress=False)
        for p in ("memory", "stream")
    }
    assert runs["memory"]["pipeline"] == "memory" and runs["stream"]["pipeline"] == "stream"
    _same_run(runs["stream"], runs["memory"])


def test_a_streamed_folder_equals_the_decoded_folder_and_auto_streams_above_the_budget(
    tmp_path, make_config, digits_folder
):
    folder = dict(
        dataset__name="folder",
        dataset__data_dir=digits_folder,
        dataset__image_size=8,
        dataset__cache_dir=str(tmp_path / "cache"),
    )
    memory = loop.run(_config(make_config, "memory", **folder), str(tmp_path / "m"))
    # the digits folder decodes to 1797 * 64 bytes: a budget of 0.1 MB streams it
    auto = _config(make_config, "auto", dataset__memory_budget_mb=0.1, **folder)
    streamed = loop.run(auto, str(tmp_path / "s"))
    assert memory["pipeline"] == "memory" and streamed["pipeline"] == "stream"
    assert streamed["decoded_mb"] == pytest.approx(1797 * 64 / 2**20, abs=1e-3)
    _same_run(streamed, memory)
    assert os.path.isfile(next((tmp_path / "cache").glob("*-checked.npz")))


def test_a_file_broken_after_the_check_is_named_when_it_is_read(tmp_path, digits_folder):
    import shutil

    root = tmp_path / "digits"
    shutil.copytree(digits_folder, root)
    options = data.FolderOptions(image_size=8, cache_dir=str(tmp_path / "cache"), lazy=True)
    ds = data.load_folder(str(root), options)
    broken = ds.train.images.path(0)
    with open(broken, "r+b") as f:
        f.truncate(20)
    with pytest.raises(lazy_images.UnreadableImage, match=re.escape(broken)):
        ds.train.images[0]


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"dataset__pipeline": "disk"}, "dataset.pipeline must be one of auto, memory, stream"),
        ({"dataset__stream_threads": 0}, "dataset.stream_threads must be an integer >= 1"),
        (
            {"dataset__pipeline": "stream", "dataset__permute_pixels": True},
            "dataset.permute_pixels permutes the images in memory",
        ),
    ],
)
def test_bad_streaming_fields_are_refused_by_name(make_config, overrides, message):
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(make_config(**overrides))


@pytest.mark.parametrize("task", sorted(set(tasks_lib.list_tasks()) - {"classification"}))
def test_every_task_that_builds_its_data_in_memory_refuses_to_stream(task):
    c = importlib.import_module(f"experiments.configs.{task}").get_config("quick")
    c.dataset.pipeline = "stream"
    assert not tasks_lib.of(c).streams
    with pytest.raises(config_lib.ConfigError, match=f"task '{task}' builds its data in memory"):
        config_lib.validate(c)


def test_every_streaming_task_is_classification():
    assert [n for n in tasks_lib.list_tasks() if tasks_lib.get(n).streams] == ["classification"]
