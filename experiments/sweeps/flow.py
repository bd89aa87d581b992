"""FlowNetSimple against zero flow on warped image pairs (cnnjax.tasks.flow); zero flow is a
baseline row computed by the aggregation."""

from __future__ import annotations

import os

import jax
import numpy as np

from cnnjax import tasks
from cnnjax.data.flow import endpoint_error
from cnnjax.report import pictures
from cnnjax.tasks.flow import zero_flow_figures
from cnnjax.train.trained import load_trained
from experiments.configs import flow
from experiments.sweeps.grid import Baseline, Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "A CNN reading two stacked frames learns dense optical flow end to end (FlowNetSimple, "
    "Dosovitskiy et al. 2015), far better than assuming no motion."
)

COMPARISONS = (
    Comparison(
        "FlowNetSimple's end-point error is below zero flow's",
        "flownet_simple",
        "zero_flow",
        "test_epe",
        claim="lower",
    ),
)

NOTES = """
Every pair is an image and its warp by a smooth random flow whose true value is known, so the
end-point error (EPE) of a prediction is exact. Predicting no motion scores the mean flow
magnitude, {{mean test_epe zero_flow}} pixels; FlowNetSimple, reading both frames stacked,
reaches {{mean test_epe flownet_simple}} pixels ({{diff 1}}). The pictures put the true and
the predicted field side by side in the colour wheel; where the first frame is flat, a
displacement moves nothing visible, so the frames hold no evidence of the flow there.
"""

NUM_PICTURES = 4  # test pairs shown with their true and predicted flow


def zero_flow_test_figures(config) -> dict[str, float]:
    """Zero flow's test figures on a run's data: its EPE is the mean flow magnitude."""
    test = tasks.of(config).splits(config).test
    found = zero_flow_figures(config, test, config.eval_batch_size)
    return {f"test_{k}": v for k, v in found.items()}


def get_sweep(quick: bool) -> Sweep:
    base = (lambda: flow.get_config("quick")) if quick else flow.get_config
    return Sweep(
        name="flow",
        claim=CLAIM,
        notes=NOTES,
        comparisons=COMPARISONS,
        base=base,
        runs=(Run("flownet_simple", {}, {"method": "FlowNetSimple"}),),
        baselines=(
            Baseline(
                "zero_flow", like="flownet_simple", labels={"method": "zero flow"},
                figures=zero_flow_test_figures,
            ),
        ),
        num_seeds=2,
        figures=("test_epe", "test_loss", "best_val_epe", "final_train_loss"),
        curves=("val_epe", "train_loss"),
        plots=plots,
    )


def plots(sweep: Sweep, workdir: str, results_dir: str, summaries: dict[str, dict]) -> list[str]:
    """flow_examples.png: per test pair, both frames, the true and the predicted flow (the
    first seed's network), on one colour scale per pair."""
    del summaries
    trained = load_trained(os.path.join(workdir, "flownet_simple"))
    images = trained.test_images[:NUM_PICTURES]
    frames, flows = trained.eval_batch(images, trained.test_labels[:NUM_PICTURES])
    predicted = jax.jit(lambda v, x: trained.model.apply(v, x, train=False))(
        trained.variables, frames
    )
    errors = np.asarray(endpoint_error(predicted, flows))
    frames, flows, predicted = (np.asarray(a) for a in (frames, flows, predicted))
    channels = frames.shape[-1] // 2
    tiles, titles = [], []
    for i in range(len(images)):
        top = float(np.hypot(flows[i, ..., 0], flows[i, ..., 1]).max())
        tiles += [
            frames[i, ..., :channels],
            frames[i, ..., channels:],
            pictures.flow_colours(flows[i], top),
            pictures.flow_colours(predicted[i], top),
        ]
        titles += ["first", "second", f"true (max {top:.1f} px)", f"EPE {errors[i]:.2f} px"]
    name = "flow_examples.png"
    pictures.save_grid(
        os.path.join(results_dir, name),
        tiles,
        titles,
        columns=4,
        title="test pairs: hue = direction, saturation = magnitude (white: no motion)",
    )
    return [name]
