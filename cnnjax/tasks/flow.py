"""Optical flow: the dense motion between two frames, learnt from pairs made by warping an
image with a known smooth random flow (cnnjax.data.flow).

Data: the dataset's images (any set whose sides divide by 8), training subset
dataset.train_size, validation dataset.val_size held out, test the first flow.test_size test
images (0: all); pixels in [0, 1] (dataset.normalize='scale01'). An image's label is its
identity, split * 2^24 + its index in the split (split 0 train, 1 validation, 2 test). Every
pair is made on the device:

    first  = the image (B, H, W, C) in [0, 1]
    flow   = random_flows(key, ...) (B, H, W, 2), pixels: a flow.grid x flow.grid lattice of
             N(0, flow.sigma^2) displacements, interpolated bicubically
    second = warp(first, flow);  input = [first, second] (B, H, W, 2C);  target = flow

A training pair's flow is drawn afresh from the step's key, so no pair repeats; an evaluation
pair's flow from the key fold_in(PRNGKey(flow.eval_seed), identity), so each
validation or test image always gets the same flow, whatever the batch it falls in, and the
validation and test pairs have flows of their own.

Loss: per pair, the mean squared error over pixels and both components (the squared
end-point error / 2). Sums: loss_sum and the per-pair average end-point error
(cnnjax.data.flow.endpoint_error), masked. Figures: loss, epe (pixels, primary, lower is
better). `zero_flow_figures` scores "no motion" on a split with the same pairs (the baseline a
sweep compares a network with).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from cnnjax import config as config_lib
from cnnjax import data, pipeline
from cnnjax.data.flow import endpoint_error, random_flows, warp
from cnnjax.tasks.base import (
    WITHOUT_CLASSES,
    BatchFns,
    Splits,
    Task,
    baseline_figures,
    dataset_info,
    first_test_images,
    identities,
    mse_loss,
    register,
)
from cnnjax.train import data_setup


def make_pairs(first: jax.Array, flows: jax.Array) -> jax.Array:
    """Stacked frames (B, H, W, 2C): `first` (in [0, 1]) and `first` warped by `flows`."""
    return jnp.concatenate([first, warp(first, flows)], -1)


def flow_sums(outputs: jax.Array, targets: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """Masked sums over pairs of the MSE and the average end-point error, and their count."""
    masked = lambda v: jnp.sum(v * mask)
    return {
        "loss_sum": masked(mse_loss(outputs, targets)[0]),
        "epe_sum": masked(endpoint_error(outputs, targets)),
        "count": jnp.sum(mask),
    }


def flow_figures(total: dict[str, jax.Array]) -> dict[str, jax.Array]:
    n = total["count"]
    return {"loss": total["loss_sum"] / n, "epe": total["epe_sum"] / n, "count": n}


class OpticalFlow(Task):
    name = "flow"
    output_kind = "flow"
    figures = ("loss", "epe")
    train_figures = ("loss",)
    primary = "epe"
    higher_is_better = {"loss": False, "epe": False}
    normalize = ("scale01", "warps images in [0, 1]")
    unsupported = {
        "dataset.augment": "draws a new flow for every pair (augmentation is off here)",
        "mixing": "would blend the frames of different pairs",
        "eval_flip_average": "would mirror the flow's direction",
        **WITHOUT_CLASSES,
        "dataset.permute_pixels": "warps neighbouring pixels: a permutation breaks them",
    }

    def fields(self) -> ml_collections.ConfigDict:
        f = ml_collections.ConfigDict()
        f.sigma = 2.0  # pixels: std of the coarse lattice's displacements
        f.grid = 4  # lattice points per side, interpolated bicubically to the image size
        f.eval_seed = 1  # the validation and test pairs' flows: key (eval_seed, image index)
        f.test_size = 1000  # the first this many test images (0: all)
        return f

    def checks(self):
        return [
            ("sigma", lambda v: config_lib.is_num(v) and v >= 0, "a number >= 0"),
            ("grid", lambda v: config_lib.is_int(v) and v >= 2, "an integer >= 2"),
            ("eval_seed", config_lib.is_int, "an integer"),
            ("test_size", lambda v: config_lib.is_int(v) and v >= 0, "an integer >= 0"),
        ]

    def splits(self, config: ml_collections.ConfigDict) -> Splits:
        ds, train, val, test = data_setup.data_splits(config)
        h, w = train.images.shape[1:3]
        if h % 8 or w % 8:
            raise config_lib.ConfigError(
                f"dataset.name={ds.name!r}: its {h}x{w} images cannot be flow pairs (FlowNet "
                "halves each side three times: the sides must divide by 8)"
            )
        identified = lambda s, split: data.Split(s.images, identities(split, len(s), "flow"))
        test = first_test_images(config, ds.name, test, "flow")
        return Splits(
            identified(train, 0),
            identified(val, 1),
            identified(test, 2),
            num_classes=0,
            class_names=(),
            info={**dataset_info(ds), "sigma": config.flow.sigma, "grid": config.flow.grid},
        )

    def num_outputs(self, config: ml_collections.ConfigDict, splits: Splits) -> int:
        return 2  # (rows, columns)

    def input_shape(self, config: ml_collections.ConfigDict, image_shape) -> tuple[int, ...]:
        h, w, c = image_shape
        return (1, h, w, 2 * c)

    def batch_fns(
        self, config: ml_collections.ConfigDict, normalizer: pipeline.Normalizer, splits: Splits
    ) -> BatchFns:
        return flow_fns(config, normalizer)


def flow_fns(config: ml_collections.ConfigDict, normalizer: pipeline.Normalizer) -> BatchFns:
    """The flow task's functions (module docstring) for config.flow."""
    sigma, grid = config.flow.sigma, config.flow.grid
    eval_key = jax.random.PRNGKey(config.flow.eval_seed)

    def train_batch(key, images, labels):
        first = normalizer(images)
        flows = random_flows(key, first.shape[0], first.shape[1:3], sigma, grid)
        return make_pairs(first, flows), flows

    def eval_batch(images, labels):
        first = normalizer(images)
        def one(identity):  # an image's identity -> its pair's flow (H, W, 2)
            key = jax.random.fold_in(eval_key, identity)
            return random_flows(key, 1, first.shape[1:3], sigma, grid)[0]

        flows = jax.vmap(one)(labels)
        return make_pairs(first, flows), flows

    return BatchFns(
        train_batch=train_batch,
        eval_batch=eval_batch,
        loss=mse_loss,
        eval_sums=flow_sums,
        figures=flow_figures,
    )


def zero_flow_figures(
    config: ml_collections.ConfigDict, split: data.Split, batch_size: int = 500
) -> dict[str, float]:
    """The figures (loss, epe) of predicting no motion on `split`'s evaluation pairs (the task's
    own, so equal to those a network is scored on)."""
    fns = flow_fns(config, pipeline.Normalizer.fit(split.images, "scale01"))

    def sums(x, y, m):
        _, flows = fns.eval_batch(x, y)
        return flow_sums(jnp.zeros_like(flows), flows, m)

    return baseline_figures(split, batch_size, sums, flow_figures)


FLOW = register(OpticalFlow())
