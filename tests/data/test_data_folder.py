"""Image folders: layouts, decoding, splits, every bad-input case, and the decoded cache."""

import os

import numpy as np
import pytest
from image_folders import CLASSES, class_colour, write_folder, write_image
from PIL import Image

from cnnjax import data
from cnnjax.data import folder, images
from cnnjax.data.errors import DataError, DataNotFoundError


def options(tmp_path, **kw):
    return data.FolderOptions(**{"image_size": 8, "cache_dir": str(tmp_path / "cache"), **kw})


def test_a_flat_folder_gives_sorted_classes_and_a_stratified_test_split(tmp_path):
    root = write_folder(tmp_path / "pets", per_class=10, classes=("zebra", "ant", "moth"))
    ds = data.load("folder", root, folder_options=options(tmp_path, test_fraction=0.2))
    assert ds.name == "folder" and ds.class_names == ("ant", "moth", "zebra")
    assert ds.train.images.shape == (24, 8, 8, 3) and ds.test.images.shape == (6, 8, 8, 3)
    np.testing.assert_array_equal(np.bincount(ds.test.labels), [2, 2, 2])  # 20% of each class
    assert ds.val is None and ds.skipped == ()
    # label i is class_names[i]: 'ant' was written as the second class (grey level 120)
    ant = ds.train.images[ds.train.labels == 0]
    assert abs(ant.mean() - class_colour(1)) < 12
    again = data.load("folder", root, folder_options=options(tmp_path, test_fraction=0.2))
    np.testing.assert_array_equal(again.test.images, ds.test.images)  # the same split
    other = data.load(
        "folder", root, folder_options=options(tmp_path, test_fraction=0.2, split_seed=1)
    )
    assert not np.array_equal(other.test.images, ds.test.images)


def test_the_split_layout_keeps_its_splits_and_val_feeds_the_run(tmp_path, make_config):
    root = tmp_path / "splits"
    write_folder(root, per_class=8, split="train")
    write_folder(root, per_class=2, split="val")
    write_folder(root, per_class=3, split="test", classes=CLASSES[:2])  # a subset of classes
    ds = data.load("folder", str(root), folder_options=options(tmp_path))
    assert (len(ds.train), len(ds.val), len(ds.test)) == (24, 6, 6)
    np.testing.assert_array_equal(np.bincount(ds.test.labels, minlength=3), [3, 3, 0])
    from cnnjax.config import ConfigError
    from cnnjax.train import data_setup

    config = make_config(
        dataset__name="folder",
        dataset__data_dir=str(root),
        dataset__val_size=0,
        dataset__image_size=8,
        dataset__cache_dir=str(tmp_path / "cache"),
    )
    _, train, val, test = data_setup.data_splits(config)
    assert (len(train), len(val), len(test)) == (24, 6, 6)
    config.dataset.val_size = 4
    with pytest.raises(ConfigError, match="own val/ split"):
        data_setup.data_splits(config)


