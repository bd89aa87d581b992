"""Your own images: an image folder read into a Dataset (`dataset.name=folder`).

    ds = folder.load_folder("photos/", folder.FolderOptions(image_size=64))

The layout and the problem files are `folder_scan`'s; decoding and resizing are
`images.decode`'s (Pillow; shorter side to `image_size`, centre crop), run in threads (Pillow
releases the GIL while it decodes). Every problem, a non-image file, an empty class folder,
an unreadable or truncated image, or (color_mode 'auto') images of both grey and colour modes,
is reported with its file before any training step, or with `skip_bad_images` skipped and
listed in `Dataset.skipped` (and so in the run's summary.json).

Splits: the split layout's train/, val/ and test/ as given; without test/, a stratified
`test_fraction` of every class is held out as the test split (scikit-learn's
`train_test_split`, seed `split_seed`).

Cache: the decoded images are written once to <cache_dir>/<key>.npz, the key hashing the file
list with every file's size and modification time and the decoding options, so a second run
reads them back instead of decoding again, and any change to the folder decodes afresh.

Streaming (`lazy=True`, dataset.pipeline=stream): the images stay in their files
(cnnjax.data.lazy_images); every file is still decoded once before training, to find the bad
ones and to keep its pixel sums for the normalisation, and that check is cached the same way
(<key>-checked.npz), so only the first run over a folder pays for it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
import tempfile

import numpy as np
from absl import logging

from cnnjax.data import images, lazy_images, stratify
from cnnjax.data.dataset import Dataset, Split
from cnnjax.data.errors import DataError
from cnnjax.data.folder_scan import SPLIT_FOLDERS, Listing, scan

CACHE_VERSION = 2  # bump when decoding changes, so old caches are not read
SHOWN_PROBLEMS = 10  # problem files named in an error message


@dataclasses.dataclass(frozen=True)
class FolderOptions:
    """How to read an image folder; the config's dataset.* fields of the same names."""

    image_size: int = 64  # pixels: every image becomes image_size x image_size
    color_mode: str = "auto"  # auto | rgb | grayscale (images.COLOR_MODES)
    skip_bad_images: bool = False  # True: skip (and list) problem files instead of failing
    test_fraction: float = 0.2  # without test/: share of every class held out as test
    split_seed: int = 0  # the held-out test split's seed
    cache_dir: str = ""  # '' -> default_cache_dir(); 'off': no cache
    lazy: bool = False  # True: images stay in their files (lazy_images; the streaming pipeline)


def default_cache_dir() -> str:
    """$CNNJAX_CACHE_DIR/folders, else $XDG_CACHE_HOME (or ~/.cache)/cnnjax/folders."""
    base = os.environ.get("CNNJAX_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cnnjax"
    )
    return os.path.join(base, "folders")


def _problem_error(root: str, problems) -> DataError:
    shown = "\n".join(f"  {os.path.join(root, p)}: {why}" for p, why in problems[:SHOWN_PROBLEMS])
    more = len(problems) - SHOWN_PROBLEMS
    return DataError(
        f"{root}: {len(problems)} file(s) cannot be used:\n{shown}"
        + (f"\n  ... and {more} more" if more > 0 else "")
        + "\nfix or remove them, or set dataset.skip_bad_images=True to skip them (they are "
        "then counted and listed in summary.json)"
    )


def _families(listing: Listing) -> list[str | images.BadImage]:
    """Each file's mode family ('grayscale' / 'rgb'), or the BadImage Pillow raised for it."""

    def one(rel):
        try:
            return images.header(os.path.join(listing.root, rel))[0]
        except images.BadImage as e:
            return e

    with concurrent.futures.ThreadPoolExecutor(lazy_images.threads()) as pool:
        return list(pool.map(one, [rel for _, rel, _ in listing.files]))


