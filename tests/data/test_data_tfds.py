"""TFDS sets by name (dataset.name=tfds): the config fields, the refusals, the rows read by index
(a stand-in data source here: lists of dicts), their resizing, the check's sums and caches, and
runs that stream equal to runs from memory. The tests at the end build a real (tiny) TFDS set
and need tensorflow_datasets with TensorFlow (skipped without)."""

import dataclasses
import io
import re

import numpy as np
import pytest
from PIL import Image

from cnnjax import config as config_lib
from cnnjax import data, pipeline
from cnnjax.data import images, lazy_images, tfds, tfds_open
from cnnjax.train import data_setup, loop

NAMES = tuple(f"digit {i}" for i in range(10))


def digit_rows(n=None, channels=1, encoded=False):
    """The embedded digits as TFDS-like rows, {'image': (8a, 8b, C) uint8, 'label': int}, each
    upscaled by its own factors a, b in {1, 2, 3} (so sizes and aspect ratios vary); encoded:
    the image as PNG bytes (what the real data source gives with decoding skipped)."""
    ds = data.load("digits")
    pixels = np.concatenate([ds.train.images, ds.test.images])
    labels = np.concatenate([ds.train.labels, ds.test.labels])
    rng = np.random.default_rng(0)
    rows = []
    for image, label in list(zip(pixels, labels))[:n]:
        a, b = rng.integers(1, 4, 2)
        big = np.kron(image, np.ones((a, b, 1), np.uint8))
        big = np.repeat(big, channels, -1) if channels == 3 else big
        if encoded:
            buffer = io.BytesIO()
            Image.fromarray(big[..., 0] if channels == 1 else big).save(buffer, "PNG")
            big = buffer.getvalue()
        rows.append({"image": big, "label": int(label)})
    return rows


class Rows(list):
    """A random-access data source that counts the rows read."""

    reads = 0

    def __getitem__(self, i):
        Rows.reads += 1
        return list.__getitem__(self, i)


def opened(splits, channels=1, labels=None, name="fake_digits/1.0.0"):
    """An Opened TFDS set over lists of rows (splits: name -> rows)."""
    splits = {k: Rows(v) for k, v in splits.items()}
    return tfds.Opened(
        name=name,
        data_dir="/nowhere/fake_digits/1.0.0",
        splits=tuple(splits),
        images={"image": channels},
        labels={"label": NAMES} if labels is None else labels,
        rows=lambda split: splits[split],
    )


@pytest.fixture(scope="module")
def digits_splits():
    rows = digit_rows()
    return {"train": rows[:1497], "test": rows[1497:]}


@pytest.fixture
def fake_tfds(monkeypatch, digits_splits):
    """TFDS replaced by the digits rows (train 1497, test 300): what `open_dataset` returns."""
    fake = opened(digits_splits)
    monkeypatch.setattr(tfds, "open_dataset", lambda options: fake)
    return fake


def options(tmp_path, **kw):
    return tfds.TfdsOptions(
        **{"name": "fake_digits", "image_size": 8, "cache_dir": str(tmp_path / "cache"), **kw}
    )


# --- config fields ---


def tfds_config(make_config, **overrides):
    fields = {"dataset__name": "tfds", "dataset__tfds_name": "fake_digits", **overrides}
    return make_config(**fields)


def test_the_fields_validate_and_their_defaults(make_config):
    c = config_lib.base_config()
    d = c.dataset
    assert (d.tfds_name, d.tfds_data_dir, d.tfds_download) == ("", "", False)
    assert (d.tfds_train_split, d.tfds_test_split, d.tfds_val_split) == ("train", "", "")
    assert d.tfds_label_key == "label" and "tfds" in data.DATASETS
    config_lib.validate(tfds_config(make_config))
    config_lib.validate(
        tfds_config(make_config, dataset__val_size=0, dataset__tfds_val_split="validation")
    )


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"dataset__tfds_name": ""}, "dataset.tfds_name: dataset.name='tfds' needs a Tensor"),
        ({"dataset__tfds_label_key": ""}, "dataset.tfds_label_key must be a feature name"),
        ({"dataset__tfds_train_split": " "}, "dataset.tfds_train_split: the training split"),
        (
            {"dataset__tfds_val_split": "validation"},  # tiny_config holds out val_size=100
            "dataset.val_size=100 and dataset.tfds_val_split='validation' both choose",
        ),
        (
            {"dataset__val_size": 0, "dataset__tfds_val_split": "test",
             "dataset__tfds_test_split": "test"},
            "dataset.tfds_val_split='test' is also dataset.tfds_test_split",
        ),
        (
            {"dataset__val_size": 0, "dataset__tfds_val_split": "train"},
            "dataset.tfds_val_split='train' is also dataset.tfds_train_split",
        ),
        ({"dataset__tfds_test_split": "train"}, "dataset.tfds_test_split='train' is also"),
    ],
)  # fmt: skip
def test_bad_tfds_fields_are_refused_by_name(make_config, overrides, message):
    with pytest.raises(config_lib.ConfigError, match=re.escape(message)):
        config_lib.validate(tfds_config(make_config, **overrides))


