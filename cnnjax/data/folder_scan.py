"""Finding the images of an image folder: its layout, its classes and its files.

Two layouts, as torchvision's ImageFolder and Keras' `image_dataset_from_directory` read them:

    ROOT/<class>/<image>                         one pool, split into train and test
    ROOT/train/<class>/<image>                   the splits as given (val/ and test/ optional)
    ROOT/val/<class>/<image>
    ROOT/test/<class>/<image>

Class names are the class folders' names in sorted order (label i is the i-th); in the split
layout they are train/'s, and val/ and test/ may hold a subset of them. A class folder's
subfolders belong to it. Hidden entries (names starting with '.', e.g. .DS_Store) are ignored;
any other file that is not an image (by its extension, `images.IMAGE_EXTENSIONS`), a file
beside the class folders, and a class folder with no image are problems: `scan` lists them and
the loader reports them (or skips them when asked).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

from cnnjax.data import images
from cnnjax.data.errors import DataError, DataNotFoundError

SPLIT_FOLDERS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class Listing:
    """What `scan` found.

    Attributes:
      root: the folder, absolute.
      class_names: sorted class folder names (after dropping empty ones when skipping).
      files: (split, path relative to root, label) of every image file, sorted by path.
      problems: (path relative to root, reason) of every entry that is not a usable image
        file or is an empty class folder.
      split_layout: whether ROOT holds train/ (and maybe val/, test/) or the classes directly.
    """

    root: str
    class_names: tuple[str, ...]
    files: tuple[tuple[str, str, int], ...]
    problems: tuple[tuple[str, str], ...]
    split_layout: bool

    def fingerprint(self) -> str:
        """A hash of the file list with each file's size and modification time: it changes
        when a file is added, removed, renamed, rewritten or touched."""
        h = hashlib.sha256()
        for split, rel, label in self.files:
            st = os.stat(os.path.join(self.root, rel))
            h.update(f"{split}\0{rel}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        h.update("\0".join(self.class_names).encode())
        return h.hexdigest()


def _visible(names) -> list[str]:
    return sorted(n for n in names if not n.startswith("."))


def _class_files(folder: str, root: str):
    """(image paths, problems) under one class folder, recursively, paths relative to root."""
    found, problems = [], []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = _visible(dirnames)
        for name in _visible(filenames):
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if images.is_image_name(name):
                found.append(rel)
            else:
                problems.append(
                    (rel, f"not an image file (expected {', '.join(images.IMAGE_EXTENSIONS)})")
                )
    return sorted(found), problems


def _split_classes(split_dir: str, root: str):
    """{class name: image paths}, problems of one split folder (or of ROOT, flat layout)."""
    classes, problems = {}, []
    for name in _visible(os.listdir(split_dir)):
        path = os.path.join(split_dir, name)
        if os.path.isdir(path):
            classes[name], more = _class_files(path, root)
            problems += more
        else:
            problems.append(
                (
                    os.path.relpath(path, root),
                    "a file beside the class folders (expected "
                    "ROOT/<class>/<image> or ROOT/train/<class>/<image>)",
                )
            )
    return classes, problems


def scan(root: str, drop_empty_classes: bool = False) -> Listing:
    """The layout, classes and image files of the image folder `root`.

    drop_empty_classes: a class folder without images is dropped from the classes (and
    listed as a problem) instead of keeping a class no example has.
    Raises DataNotFoundError if `root` is not a folder, DataError if it holds no class folder
    (or a split layout without train/).
    """
    if not os.path.isdir(root):
        raise DataNotFoundError(
            f"dataset.data_dir={root!r}: no such folder (the folder dataset reads "
            "ROOT/<class>/<image> or ROOT/train/<class>/<image>)"
        )
    root = os.path.abspath(root)
    entries = set(_visible(os.listdir(root)))
    split_layout = bool(entries & set(SPLIT_FOLDERS)) and all(
        os.path.isdir(os.path.join(root, s)) for s in entries & set(SPLIT_FOLDERS)
    )
    if split_layout and "train" not in entries:
        raise DataError(
            f"{root}: holds {', '.join(sorted(entries & set(SPLIT_FOLDERS)))}/ but no train/ "
            "folder; the split layout is ROOT/train/<class>/<image> (val/ and test/ optional)"
        )
    splits = [s for s in SPLIT_FOLDERS if s in entries] if split_layout else ["train"]
    by_split, problems = {}, []
    for split in splits:
        folder = os.path.join(root, split) if split_layout else root
        by_split[split], more = _split_classes(folder, root)
        problems += more
    if split_layout:
        problems += [
            (os.path.relpath(os.path.join(root, e), root), "an entry beside train/, val/, test/")
            for e in sorted(entries - set(SPLIT_FOLDERS))
        ]
    names = sorted(by_split["train"])
    empty = [c for c in names if not by_split["train"][c]]
    problems += [
        (os.path.join(*(["train"] if split_layout else []), c), "an empty class folder")
        for c in empty
    ]
    if drop_empty_classes:
        names = [c for c in names if c not in empty]
    if not names:
        raise DataError(
            f"{root}: no class folder with images (expected ROOT/<class>/<image> or "
            "ROOT/train/<class>/<image>)"
        )
    label = {c: i for i, c in enumerate(names)}
    files = []
    for split, classes in by_split.items():
        for c, paths in classes.items():
            if c not in label:
                if split != "train" and c not in empty:
                    raise DataError(
                        f"{os.path.join(root, split, c)}: class {c!r} is not a class folder of "
                        f"{os.path.join(root, 'train')}"
                    )
                continue
            files += [(split, rel, label[c]) for rel in paths]
    files.sort(key=lambda f: f[1])
    return Listing(root, tuple(names), tuple(files), tuple(sorted(problems)), split_layout)
