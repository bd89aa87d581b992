"""Images that stay in their files until read: the array an image folder streams from.

    images = LazyImages(root, files, image_size=64, color_mode="rgb", sums, squares)
    images.shape            # (N, 64, 64, 3), known without decoding
    view = images[idx]      # another LazyImages over those files (an index array or a slice)
    one = images[5]         # (64, 64, 3) uint8, decoded now (cnnjax.data.images.decode)
    batch = np.asarray(view)  # every file of the view decoded (in threads)

It behaves like the (N, H, W, C) uint8 array of the decoded folder wherever cnnjax selects
rows (validation holdout, training subsets, classes), so the same split code serves both
pipelines, and a streaming run (cnnjax.train.stream) decodes each example when a batch needs
it. Each file's per-channel pixel sums and sums of squares, computed once when the folder was
checked (`check`), travel with the rows, so the training split's normalisation statistics are
exact integer sums without decoding again (`channel_sums`).

`LazyRows` is what every such array shares (shape, views, the decoded copy, the sums); a
subclass says how one row decodes: LazyImages from its file, cnnjax.data.tfds.TfdsImages
from a TensorFlow Datasets record. `check_rows` is the check of any rows.
"""

from __future__ import annotations

import concurrent.futures
import copy
import os

import numpy as np

from cnnjax.data import images as images_lib


def threads() -> int:
    """Threads that decode images (Pillow releases the GIL while it decodes)."""
    return min(32, (os.cpu_count() or 1) + 4)


class LazyRows:
    """(N, S, S, C) uint8 rows decoded on access, each row named by a key (a file, a record
    index); the base of LazyImages and of cnnjax.data.tfds.TfdsImages, which say how a key
    decodes (`_decode`). Views share the source and carry their rows' keys and sums.

    Args:
      keys: (N,) array: what `_decode` reads row i from.
      image_size: S: every row is decoded to S x S.
      color_mode: 'rgb' (C = 3) or 'grayscale' (C = 1).
      sums, squares: (N, C) uint64 per-row sums of the pixels and of their squares (the check).
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, keys: np.ndarray, image_size, color_mode, sums, squares):
        self.keys, self.image_size, self.color_mode = keys, image_size, color_mode
        self.sums, self.squares = np.asarray(sums, np.uint64), np.asarray(squares, np.uint64)
        self.shape = (len(keys), image_size, image_size, images_lib.channels(color_mode))

    def _decode(self, key) -> np.ndarray:
        """The row of `key`, (S, S, C) uint8."""
        raise NotImplementedError

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        """Bytes of the decoded images (what an in-memory copy would take)."""
        return int(np.prod(self.shape))

    def __getitem__(self, index):
        """An int: that row decoded, (S, S, C) uint8. An index array or slice: a view."""
        if isinstance(index, (int, np.integer)):
            return self._decode(self.keys[int(index)])
        rows = np.arange(len(self))[index]
        view = copy.copy(self)
        view.keys, view.sums, view.squares = self.keys[rows], self.sums[rows], self.squares[rows]
        view.shape = (len(rows),) + self.shape[1:]
        return view

    def __array__(self, dtype=None, copy=None):
        # a row that fails raises UnreadableImage (not BadImage): it propagates
        out, _ = decode_rows(self.__getitem__, len(self), self.image_size, self.color_mode)
        return out if dtype is None else out.astype(dtype)

    def channel_sums(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(per-channel sum of the pixels, of their squares, pixels per channel): exact."""
        return self.sums.sum(0, dtype=np.uint64), self.squares.sum(0, dtype=np.uint64), (
            len(self) * self.image_size**2
        )


class LazyImages(LazyRows):
    """(N, S, S, C) uint8 images decoded from their files on access; see the module docstring.

    Args:
      root: the folder the relative `files` paths start from.
      files: (N,) relative paths.
      image_size: S: shorter side resized to S, centre crop (images.decode).
      color_mode: 'rgb' (C = 3) or 'grayscale' (C = 1).
      sums, squares: (N, C) uint64 per-file sums of the pixels and of their squares.
    """

    def __init__(self, root, files, image_size, color_mode, sums, squares):
        super().__init__(np.asarray(files, dtype=object), image_size, color_mode, sums, squares)
        self.root = root

    @property
    def files(self) -> np.ndarray:
        """(N,) the rows' paths, relative to `root`."""
        return self.keys

    def path(self, i: int) -> str:
        return os.path.join(self.root, self.files[i])

    def _decode(self, key) -> np.ndarray:
        return decode(os.path.join(self.root, key), self.image_size, self.color_mode)


class UnreadableImage(RuntimeError):
    """A file that failed to decode while a run streamed it (it passed the check before)."""


def decode(path: str, size: int, color_mode: str) -> np.ndarray:
    """images.decode, with the file named when it fails (a file changed since the check)."""
    try:
        return images_lib.decode(path, size, color_mode)
    except images_lib.BadImage as e:
        raise UnreadableImage(
            f"{path}: {e}; it changed after the folder was checked: fix it and resume"
        ) from None


def check(paths: list[str], size: int, color_mode: str):
    """Decodes every file once (in threads), keeping only its per-channel sums.

    Returns (sums (n, C) uint64, squares (n, C) uint64, {row: reason} of files that failed)."""
    return check_rows(
        lambda i: images_lib.decode(paths[i], size, color_mode), len(paths), color_mode
    )


def check_rows(read, n: int, color_mode: str):
    """`check` of any rows: read(i) -> (S, S, C) uint8 the i-th of n rows decoded (raising
    images.BadImage when it cannot be), called once per row in threads.

    Returns (sums (n, C) uint64, squares (n, C) uint64, {row: reason} of rows that failed)."""
    channels = images_lib.channels(color_mode)
    sums = np.zeros((n, channels), np.uint64)
    squares = np.zeros((n, channels), np.uint64)

    def keep(i, pixels):
        wide = pixels.reshape(-1, channels).astype(np.uint64)
        sums[i], squares[i] = wide.sum(0), (wide * wide).sum(0)

    return sums, squares, _each_row(read, n, keep)


def decode_rows(read, n: int, size: int, color_mode: str):
    """Every one of n rows decoded (read as in `check_rows`) into one array, in threads.

    Returns ((n, size, size, C) uint8, zeros where a row failed; {row: reason} of those)."""
    out = np.zeros((n, size, size, images_lib.channels(color_mode)), np.uint8)

    def keep(i, pixels):
        out[i] = pixels

    return out, _each_row(read, n, keep)


def _each_row(read, n: int, keep) -> dict[int, str]:
    """keep(i, read(i)) for each of n rows, in threads; {row: reason} of the rows whose read
    raised images.BadImage (any other error propagates)."""
    failed = {}

    def one(i):
        try:
            pixels = read(i)
        except images_lib.BadImage as e:
            failed[i] = str(e)
            return
        keep(i, pixels)

    with concurrent.futures.ThreadPoolExecutor(threads()) as pool:
        list(pool.map(one, range(n)))
    return failed