def test_a_tfds_name_without_the_tfds_dataset_is_refused(make_config):
    with pytest.raises(config_lib.ConfigError, match="read only with dataset.name='tfds'"):
        config_lib.validate(make_config(dataset__tfds_name="cifar10"))


def test_without_tensorflow_datasets_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(tfds_open, "available", lambda: False)
    with pytest.raises(data.DataError, match=re.escape("pip install -e '.[tfds]'")):
        data.load("tfds", tfds_options=options(tmp_path))
    with pytest.raises(data.DataError, match="needs tfds_options"):
        data.load("tfds")


# --- resizing: one policy for files and arrays ---


@pytest.mark.parametrize("shape", [(12, 36), (36, 12, 1), (20, 30, 3), (9, 9, 4)])
@pytest.mark.parametrize("mode", ["rgb", "grayscale"])
def test_an_array_resizes_as_its_png_file_decodes(tmp_path, shape, mode):
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "image.png"
    Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and shape[-1] == 1 else pixels).save(path)
    out = images.fit(pixels, 6, mode)
    assert out.shape == (6, 6, 1 if mode == "grayscale" else 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, images.decode(str(path), 6, mode))
    with open(path, "rb") as f:  # a file object (the encoded bytes of a TFDS row) as well
        np.testing.assert_array_equal(out, images.decode(io.BytesIO(f.read()), 6, mode))


def test_fit_keeps_an_image_of_the_size_and_refuses_what_is_not_an_image():
    exact = np.random.default_rng(0).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(images.fit(exact, 5, "rgb"), exact)
    np.testing.assert_array_equal(images.fit(Image.fromarray(exact), 5, "rgb"), exact)
    deep = np.full((4, 4, 1), 40000, np.uint16)  # 16-bit grey: the top byte
    np.testing.assert_array_equal(images.fit(deep, 4, "grayscale"), 40000 >> 8)
    for bad, why in [
        (np.zeros((4, 4, 5), np.uint8), "must be (H, W) or (H, W, 1-4)"),
        (np.zeros((0, 4, 3), np.uint8), "no pixels"),
        (np.zeros((4, 4, 3), np.float32), "must be uint8"),
    ]:
        with pytest.raises(images.BadImage, match=re.escape(why)):
            images.fit(bad, 4, "rgb")
    with pytest.raises(ValueError, match="color_mode must be 'rgb' or 'grayscale'"):
        images.fit(exact, 4, "auto")


# --- the rows read by index ---


def test_rows_resize_to_image_size_and_stream_as_they_load_into_memory(tmp_path, fake_tfds):
    memory = data.load("tfds", tfds_options=options(tmp_path))
    lazy = data.load("tfds", tfds_options=options(tmp_path, lazy=True))
    assert memory.name == lazy.name == "tfds" and memory.source == "tfds:fake_digits/1.0.0"
    assert memory.class_names == NAMES and memory.val is None
    assert isinstance(memory.train.images, np.ndarray)
    assert isinstance(lazy.train.images, tfds.TfdsImages)
    assert isinstance(lazy.train.images, lazy_images.LazyRows)
    images_ = lazy.train.images
    assert images_.shape == memory.train.images.shape == (1497, 8, 8, 1)
    assert images_.dtype == np.uint8 and images_.ndim == 4 and len(images_) == 1497
    assert images_.nbytes == memory.train.images.nbytes
    np.testing.assert_array_equal(lazy.train.labels, memory.train.labels)
    np.testing.assert_array_equal(lazy.test.labels, [r["label"] for r in fake_tfds.rows("test")])
    np.testing.assert_array_equal(images_[7], memory.train.images[7])
    rows = np.array([9, 0, 1200])
    view = images_[rows]
    assert isinstance(view, tfds.TfdsImages) and view.shape == (3, 8, 8, 1)
    np.testing.assert_array_equal(np.asarray(view), memory.train.images[rows])
    np.testing.assert_array_equal(np.asarray(images_[10:20]), memory.train.images[10:20])
    np.testing.assert_array_equal(np.asarray(lazy.test.images), memory.test.images)
    # the check's sums: the normalisation of any selection is the in-memory one, exactly
    for selection in (slice(None), rows):
        assert pipeline.Normalizer.fit(images_[selection], "standardize") == (
            pipeline.Normalizer.fit(memory.train.images[selection], "standardize")
        )
    # each image the shorter side to 8, then the centre: a row 8a x 8b of the digit
    one = fake_tfds.rows("train")[5]["image"]
    np.testing.assert_array_equal(memory.train.images[5], images.fit(one, 8, "grayscale"))