def _resolve_mode(listing: Listing, families, color_mode: str, skip: bool):
    """(the mode to decode in, problems): with 'auto', the family every readable file shares;
    if both occur, the files of the rarer family are the problems."""
    if color_mode != "auto":
        return color_mode, []
    counts = {f: families.count(f) for f in ("grayscale", "rgb")}
    if not all(counts.values()):
        return ("rgb" if counts["rgb"] else "grayscale"), []
    common = max(counts, key=lambda f: (counts[f], f))
    rare = "rgb" if common == "grayscale" else "grayscale"
    why = (
        f"a {rare} image in a folder of {counts[common]} {common} images (mixed modes: set "
        "dataset.color_mode to rgb or grayscale to convert every image)"
    )
    problems = [(rel, why) for (_, rel, _), f in zip(listing.files, families) if f == rare]
    if not skip:
        raise _problem_error(listing.root, problems)
    return common, problems


def _decode_all(listing: Listing, keep: np.ndarray, options: FolderOptions, mode: str):
    """(images (n, S, S, C) uint8 of the files where `keep`, problems of files that failed)."""
    rels = [listing.files[i][1] for i in np.flatnonzero(keep)]
    size = options.image_size
    read = lambda j: images.decode(os.path.join(listing.root, rels[j]), size, mode)
    out, failed = lazy_images.decode_rows(read, len(rels), size, mode)
    return out, [(rels[j], failed[j]) for j in sorted(failed)], sorted(failed)


def _cache_path(listing: Listing, options: FolderOptions, kind: str = "images") -> str | None:
    """Where the cache of `kind` ('images': decoded pixels; 'checked': the streaming
    pipeline's per-file sums) lies for this listing and these options, None when off."""
    if options.cache_dir == "off":
        return None
    key = hashlib.sha256(
        f"{CACHE_VERSION}\0{listing.fingerprint()}\0{listing.problems}\0{options.image_size}"
        f"\0{options.color_mode}\0{options.skip_bad_images}".encode()
    ).hexdigest()[:32]
    suffix = "" if kind == "images" else f"-{kind}"
    return os.path.join(options.cache_dir or default_cache_dir(), f"{key}{suffix}.npz")


