"""The comparison grid of experiments/superres.py (one training of the task:
experiments/configs/superres.py): SRCNN and ESPCN against bicubic up-sampling at
x2 and x4, on MNIST and CIFAR-10 images downscaled by bicubic interpolation.

`--config=experiments/configs/superres_grid.py:quick` selects scikit-learn's 8x8 digits (no
download), x2 only, a few hundred images and one epoch (seconds)."""

import ml_collections

from cnnjax import models
from cnnjax.config import base_config

# What the runner's results test (experiments/results/README.md lists it).
CLAIM = (
    "A CNN trained end to end to map a low-resolution image to a high-resolution one beats "
    "bicubic interpolation (SRCNN, Dong et al. 2014); ESPCN's sub-pixel convolution, working at "
    "low resolution and up-sampling by a pixel shuffle at its end, does as well at a fraction "
    "of the cost (Shi et al. 2016)."
)


def get_config(variant: str | None = None):
    c = ml_collections.ConfigDict()
    c.results_dir = "experiments/results/superres"  # results.md, results.json, PNGs
    c.workdir = "runs/superres"  # one file per finished training: a rerun skips it
    c.datasets = ("mnist", "cifar10")  # cnnjax.data names; every side divisible by each scale
    c.data_dir = ""  # '' -> $CNNJAX_DATA_DIR, the default places
    c.exact_counts = True  # files must hold the official releases' record counts
    c.scales = (2, 4)  # up-sampling factors r: low resolution = high / r (bicubic, antialiased)
    c.train_size = 10000  # high-resolution images of the training split (a fixed subset)
    c.test_size = 1000  # of the test split: every score is over these
    c.data_seed = 0  # which training images
    c.models = ("srcnn", "espcn")  # registry names (cnnjax.models, output 'image')
    # Constructor fields per model, with their defaults (ESPCN's `scale` is set by the runner).
    c.model_args = ml_collections.ConfigDict(
        {
            name: {k: v for k, v in models.hyperparameters(name).items() if k != "scale"}
            for name in ("srcnn", "espcn")
        }
    )
    c.seeds = 2  # trainings per (dataset, scale, model), seeds 0 .. seeds-1
    c.epochs = 6
    c.batch_size = 64  # images per step
    c.eval_batch_size = 500
    base = base_config()
    c.optimizer = base.optimizer  # cnnjax.optim fields; Adam with a cosine schedule here
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3  # peak
    c.schedule = base.schedule
    c.l2 = 0.0  # coefficient of sum(kernel^2) / 2
    c.num_pictures = 4  # test images shown per (dataset, scale)
    if variant == "quick":
        c.update(
            dict(
                results_dir="/tmp/cnnjax_superres_quick",
                workdir="/tmp/cnnjax_superres_quick/runs",
                datasets=("digits",),
                scales=(2,),
                train_size=256,
                test_size=64,
                seeds=2,
                epochs=1,
                batch_size=32,
                eval_batch_size=64,
                num_pictures=2,
            )
        )
        c.model_args.srcnn.widths = (8, 4)
        c.model_args.espcn.widths = (8, 4)
    elif variant:
        raise ValueError(f"superres config: unknown variant {variant!r}; valid: 'quick'")
    return c