def test_encoded_rows_decode_as_arrays_do_and_rgb_sets_give_three_channels(tmp_path, monkeypatch):
    arrays = digit_rows(60, channels=3)
    encoded = digit_rows(60, channels=3, encoded=True)
    assert isinstance(encoded[0]["image"], bytes)
    got = {}
    for kind, rows in (("arrays", arrays), ("encoded", encoded)):
        fake = opened({"train": rows[:50], "test": rows[50:]}, channels=3)
        monkeypatch.setattr(tfds, "open_dataset", lambda options, fake=fake: fake)
        got[kind] = data.load("tfds", tfds_options=options(tmp_path, cache_dir="off"))
    assert got["arrays"].train.images.shape == (50, 8, 8, 3)
    np.testing.assert_array_equal(got["arrays"].train.images, got["encoded"].train.images)
    grey = data.load(
        "tfds", tfds_options=options(tmp_path, cache_dir="off", color_mode="grayscale")
    )
    assert grey.train.images.shape == (50, 8, 8, 1)


def test_the_check_is_cached_by_split_and_decoding_options(tmp_path, fake_tfds, monkeypatch):
    Rows.reads = 0
    first = data.load("tfds", tfds_options=options(tmp_path, lazy=True))
    assert Rows.reads == 1797 + 1  # every row once, and the test split's first label looked at
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cached) == 2 and all(re.fullmatch(r"tfds-\w{32}-checked\.npz", p) for p in cached)
    Rows.reads = 0
    again = data.load("tfds", tfds_options=options(tmp_path, lazy=True))
    assert Rows.reads == 1  # from the cache
    np.testing.assert_array_equal(again.train.images.sums, first.train.images.sums)
    data.load("tfds", tfds_options=options(tmp_path, lazy=True, image_size=6))
    data.load("tfds", tfds_options=options(tmp_path))  # memory: the decoded images
    names = [p.name for p in (tmp_path / "cache").iterdir()]
    assert len(names) == 6 and sum(not n.endswith("-checked.npz") for n in names) == 2
    Rows.reads = 0
    data.load("tfds", tfds_options=options(tmp_path, cache_dir="off"))
    assert Rows.reads == 1797 + 1 and len(list((tmp_path / "cache").iterdir())) == 6
    prepared_again = dataclasses.replace(fake_tfds, fingerprint="other files")
    monkeypatch.setattr(tfds, "open_dataset", lambda options: prepared_again)
    Rows.reads = 0
    data.load("tfds", tfds_options=options(tmp_path, lazy=True))
    assert Rows.reads == 1797 + 1  # checked again


def test_a_row_that_fails_when_streamed_is_named(tmp_path):
    rows = digit_rows(40, encoded=True)
    fake = opened({"train": rows[:30], "test": rows[30:]})
    lazy = tfds.load_named(options(tmp_path, lazy=True, cache_dir="off"), opener=lambda o: fake)
    fake.rows("train")[4]["image"] = b"not a png"
    with pytest.raises(lazy_images.UnreadableImage, match=re.escape("fake_digits/1.0.0 train[4]")):
        lazy.train.images[4]
    with pytest.raises(data.DataError, match=r"train: 1 image\(s\) cannot be decoded \(row 4"):
        tfds.load_named(options(tmp_path, cache_dir="off"), opener=lambda o: fake)


# --- what the set lacks: refused naming the field ---


