"""Pictures of a trained run: first-layer filters, feature maps, Grad-CAM / CAM, mistakes.

    python -m experiments.visualize --workdir=runs/cifar10 [--image_index=3] [--class_index=5]

Writes into <workdir>/visualize/ (or --out): filters.png, activations.png, heatmaps.png and
mistakes.png (the test images the model gets most confidently wrong).
"""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from cnnjax import interpret
from cnnjax.report import pictures
from cnnjax.train import errors, workdir
from cnnjax.train.trained import load_trained
from experiments import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A run folder (config.json + checkpoints/).", required=True)
flags.DEFINE_string("data_dir", None, "Folder with the dataset files (default: the run's).")
flags.DEFINE_string("out", None, "Output folder (default <workdir>/visualize).")
flags.DEFINE_integer("image_index", 0, "Test image whose feature maps are drawn.")
flags.DEFINE_integer("class_index", -1, "Heatmaps also for this class (-1: predicted only).")
flags.DEFINE_integer("num_images", 8, "Test images in heatmaps.png.")
flags.DEFINE_integer("num_mistakes", 24, "Images in mistakes.png.")
flags.DEFINE_string("layer", "", "Module path for Grad-CAM/CAM ('': the last feature map).")
flags.DEFINE_integer("replica", 0, "Which seed of a multi-seed run.")


def draw_filters(path: str, kernel: np.ndarray) -> None:
    """Each output channel's (kh, kw, C_in) filter, scaled to [0, 1] on its own."""
    kernel = np.asarray(kernel)
    rgb = kernel.shape[2] == 3  # else the mean over input channels, in grey
    filters = [pictures.to_unit(f if rgb else f.mean(axis=-1)) for f in np.moveaxis(kernel, -1, 0)]
    pictures.save_grid(
        path,
        filters,
        columns=min(16, len(filters)),
        title=f"first-layer filters {kernel.shape[0]}x{kernel.shape[1]}",
    )


def draw_activations(path: str, trained, image: np.ndarray) -> None:
    """Up to 16 channels of every sown intermediate feature map of one image."""
    x = trained.normalizer(jnp.asarray(image[None]))
    _, cols = trained.model.apply(trained.variables, x, train=False, mutable=["intermediates"])
    flat = jax.tree_util.tree_flatten_with_path(cols.get("intermediates", {}))[0]
    tiles, titles = [], []
    for key_path, value in flat:
        if value.ndim != 4:
            continue
        name = "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in key_path[:-1])
        maps = np.asarray(value[0])
        for c in range(16):
            tiles.append(pictures.to_unit(maps[..., c]) if c < maps.shape[-1] else np.ones((1, 1)))
            titles.append(f"{name} #{c}" if c == 0 else f"#{c}")
    pictures.save_grid(path, tiles, titles, columns=16, title="feature maps of one test image")


def draw_heatmaps(path: str, trained, layer: str, class_index: int, n: int) -> None:
    images = trained.test_images[:n]
    x = trained.normalizer(jnp.asarray(images))
    apply = trained.model.apply
    predicted = jnp.argmax(apply(trained.variables, x, train=False), axis=-1)
    size = images.shape[1:3]
    columns = [("Grad-CAM, predicted", predicted)]
    if class_index >= 0:
        columns.append((f"Grad-CAM, class {class_index}", jnp.full_like(predicted, class_index)))
    maps = [
        interpret.upsample(interpret.grad_cam(apply, trained.variables, x, c, layer), size)
        for _, c in columns
    ]
    try:
        cam = interpret.cam(apply, trained.variables, x, predicted, layer)
        columns.append(("CAM, predicted", predicted))
        maps.append(interpret.upsample(cam, size))
    except ValueError:
        pass  # not a global-average-pooling + linear head: Grad-CAM only
    tiles, titles = [], []
    names = trained.class_names
    for i in range(n):
        tiles.append(images[i] / 255.0)
        titles.append(f"true {names[int(trained.test_labels[i])]}")
        for (label, classes), m in zip(columns, maps):
            tiles.append(pictures.overlay(images[i] / 255.0, np.asarray(m[i])))
            titles.append(f"{label}: {names[int(classes[i])]}")
    pictures.save_grid(
        path, tiles, titles, columns=1 + len(columns), title=f"heatmaps at layer {layer}"
    )


def draw_mistakes(path: str, trained, n: int) -> None:
    """The test images misclassified with the highest predicted probability."""
    probs = []
    for start in range(0, len(trained.test_labels), 1000):
        x = trained.normalizer(jnp.asarray(trained.test_images[start : start + 1000]))
        logits = trained.model.apply(trained.variables, x, train=False)
        probs.append(np.asarray(jax.nn.softmax(logits)))
    probs = np.concatenate(probs)
    predicted = probs.argmax(-1)
    wrong = np.flatnonzero(predicted != trained.test_labels)
    worst = wrong[np.argsort(-probs[wrong, predicted[wrong]])][:n]
    names = trained.class_names
    titles = [
        f"{names[int(trained.test_labels[i])]} -> {names[predicted[i]]} "
        f"{probs[i, predicted[i]]:.2f}"
        for i in worst
    ]
    pictures.save_grid(
        path,
        [trained.test_images[i] / 255.0 for i in worst],
        titles,
        title=f"most confident mistakes ({len(wrong)} of {len(probs)} wrong)",
    )


def main(argv):
    del argv
    try:  # a bad folder, or a run with no checkpoint that restores: one line
        trained = load_trained(FLAGS.workdir, FLAGS.data_dir, FLAGS.replica)
        out = workdir.ensure_folder(FLAGS.out or os.path.join(FLAGS.workdir, "visualize"), "--out")
    except (ValueError, errors.RunError) as e:
        sys.exit(f"error: {e}")
    x = trained.normalizer(jnp.asarray(trained.test_images[:1]))
    apply = trained.model.apply
    layer = FLAGS.layer or interpret.last_feature_map(apply, trained.variables, x)
    kernel = interpret.first_conv_kernel(apply, trained.variables, x)
    draw_filters(os.path.join(out, "filters.png"), kernel)
    draw_activations(
        os.path.join(out, "activations.png"), trained, trained.test_images[FLAGS.image_index]
    )
    draw_heatmaps(
        os.path.join(out, "heatmaps.png"), trained, layer, FLAGS.class_index, FLAGS.num_images
    )
    draw_mistakes(os.path.join(out, "mistakes.png"), trained, FLAGS.num_mistakes)
    print(f"filters, activations, heatmaps (layer {layer}) and mistakes in {out}")


if __name__ == "__main__":
    cli.run(main)
