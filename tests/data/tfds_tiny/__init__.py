"""A tiny TFDS set for the tests (a package: TFDS reads a builder's metadata from its folder)."""
