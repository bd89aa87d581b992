"""FCN segmentation (experiments/segmentation.py): digits placed on a canvas, every pixel
labelled with its digit's class or background; FCN with and without skip connections.

`--config=experiments/configs/segmentation.py:quick` selects scikit-learn's 8x8 digits (no
download) on small canvases, tiny networks and one epoch (seconds); flags like
--config.epochs=2 still apply on top."""

import ml_collections

from cnnjax.config import base_config

# What the runner's results test (experiments/results/README.md lists it).
CLAIM = (
    "A fully convolutional network labels every pixel; fusing the coarse, strided predictions "
    "with skip connections from finer layers recovers the detail that one large up-sampling "
    "step loses (Long et al. 2015: FCN-32s → FCN-8s)."
)


def get_config(variant: str | None = None):
    c = ml_collections.ConfigDict()
    c.results_dir = "experiments/results/segmentation"  # results.md, results.json, PNGs
    c.workdir = "runs/segmentation"  # one file per finished training: a rerun skips it
    # cnnjax.data.segmentation.digit_canvases: training canvases from the dataset's training
    # digits (seed data_seed), test canvases from its test digits (seed data_seed + 1).
    c.dataset = "mnist"  # a cnnjax.data name with grey digits: mnist, fashion_mnist, digits
    c.data_dir = ""  # '' -> $CNNJAX_DATA_DIR, the default places
    c.exact_counts = True  # files must hold the official releases' record counts
    c.canvas_size = 48  # pixels; divisible by 2^len(widths)
    c.max_digits = 2  # digits per canvas: 1 .. max_digits
    c.threshold = 128  # ink threshold (0-255) of a labelled pixel
    c.train_canvases = 6000
    c.test_canvases = 1000
    c.data_seed = 0
    c.models = ("fcn_noskip", "fcn")  # registry names (cnnjax.models, output 'pixel_logits')
    c.model_args = ml_collections.ConfigDict(dict(widths=(16, 32, 64), convs_per_stage=2))
    c.seeds = 3  # trainings per model, seeds 0 .. seeds-1
    c.epochs = 8
    c.batch_size = 32  # canvases per step
    c.eval_batch_size = 250  # canvases per evaluation batch
    base = base_config()
    c.optimizer = base.optimizer  # cnnjax.optim fields; Adam with a cosine schedule here
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 3e-3  # peak
    c.schedule = base.schedule
    c.plateau = base.plateau  # off; the step needs its (unit) scale
    c.loss = base.loss  # l2 etc.: per-pixel cross-entropy + penalty
    c.num_pictures = 6  # test canvases shown with truth and each model's prediction
    if variant == "quick":
        c.update(
            dict(
                results_dir="/tmp/cnnjax_segmentation_quick",
                workdir="/tmp/cnnjax_segmentation_quick/runs",
                dataset="digits",
                canvas_size=16,
                train_canvases=256,
                test_canvases=64,
                seeds=2,
                epochs=1,
                batch_size=32,
                eval_batch_size=32,
                num_pictures=3,
            )
        )
        c.model_args.widths = (4, 8)
        c.model_args.convs_per_stage = 1
    elif variant:
        raise ValueError(f"segmentation config: unknown variant {variant!r}; valid: 'quick'")
    return c