def _load(tmp_path, fake, **kw):
    return tfds.load_named(options(tmp_path, cache_dir="off", **kw), opener=lambda o: fake)


def test_unknown_splits_and_features_are_refused_by_field(tmp_path):
    rows = digit_rows(30)
    fake = opened({"train": rows[:20], "test": rows[20:]})
    cases = [
        ({"train_split": "training"}, "dataset.tfds_train_split='training': fake_digits/1.0.0 "
         "has no split 'training'; its splits: train, test"),
        ({"test_split": "validation"}, "dataset.tfds_test_split='validation'"),
        ({"val_split": "train[:10%]+extra"}, "dataset.tfds_val_split='train[:10%]+extra': "
         "fake_digits/1.0.0 has no split 'extra'"),
        ({"label_key": "coarse_label"}, "dataset.tfds_label_key='coarse_label': "
         "fake_digits/1.0.0 has no feature 'coarse_label'; its features: label"),
        ({"color_mode": "sepia"}, "color_mode must be one of auto, rgb, grayscale"),
    ]  # fmt: skip
    for kw, message in cases:
        with pytest.raises(data.DataError, match=re.escape(message)):
            _load(tmp_path, fake, **kw)
    no_classes = opened({"train": rows}, labels={"label": None, "kind": ("a", "b")})
    with pytest.raises(data.DataError, match="'label' is not a class label .*labels: kind"):
        _load(tmp_path, no_classes)
    no_image = tfds.Opened("x/1.0.0", "/x", ("train",), {}, {"label": NAMES}, lambda s: rows)
    with pytest.raises(data.DataError, match="has no image feature"):
        _load(tmp_path, no_image)


def test_the_test_split_defaults_to_a_labelled_test_else_validation(tmp_path):
    rows = digit_rows(30)
    unlabelled = [dict(r, label=-1) for r in rows[20:]]  # as ImageNet's test split
    fake = opened({"train": rows[:20], "validation": rows[20:25], "test": unlabelled})
    assert len(_load(tmp_path, fake).test) == 5  # validation, not the unlabelled test
    labelled = opened({"train": rows[:20], "validation": rows[20:25], "test": rows[25:]})
    assert len(_load(tmp_path, labelled).test) == 5 and len(labelled.rows("test")) == 5
    np.testing.assert_array_equal(
        _load(tmp_path, labelled).test.labels, [r["label"] for r in rows[25:]]
    )
    with pytest.raises(data.DataError, match="no labelled 'test' and no 'validation' split"):
        _load(tmp_path, opened({"train": rows}))
    with pytest.raises(data.DataError, match="tfds_val_split='validation' is also the test"):
        _load(tmp_path, opened({"train": rows[:20], "validation": rows[20:]}),
              val_split="validation")  # fmt: skip
    with_val = _load(tmp_path, labelled, val_split="validation")
    assert (len(with_val.train), len(with_val.val), len(with_val.test)) == (20, 5, 5)


# --- runs ---


def _run_config(make_config, pipeline_name, **overrides):
    fields = {"dataset__pipeline": pipeline_name, "dataset__image_size": 8, **overrides}
    c = tfds_config(make_config, **fields)
    c.dataset.augment.crop_padding = 1
    return c


def _same_run(a, b):
    for key in ("test_loss", "test_accuracy", "final_train_loss", "best_val_accuracy"):
        assert a[key] == b[key], key


def test_a_tfds_run_streams_equal_to_its_run_from_memory(tmp_path, make_config, fake_tfds):
    cache = str(tmp_path / "cache")
    memory = loop.run(_run_config(make_config, "memory", dataset__cache_dir=cache),
                      str(tmp_path / "m"), progress=False)  # fmt: skip
    # 1797 rows of 8 x 8 x 1 bytes: a budget of 0.1 MB streams them
    auto = _run_config(make_config, "auto", dataset__memory_budget_mb=0.1, dataset__cache_dir=cache)
    streamed = loop.run(auto, str(tmp_path / "s"), progress=False)
    assert memory["pipeline"] == "memory" and streamed["pipeline"] == "stream"
    assert streamed["decoded_mb"] == pytest.approx(1797 * 64 / 2**20, abs=1e-3)
    assert memory["dataset"] == "tfds" and streamed["source"] == "tfds:fake_digits/1.0.0"
    _same_run(streamed, memory)
    assert memory["test_accuracy"] > 0.5