def test_decoding_resizes_the_shorter_side_and_crops_the_centre(tmp_path):
    # 36 x 12 (W x H): black, then grey 200 in columns 6..29, then white; the centre
    # 12 x 12 square (columns 12..23) and the bilinear filter's reach (2 source pixels at a
    # scale of 1/2) lie inside the grey band
    pixels = np.zeros((12, 36), np.uint8)
    pixels[:, 6:30], pixels[:, 30:] = 200, 255
    Image.fromarray(pixels, "L").save(tmp_path / "wide.png")
    out = images.decode(str(tmp_path / "wide.png"), 6, "grayscale")
    assert out.shape == (6, 6, 1) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, 200)  # the centre square is the grey band alone
    rgb = images.decode(str(tmp_path / "wide.png"), 6, "rgb")  # grey converted to RGB
    assert rgb.shape == (6, 6, 3) and (rgb == 200).all()
    # an image already of the size comes back pixel for pixel (PNG is lossless)
    exact = np.random.default_rng(0).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    Image.fromarray(exact).save(tmp_path / "exact.png")
    np.testing.assert_array_equal(images.decode(str(tmp_path / "exact.png"), 6, "rgb"), exact)
    # 16-bit grey: the top byte, not Pillow's clipping at 255
    deep = np.full((6, 6), 40000, np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    np.testing.assert_array_equal(
        images.decode(str(tmp_path / "deep.png"), 6, "grayscale"), 40000 >> 8
    )


def _load(tmp_path, root, **kw):
    return data.load("folder", str(root), folder_options=options(tmp_path, **kw))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda root: (root / "cat" / "notes.txt").write_text("x"), "notes.txt: not an image"),
        (lambda root: (root / "README.md").write_text("x"), "README.md: a file beside"),
        (lambda root: os.makedirs(root / "empty_class"), "empty_class: an empty class folder"),
        (
            lambda root: (root / "dog" / "junk.jpg").write_bytes(b"not a jpeg at all"),
            "junk.jpg: not a readable image",
        ),
        (
            lambda root: (root / "dog" / "cut.png").write_bytes(
                (root / "dog" / "0.png").read_bytes()[:60]
            ),
            "cut.png: not a readable image",
        ),
        (
            lambda root: write_image(str(root / "fish" / "grey.png"), 2, mode="L"),
            "grey.png: a grayscale image in a folder of 18 rgb images",
        ),
    ],
    ids=["non-image", "stray-file", "empty-class", "unreadable", "truncated", "mixed-modes"],
)
def test_every_bad_file_is_named_or_skipped_and_counted(tmp_path, damage, message):
    root = tmp_path / "f"
    write_folder(root, per_class=6)
    damage(root)
    with pytest.raises(DataError, match=message) as error:
        _load(tmp_path, root)
    assert "skip_bad_images=True" in str(error.value)
    ds = _load(tmp_path, root, skip_bad_images=True)
    assert len(ds.skipped) == 1 and message.split(":")[0] in ds.skipped[0][0]
    assert len(ds.train) + len(ds.test) == 18 and ds.class_names == CLASSES


def test_an_explicit_mode_converts_a_mixed_folder(tmp_path):
    root = tmp_path / "f"
    write_folder(root, per_class=6)
    write_image(str(root / "fish" / "grey.png"), 2, mode="L")
    ds = _load(tmp_path, root, color_mode="grayscale")
    assert ds.train.images.shape[-1] == 1 and len(ds.train) + len(ds.test) == 19
    assert _load(tmp_path, root, color_mode="rgb").train.images.shape[-1] == 3


def test_layout_errors_name_the_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match="no such folder"):
        _load(tmp_path, tmp_path / "missing")
    os.makedirs(tmp_path / "nothing")
    with pytest.raises(DataError, match="no class folder with images"):
        _load(tmp_path, tmp_path / "nothing")
    write_folder(tmp_path / "notrain", per_class=2, split="test")
    with pytest.raises(DataError, match="no train/ folder"):
        _load(tmp_path, tmp_path / "notrain")
    write_folder(tmp_path / "stray", per_class=4, split="train")
    write_folder(tmp_path / "stray", per_class=1, split="test", classes=("whale",))
    with pytest.raises(DataError, match="'whale' is not a class folder"):
        _load(tmp_path, tmp_path / "stray")
    write_folder(tmp_path / "single", per_class=1)
    with pytest.raises(DataError, match="at least 2 of every class"):
        _load(tmp_path, tmp_path / "single")
    with pytest.raises(DataError, match="needs data_dir"):
        data.load("folder")


