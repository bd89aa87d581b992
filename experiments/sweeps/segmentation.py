"""FCN with and without skip connections on digit canvases (cnnjax.tasks.segmentation)."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.report import pictures
from cnnjax.train.trained import load_trained
from experiments.configs import segmentation
from experiments.sweeps.grid import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "A fully convolutional network labels every pixel; fusing the coarse, strided predictions "
    "with skip connections from finer layers recovers the detail that one large up-sampling "
    "step loses (Long et al. 2015: FCN-32s → FCN-8s)."
)

COMPARISONS = (
    Comparison("skip connections raise the test mean IoU", "fcn", "fcn_noskip", "test_mean_iou"),
    Comparison(
        "skip connections raise the test pixel accuracy", "fcn", "fcn_noskip", "test_accuracy"
    ),
)

NOTES = """
Every pixel of a canvas is one of eleven classes (background and the ten digits); most pixels are
background, so the pixel accuracy is high for both networks ({{pct test_accuracy fcn}} with
skips, {{pct test_accuracy fcn_noskip}} without) and the mean intersection over union of the
classes is the figure that tells them apart: {{mean test_mean_iou fcn}} with skips against
{{mean test_mean_iou fcn_noskip}} without ({{points 1}}). Without skips the network up-samples
its coarsest prediction in one step, and thin strokes blur into their neighbours; the skips
add the finer stages' predictions before each up-sampling, with fewer parameters here
({{count num_params fcn}} against {{count num_params fcn_noskip}}).
"""

NUM_PICTURES = 6  # test canvases shown with truth and each network's prediction


def get_sweep(quick: bool) -> Sweep:
    base = (lambda: segmentation.get_config("quick")) if quick else segmentation.get_config
    runs = (
        Run("fcn_noskip", {"model": "fcn_noskip"}, {"network": "FCN, one up-sampling step"}),
        Run("fcn", {"model": "fcn"}, {"network": "FCN with skip connections"}),
    )
    return Sweep(
        name="segmentation",
        claim=CLAIM,
        notes=NOTES,
        comparisons=COMPARISONS,
        base=base,
        runs=runs,
        num_seeds=2 if quick else 3,
        figures=("test_mean_iou", "test_accuracy", "test_mean_class_accuracy", "final_train_loss"),
        curves=("val_mean_iou", "train_loss"),
        plots=plots,
    )


def plots(sweep: Sweep, workdir: str, results_dir: str, summaries: dict[str, dict]) -> list[str]:
    """segmentation_examples.png: per test canvas, the input, the truth and each network's
    prediction (its first seed)."""
    del summaries
    shown, truth, columns = {}, None, ["input", "truth"]
    for run in sweep.runs:
        trained = load_trained(os.path.join(workdir, run.name))
        images = trained.test_images[:NUM_PICTURES]
        inputs, labels = trained.eval_batch(jnp.asarray(images), trained.test_labels[:NUM_PICTURES])
        logits = jax.jit(lambda v, x: trained.model.apply(v, x, train=False))(
            trained.variables, inputs
        )
        shown[run.name] = np.asarray(jnp.argmax(logits, -1))
        truth, columns = (images, np.asarray(labels)), columns + [run.name]
    k = len(trained.class_names)
    tiles, titles = [], []
    for i in range(len(truth[0])):
        tiles += [truth[0][i] / 255.0, pictures.label_colours(truth[1][i], k)]
        tiles += [pictures.label_colours(shown[run.name][i], k) for run in sweep.runs]
        titles += columns if i == 0 else [""] * len(columns)
    name = "segmentation_examples.png"
    pictures.save_grid(
        os.path.join(results_dir, name),
        tiles,
        titles,
        columns=len(columns),
        title="test canvases: black = background, one colour per digit class",
    )
    return [name]