def test_the_splits_and_the_pipeline_choice_follow_the_config(make_config, fake_tfds, tmp_path):
    c = _run_config(make_config, "auto", dataset__cache_dir=str(tmp_path))
    assert data_setup.tfds_options(make_config()) is None
    assert data_setup.streams_tfds(c, data_setup.tfds_options(c)) is False  # under the budget
    c.dataset.memory_budget_mb = 0.1
    assert data_setup.streams_tfds(c, data_setup.tfds_options(c)) is True
    _, train, val, test = data_setup.data_splits(c, streams=True)
    assert isinstance(train.images, tfds.TfdsImages) and (len(train), len(val)) == (1397, 100)
    _, train, val, test = data_setup.data_splits(c)  # a task that does not stream: memory
    assert isinstance(train.images, np.ndarray) and len(test) == 300


# --- a real TFDS set (tensorflow_datasets and TensorFlow) ---


def _tfds_or_skip():
    tfds_lib = pytest.importorskip("tensorflow_datasets")
    pytest.importorskip("tensorflow", reason="building a TFDS set encodes images with TF")
    return tfds_lib


def _build(tmp_path, file_format):
    _tfds_or_skip()
    from tfds_tiny import tiny_digits

    root = tmp_path / file_format
    tiny_digits.TinyDigits(data_dir=str(root), file_format=file_format).download_and_prepare()
    return str(root)


def test_a_tiny_tfds_set_trains_the_same_streamed_and_from_memory(tmp_path, make_config):
    root = _build(tmp_path, "array_record")
    fields = dict(
        dataset__tfds_name="tiny_digits",
        dataset__tfds_data_dir=root,
        dataset__cache_dir=str(tmp_path / "cache"),
        dataset__image_size=12,
    )
    runs = {
        p: loop.run(_run_config(make_config, p, **fields), str(tmp_path / p), progress=False)
        for p in ("memory", "stream")
    }
    assert runs["memory"]["pipeline"] == "memory" and runs["stream"]["pipeline"] == "stream"
    assert runs["stream"]["source"] == "tfds:tiny_digits/1.0.0"
    assert runs["stream"]["image_shape"] == [12, 12, 1] and runs["stream"]["num_test"] == 297
    _same_run(runs["stream"], runs["memory"])
    ds = data.load("tfds", tfds_options=options(tmp_path, name="tiny_digits", data_dir=root))
    assert ds.class_names == tuple(f"digit {i}" for i in range(10))
    with pytest.raises(data.DataError, match="has no split 'validation'; its splits: "):
        data.load("tfds", tfds_options=options(
            tmp_path, name="tiny_digits", data_dir=root, val_split="validation"))  # fmt: skip


def test_a_tfrecord_copy_and_a_missing_copy_say_how_to_prepare_one(tmp_path):
    root = _build(tmp_path, "tfrecord")
    build = "tfds build tiny_digits --file_format=array_record"
    with pytest.raises(data.DataError, match=re.escape("tfrecord format") + ".*" + build):
        data.load("tfds", tfds_options=options(tmp_path, name="tiny_digits", data_dir=root))
    empty = str(tmp_path / "empty")
    with pytest.raises(data.DataNotFoundError, match=f"(?s)not prepared.*{build}.*tfds_download"):
        data.load("tfds", tfds_options=options(tmp_path, name="tiny_digits", data_dir=empty))
    with pytest.raises(data.DataError, match="dataset.tfds_name='no_such_set_xyz': TFDS cannot"):
        data.load("tfds", tfds_options=options(tmp_path, name="no_such_set_xyz", data_dir=empty))


def test_tfds_download_prepares_a_missing_copy_in_the_array_record_format(tmp_path):
    _tfds_or_skip()
    from tfds_tiny import tiny_digits  # registered: TFDS can prepare it (nothing to download)

    assert tiny_digits.TinyDigits.name == "tiny_digits"
    fresh = str(tmp_path / "fresh")
    ds = data.load("tfds", tfds_options=options(
        tmp_path, name="tiny_digits", data_dir=fresh, download=True, lazy=True))  # fmt: skip
    assert isinstance(ds.train.images, tfds.TfdsImages) and len(ds.test) == 297
    assert list((tmp_path / "fresh" / "tiny_digits" / "1.0.0").glob("*.array_record-*"))