def test_the_cache_serves_a_second_load_and_a_changed_folder_decodes_again(tmp_path, monkeypatch):
    root = tmp_path / "f"
    write_folder(root, per_class=4)
    first = _load(tmp_path, root)
    assert len(os.listdir(tmp_path / "cache")) == 1

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(images, "decode", no_decoding)
    cached = _load(tmp_path, root)
    np.testing.assert_array_equal(cached.train.images, first.train.images)
    np.testing.assert_array_equal(cached.test.labels, first.test.labels)
    write_image(str(root / "cat" / "new.png"), 0, seed=9)  # the folder changed
    with pytest.raises(AssertionError, match="decoded again"):
        _load(tmp_path, root)
    with pytest.raises(AssertionError, match="decoded again"):  # off: never read
        data.load(
            "folder", str(root), folder_options=data.FolderOptions(image_size=8, cache_dir="off")
        )
    monkeypatch.undo()
    cached_files = len(os.listdir(tmp_path / "cache"))
    assert _load(tmp_path, root, image_size=4).train.images.shape[1:3] == (4, 4)
    assert len(os.listdir(tmp_path / "cache")) == cached_files + 1  # options are in the key


def test_the_cache_is_checked_for_new_problems(tmp_path):
    root = tmp_path / "f"
    write_folder(root, per_class=4)
    _load(tmp_path, root)
    (root / "cat" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="notes.txt"):
        _load(tmp_path, root)


def test_an_unwritable_cache_costs_only_the_decode(tmp_path):
    root = write_folder(tmp_path / "f", per_class=4)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder would go")
    ds = data.load(
        "folder",
        root,
        folder_options=data.FolderOptions(image_size=8, cache_dir=str(blocker / "cache")),
    )
    assert len(ds.train) == 9
    assert folder.default_cache_dir().endswith(os.path.join("cnnjax", "folders"))


def test_the_config_names_a_bad_folder_field(make_config):
    from cnnjax.config import ConfigError, validate

    with pytest.raises(ConfigError, match="dataset.data_dir: dataset.name='folder' needs"):
        validate(make_config(dataset__name="folder"))
    for field, value, message in [
        ("color_mode", "cmyk", "dataset.color_mode must be one of auto, rgb, grayscale"),
        ("image_size", 0, "dataset.image_size must be an integer >= 1"),
        ("folder_test_fraction", 1.0, r"dataset.folder_test_fraction must be a number in \(0"),
    ]:
        config = make_config(dataset__name="folder", dataset__data_dir="x")
        config.dataset[field] = value
        with pytest.raises(ConfigError, match=message):
            validate(config)


def test_a_stratified_validation_holdout_keeps_every_class_share(make_config):
    from cnnjax.train import data_setup

    config = make_config(dataset__val_size=200, dataset__stratified_val=True)
    ds, train, val, _ = data_setup.data_splits(config)
    whole = np.bincount(ds.train.labels) / len(ds.train)
    assert len(val) == 200 and len(train) == len(ds.train) - 200
    assert np.abs(np.bincount(val.labels) - 200 * whole).max() < 1  # each class's share, rounded
    plain = data_setup.data_splits(make_config(dataset__val_size=200))[2]
    assert not np.array_equal(plain.labels, val.labels)  # the default holdout is unchanged


def test_a_dataset_written_as_a_folder_reads_back_pixel_for_pixel(tmp_path):
    from cnnjax.data.folder_write import write_image_folder

    digits = data.load("digits")
    written = write_image_folder(digits, str(tmp_path / "digits"), limit=50)
    assert written == {"train": 50, "test": 50}
    ds = data.load(
        "folder",
        str(tmp_path / "digits"),
        folder_options=data.FolderOptions(image_size=8, cache_dir="off"),
    )
    assert ds.class_names == digits.class_names  # '0'..'9' sort as the labels do

    # the folder lists each class's files in turn: compare as sets of (label, pixels)
    def pairs(split, n):
        return sorted((int(y), x.tobytes()) for x, y in zip(split.images[:n], split.labels[:n]))

    assert pairs(ds.train, 50) == pairs(digits.train, 50)
    assert pairs(ds.test, 50) == pairs(digits.test, 50)
