"""A tiny TFDS set for the tests (tests/data/test_data_tfds.py): the embedded digits as PNG
images of varying sizes (each 8a x 8b, a and b in 1..3), 1500 train and 297 test rows.

Defined in a module of a package of its own (not in a test's `__main__`: TFDS reads a builder's
metadata from its package's folder) so that TFDS registers the builder under its name,
'tiny_digits', and reads the prepared copy back by that name. Importing it needs
tensorflow_datasets; preparing it (download_and_prepare) needs TensorFlow too.
"""

import numpy as np
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits

TRAIN = 1500  # the first rows; the other 297 are the test split


class TinyDigits(tfds.core.GeneratorBasedBuilder):
    """The 1797 digits of scikit-learn, grey PNG images of varying sizes."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 1)),
                    "label": tfds.features.ClassLabel(names=[f"digit {i}" for i in range(10)]),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {
            "train": self._generate_examples(0, TRAIN),
            "test": self._generate_examples(TRAIN, None),
        }

    def _generate_examples(self, start, stop):
        digits = load_digits()
        pixels = (digits.images * 16).clip(0, 255).astype(np.uint8)
        rng = np.random.default_rng(0)
        factors = rng.integers(1, 4, (len(pixels), 2))
        for i in range(len(pixels))[start:stop]:
            image = np.kron(pixels[i], np.ones(tuple(factors[i]), np.uint8))[..., np.newaxis]
            yield i, {"image": image, "label": int(digits.target[i])}
