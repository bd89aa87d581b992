"""Stratified splits: a held-out part with every class in its share of the whole.

scikit-learn's `train_test_split(stratify=labels)` draws it (each class's count rounded so the
total is exact); this wrapper keeps both parts in their original order and turns its errors
into messages that name the class and the config field.
"""

from __future__ import annotations

import numpy as np

from cnnjax.data.dataset import Split
from cnnjax.data.errors import DataError


def stratified_indices(
    labels: np.ndarray, held_out: float | int, seed: int, class_names=None, what: str = "split"
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held-out) sorted indices into `labels`: `held_out` examples (an int) or that
    fraction of them (a float in (0, 1)), drawn per class with `seed`."""
    from sklearn import model_selection  # Imported here: slow to import.

    counts = np.bincount(labels)
    name = lambda c: repr(class_names[c]) if class_names is not None else str(c)
    small = [c for c in np.flatnonzero(counts) if counts[c] < 2]
    if small:
        raise DataError(
            f"{what}: class {name(small[0])} has {counts[small[0]]} example; a stratified "
            "split needs at least 2 of every class"
        )
    try:
        kept, out = model_selection.train_test_split(
            np.arange(len(labels)), test_size=held_out, stratify=labels, random_state=seed
        )
    except ValueError as e:
        raise DataError(
            f"{what}: cannot hold out {held_out!r} of {len(labels)} examples "
            f"stratified by class: {e}"
        ) from e
    return np.sort(kept), np.sort(out)


def stratified_split(
    split: Split, held_out: float | int, seed: int, class_names=None, what: str = "split"
) -> tuple[Split, Split]:
    """(kept, held-out) parts of `split`, stratified by class (see `stratified_indices`)."""
    kept, out = stratified_indices(split.labels, held_out, seed, class_names, what)
    return (
        Split(split.images[kept], split.labels[kept]),
        Split(split.images[out], split.labels[out]),
    )
