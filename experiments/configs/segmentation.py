"""One FCN trained on the segmentation task (cnnjax.tasks.segmentation): MNIST digits placed
on 48x48 canvases, every pixel labelled with its digit's class or background.

    python -m experiments.train --config=experiments/configs/segmentation.py --workdir=DIR

`:quick` selects scikit-learn's 8x8 digits (embedded, no download) on 16x16 canvases and a
tiny FCN for one epoch (seconds); `:noskip` the FCN without skip connections."""

from cnnjax import tasks
from cnnjax.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.task = "segmentation"
    c.segmentation = tasks.get("segmentation").fields()  # canvas_size 48, max_digits 2, ...
    c.dataset.name = "mnist"  # canvases from its digits: train from train, test from test
    c.dataset.val_size = 5000  # digits held out of train: the validation canvases' digits
    c.dataset.normalize = "scale01"  # pixels in [0, 1]
    c.model = "fcn"  # per-pixel logits, skip connections from the finer stages
    for fcn in ("fcn", "fcn_noskip"):  # channels per stage; its stride is 2^len(widths)
        c.model_args[fcn].update(widths=(16, 32, 64), convs_per_stage=2)
    c.epochs = 8
    c.batch_size = 32  # canvases per step
    c.eval_batch_size = 250  # canvases per evaluation batch
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 3e-3  # peak of the cosine schedule
    c.schedule.name = "cosine"
    variants = variant.split(",") if variant else []
    for v in variants:
        if v == "quick":
            c.dataset.name = "digits"  # 8x8 digits, embedded
            c.dataset.val_size = 150
            c.segmentation.update(
                canvas_size=16, train_canvases=256, val_canvases=32, test_canvases=64
            )
            for fcn in ("fcn", "fcn_noskip"):
                c.model_args[fcn].update(widths=(4, 8), convs_per_stage=1)
            c.epochs = 1
            c.eval_batch_size = 32
        elif v == "noskip":
            c.model = "fcn_noskip"
        else:
            raise ValueError(f"segmentation config: unknown variant {v!r}; valid: quick, noskip")
    return c
