"""Predictions of a trained run on image files, with the run's own preprocessing.

    predictor = predict.Predictor.load("runs/flowers")          # latest checkpoint
    images = predictor.read(["rose.jpg", "tulip.png"])          # (N, H, W, C) uint8
    probabilities = predictor.probabilities(images)             # (N, num_classes)

The run's preprocessing is what its training and test images went through:
- an image folder run (dataset.name='folder') decodes every file as it decoded its own images
  (`cnnjax.data.images.decode`: shorter side to its image_size, centre crop, its colour mode;
  with color_mode 'auto' a file of the other mode is an error, as it was in training);
- a run on a named dataset (MNIST, CIFAR-10, ...) takes images of exactly its size and mode,
  and names the file of any other (`resize=True` applies the folder policy instead);
- then the run's pixel permutation (dataset.permute_pixels) and its normalisation (the
  training split's channel statistics recorded in summary.json).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnnjax import config as config_lib
from cnnjax import data, models, pipeline, report
from cnnjax.data import images as images_lib
from cnnjax.train import data_setup, trained
from cnnjax.train.errors import WorkdirError

BATCH = 256  # images per forward pass


class PredictError(ValueError):
    """A path that is not an image the run can take; the message names the file."""


def image_paths(paths) -> list[str]:
    """The image files among `paths`: files as given, folders walked (sorted) for files with an
    image extension. Raises PredictError for a path that does not exist, a file without an
    image extension, or no image at all."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                found += [
                    os.path.join(dirpath, f)
                    for f in sorted(filenames)
                    if images_lib.is_image_name(f) and not f.startswith(".")
                ]
        elif os.path.isfile(path):
            if not images_lib.is_image_name(path):
                raise PredictError(
                    f"{path}: not an image file (expected {', '.join(images_lib.IMAGE_EXTENSIONS)})"
                )
            found.append(path)
        else:
            raise PredictError(f"{path}: no such file or folder")
    if not found:
        raise PredictError(f"no image files in {', '.join(map(str, paths))}")
    return found


def _facts(workdir: str, config: ml_collections.ConfigDict) -> dict[str, Any]:
    """image_shape, num_classes, class_names, channel_mean/std of the run: from its
    summary.json, or (a run still in progress) from its data."""
    path = os.path.join(workdir, "summary.json")
    if os.path.isfile(path):
        summary = report.read_json(path)
        names = summary.get("class_names") or [str(i) for i in range(summary["num_classes"])]
        return {**summary, "class_names": names}
    ds, train, _, _ = data_setup.data_splits(config, streams=True)  # a streamed folder: lazy
    normalizer = pipeline.Normalizer.fit(train.images, config.dataset.normalize)
    return {
        "image_shape": list(train.images.shape[1:]),
        "num_classes": ds.num_classes,
        "class_names": list(ds.class_names),
        "channel_mean": list(normalizer.mean),
        "channel_std": list(normalizer.std),
    }


@dataclasses.dataclass
class Predictor:
    """A run's model and variables with its preprocessing (see the module docstring)."""

    config: ml_collections.ConfigDict
    model: Any
    variables: dict[str, Any]
    normalizer: pipeline.Normalizer
    image_shape: tuple[int, int, int]  # (H, W, C) of the run's images
    class_names: tuple[str, ...]
    resize: bool = False  # named-dataset runs: resize other sizes instead of failing

    @classmethod
    def load(
        cls, workdir: str, best: bool = False, replica: int = 0, resize: bool = False
    ) -> "Predictor":
        """The run in `workdir`: its latest checkpoint, or with `best` the best epoch's
        variables (early stopping); replica `replica` of a multi-seed run."""
        config = trained.run_config(workdir)
        if not 0 <= replica < config.num_seeds:
            raise WorkdirError(
                f"replica={replica}: the run in {workdir} trained {config.num_seeds} seed(s)"
            )
        facts = _facts(workdir, config)
        shape = tuple(facts["image_shape"])
        variables = trained.restore_variables(
            workdir, config, facts["num_classes"], shape, best=best, replica=replica
        )
        model = models.create(
            config.model, facts["num_classes"], **config_lib.model_overrides(config)
        )
        normalizer = pipeline.Normalizer(tuple(facts["channel_mean"]), tuple(facts["channel_std"]))
        return cls(config, model, variables, normalizer, shape, tuple(facts["class_names"]), resize)

    @property
    def color_mode(self) -> str:
        return "grayscale" if self.image_shape[2] == 1 else "rgb"

    def _check(self, path: str) -> None:
        """Raises PredictError if the file is not an image this run takes as it is."""
        try:
            family, size = images_lib.header(path)
        except images_lib.BadImage as e:
            raise PredictError(f"{path}: {e}") from e
        h, w, _ = self.image_shape
        folder = self.config.dataset.name == "folder"
        converts = folder and self.config.dataset.get("color_mode", "auto") != "auto"
        if family != self.color_mode and not converts:
            raise PredictError(
                f"{path}: a {family} image; the run ({self.config.dataset.name}) trained on "
                f"{self.color_mode} images"
            )
        if not folder and not self.resize and size != (w, h):
            raise PredictError(
                f"{path}: {size[0]}x{size[1]} pixels; the run ({self.config.dataset.name}) "
                f"takes {w}x{h} images (--resize, or resize=True, resizes the shorter side and "
                "crops the centre)"
            )

    def read(self, paths) -> np.ndarray:
        """(N, H, W, C) uint8: the image files `paths` preprocessed as the run's images were,
        pixel permutation included. Raises PredictError naming the first bad file."""
        h, w, _ = self.image_shape
        out = np.zeros((len(paths),) + self.image_shape, np.uint8)
        for i, path in enumerate(paths):
            self._check(path)
            try:
                out[i] = images_lib.decode(path, h, self.color_mode)
            except images_lib.BadImage as e:
                raise PredictError(f"{path}: {e}") from e
        if self.config.dataset.permute_pixels:
            order = pipeline.pixel_permutation(h, w, self.config.dataset.split_seed)
            out = pipeline.permute_pixels(data.Split(out, np.zeros(len(out), np.int32)), order)
            out = out.images
        return out

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(N, num_classes) float32 softmax probabilities of uint8 images (N, H, W, C)."""
        if images.dtype != np.uint8 or images.shape[1:] != self.image_shape:
            raise PredictError(
                f"images must be (N, {', '.join(map(str, self.image_shape))}) uint8, got "
                f"{images.shape} {images.dtype}"
            )
        forward = _forward(self.model)
        chunks = [
            np.asarray(forward(self.variables, self.normalizer(jnp.asarray(images[i : i + BATCH]))))
            for i in range(0, len(images), BATCH)
        ]
        return np.concatenate(chunks)


def _forward(model):
    return jax.jit(lambda v, x: jax.nn.softmax(model.apply(v, x, train=False), axis=-1))


def top_k(probabilities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(classes (N, k), probabilities (N, k)) of the k most probable classes, most probable
    first (ties: the lower class index first)."""
    k = min(k, probabilities.shape[1])
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(probabilities, order, axis=1)
