"""One FlowNetSimple trained on the flow task (cnnjax.tasks.flow): CIFAR-10 images warped by
known smooth random flows, the flow learnt from the stacked pair.

    python -m experiments.train --config=experiments/configs/flow.py --workdir=DIR

`:quick` selects scikit-learn's 8x8 digits (embedded, no download), a tiny network and two
epochs of a few hundred images (seconds)."""

from cnnjax import tasks
from cnnjax.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.task = "flow"
    c.flow = tasks.get("flow").fields()  # sigma 2 px, a 4x4 lattice, 1000 test pairs
    c.dataset.name = "cifar10"  # any set with sides divisible by 8
    c.dataset.train_size = 8000  # first frames: each epoch pairs them with new flows
    c.dataset.val_size = 1000  # images held out of train: the validation pairs per epoch
    c.dataset.normalize = "scale01"  # pixels in [0, 1]: the frames are warped there
    c.model = "flownet_simple"
    c.model_args.flownet_simple.widths = (32, 64, 128)
    c.epochs = 8  # 8 x 250 = 2000 steps
    c.batch_size = 32  # pairs per step
    c.eval_batch_size = 500
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3  # peak of the cosine schedule
    c.schedule.name = "cosine"
    c.loss.l2 = 0.0
    for v in variant.split(",") if variant else []:
        if v == "quick":
            c.dataset.name = "digits"  # 8x8 digits, embedded
            c.dataset.train_size = 320
            c.dataset.val_size = 64
            c.flow.sigma = 1.0
            c.flow.test_size = 64
            c.model_args.flownet_simple.widths = (4, 8, 8)
            c.epochs = 2
            c.batch_size = 16
            c.eval_batch_size = 64
        else:
            raise ValueError(f"flow config: unknown variant {v!r}; valid: quick")
    return c