def _write_cache(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Writes the cache atomically (a temporary file renamed); a folder that cannot be written
    only costs the next run a decode, so it is logged, not raised."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError as e:
        logging.warning("image folder cache not written to %s: %s", path, e)


def _readable(listing: Listing, options: FolderOptions):
    """(keep (n,) bool, the mode to decode in, problems so far) from the files' headers: the
    files that are images of the folder's mode. Raises the problems unless skip_bad_images."""
    skip = options.skip_bad_images
    families = _families(listing)
    bad = [
        (rel, str(f))
        for (_, rel, _), f in zip(listing.files, families)
        if isinstance(f, images.BadImage)
    ]
    if bad and not skip:
        raise _problem_error(listing.root, bad)
    readable = [f for f in families if not isinstance(f, images.BadImage)]
    mode, mixed = _resolve_mode(listing, readable, options.color_mode, skip)
    mixed_paths = {rel for rel, _ in mixed}
    keep = np.array(
        [
            not isinstance(f, images.BadImage) and rel not in mixed_paths
            for (_, rel, _), f in zip(listing.files, families)
        ],
        bool,
    )
    return keep, mode, list(listing.problems) + bad + mixed


def _cached_or(path, make, what: str):
    """The arrays of the cache at `path` when it exists, else make() (then cached)."""
    if path is not None and os.path.isfile(path):
        with np.load(path) as z:
            logging.info("image folder: %s from the cache %s", what, path)
            return {k: z[k] for k in z.files}
    arrays = make()
    if path is not None:
        _write_cache(path, arrays)
    return arrays


def _decoded(listing: Listing, options: FolderOptions):
    """(images, labels, splits, skipped) of the listing's usable files, from the cache when
    it holds this very listing and options, else decoded (and cached). options.lazy: images
    is a LazyImages (every file checked once, its pixel sums kept, nothing else)."""
    skip, lazy = options.skip_bad_images, options.lazy
    if listing.problems and not skip:
        raise _problem_error(listing.root, list(listing.problems))

    def make():
        keep, mode, skipped = _readable(listing, options)
        rows = np.flatnonzero(keep)
        if lazy:
            paths = [os.path.join(listing.root, listing.files[i][1]) for i in rows]
            sums, squares, failed_at = lazy_images.check(paths, options.image_size, mode)
            failed_rows = sorted(failed_at)
            failed = [(listing.files[rows[j]][1], failed_at[j]) for j in failed_rows]
            pixels = {"sums": np.delete(sums, failed_rows, 0)}
            pixels["squares"] = np.delete(squares, failed_rows, 0)
        else:
            decoded, failed, failed_rows = _decode_all(listing, keep, options, mode)
            pixels = {"images": np.delete(decoded, failed_rows, axis=0)}
        if failed and not skip:
            raise _problem_error(listing.root, failed)
        rows = np.delete(rows, failed_rows)
        skipped = sorted(skipped + failed)
        return {
            **pixels,
            "rows": rows,
            "mode": np.array(mode),
            "labels": np.array([listing.files[i][2] for i in rows], np.int32),
            "splits": np.array([listing.files[i][0] for i in rows], dtype=str),
            "skipped_paths": np.array([p for p, _ in skipped], dtype=str),
            "skipped_reasons": np.array([r for _, r in skipped], dtype=str),
        }

    what = "checked files" if lazy else "decoded images"
    z = _cached_or(_cache_path(listing, options, "checked" if lazy else "images"), make, what)
    skipped = tuple(zip(z["skipped_paths"].tolist(), z["skipped_reasons"].tolist()))
    if lazy:
        rels = [listing.files[i][1] for i in z["rows"]]
        pixels = lazy_images.LazyImages(
            listing.root, rels, options.image_size, str(z["mode"]), z["sums"], z["squares"]
        )
    else:
        pixels = z["images"]
    return pixels, z["labels"], z["splits"].tolist(), skipped


def decoded_nbytes(root: str, options: FolderOptions) -> int:
    """An upper bound of the bytes the folder's decoded images take (3 channels unless
    grayscale), from its listing alone: what chooses the pipeline (dataset.pipeline=auto)."""
    listing = scan(root, drop_empty_classes=options.skip_bad_images)
    return len(listing.files) * options.image_size**2 * images.channels(options.color_mode)


def load_folder(root: str, options: FolderOptions = FolderOptions()) -> Dataset:
    """The image folder `root` as a Dataset ('folder'): (N, S, S, C) uint8 images, int32
    labels, class names from the folder names, `val` from a val/ folder (else None), test
    from test/ or held out (stratified). options.lazy: the images stay in their files
    (cnnjax.data.lazy_images.LazyImages), each checked once. Raises DataError naming the
    problem files (see the module docstring) and DataNotFoundError for a missing folder."""
    if options.color_mode not in images.COLOR_MODES:
        raise DataError(
            f"color_mode must be one of {', '.join(images.COLOR_MODES)}, got {options.color_mode!r}"
        )
    listing = scan(root, drop_empty_classes=options.skip_bad_images)
    pixels, labels, splits, skipped = _decoded(listing, options)
    where = {s: np.flatnonzero(np.array(splits) == s) for s in SPLIT_FOLDERS}
    if not len(where["train"]):
        raise DataError(f"{listing.root}: no readable training image")
    train = Split(pixels[where["train"]], labels[where["train"]])
    if len(where["test"]):
        test = Split(pixels[where["test"]], labels[where["test"]])
    else:
        train, test = stratify.stratified_split(
            train,
            options.test_fraction,
            options.split_seed,
            listing.class_names,
            what=f"{listing.root}: the held-out test split (dataset.folder_test_fraction)",
        )
    val = Split(pixels[where["val"]], labels[where["val"]]) if len(where["val"]) else None
    return Dataset(
        name="folder",
        train=train,
        test=test,
        class_names=listing.class_names,
        source=listing.root,
        val=val,
        skipped=skipped,
    )
