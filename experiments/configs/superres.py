"""One super-resolution network trained on the superres task (cnnjax.tasks.superres): MNIST
images downscaled x2 by bicubic interpolation, SRCNN restoring them from their bicubic
up-sampling.

    python -m experiments.train --config=experiments/configs/superres.py --workdir=DIR

`:quick` selects scikit-learn's 8x8 digits (embedded, no download), a few hundred images and
one epoch (seconds); `:espcn` the sub-pixel network, `:x4` the factor 4 (comma-separated:
`:quick,espcn`)."""

from cnnjax import tasks
from cnnjax.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.task = "superres"
    c.superres = tasks.get("superres").fields()  # scale 2, test_size 1000
    c.dataset.name = "mnist"
    c.dataset.train_size = 10000  # high-resolution training images (a fixed subset)
    c.dataset.val_size = 1000  # images held out of train: the validation figures per epoch
    c.dataset.normalize = "scale01"  # pixels in [0, 1]: the task scores images there
    c.model = "srcnn"
    c.epochs = 6
    c.batch_size = 64  # images per step
    c.eval_batch_size = 500
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3  # peak of the cosine schedule
    c.schedule.name = "cosine"
    c.loss.l2 = 0.0  # coefficient of sum(kernel^2) / 2
    for v in variant.split(",") if variant else []:
        if v == "quick":
            c.dataset.name = "digits"  # 8x8 digits, embedded
            c.dataset.train_size = 256
            c.dataset.val_size = 64
            c.superres.test_size = 64
            c.model_args.srcnn.widths = (8, 4)
            c.model_args.espcn.widths = (8, 4)
            c.epochs = 1
            c.batch_size = 32
            c.eval_batch_size = 64
        elif v == "espcn":
            c.model = "espcn"
        elif v == "x4":
            c.superres.scale = 4
        else:
            raise ValueError(f"superres config: unknown variant {v!r}; valid: quick, espcn, x4")
    return c
