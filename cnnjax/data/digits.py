"""scikit-learn's 8x8 handwritten digits, for quick experiments with no files.

The 1797 images (values 0..16) are scaled to uint8 as round(x * 255 / 16) and
shaped (N, 8, 8, 1). They are split once, deterministically and stratified by
class: 1437 train / 360 test (sklearn train_test_split, test_size=360,
random_state=0).
"""

import numpy as np

from cnnjax.data.dataset import Dataset, Split

TEST_SIZE = 360
SPLIT_SEED = 0
MAX_VALUE = 16


def load_digits() -> Dataset:
    """Returns the digits set: (N, 8, 8, 1) uint8 images, int32 labels in [0, 10)."""
    from sklearn import datasets, model_selection  # Imported here: slow to import.

    bunch = datasets.load_digits()
    images = np.round(bunch.images * 255 / MAX_VALUE).astype(np.uint8)[..., np.newaxis]
    labels = bunch.target.astype(np.int32)
    train_images, test_images, train_labels, test_labels = model_selection.train_test_split(
        images, labels, test_size=TEST_SIZE, stratify=labels, random_state=SPLIT_SEED
    )
    return Dataset(
        name="digits",
        train=Split(images=train_images, labels=train_labels),
        test=Split(images=test_images, labels=test_labels),
        class_names=tuple(str(digit) for digit in range(10)),
        source="sklearn",
    )
