"""The run configuration: every field with its default, and validation before any compile.

Config files in experiments/configs/ start from `base_config()` and change what they need;
`validate(config)` rejects unknown names (with the list of valid ones) and bad values (naming
the field) before any data is read or any function compiled.
"""

from __future__ import annotations

import numbers
import os
from typing import Any, Callable

import ml_collections

from cnnjax import augment, data, models, optim, pipeline
from cnnjax.losses import PENALIZE_CHOICES


def base_config() -> ml_collections.ConfigDict:
    """All fields of a run, with defaults. Units are in the comments."""
    c = ml_collections.ConfigDict()
    # cnnjax.tasks: what is trained (data, batch preparation, loss, metrics); a task with
    # fields of its own reads them from config.<task> (experiments/configs/<task>.py)
    c.task = "classification"  # classification | segmentation | superres | flow | genomic | gan
    c.seed = 0  # initialisation, dropout, epoch order, augmentation
    c.epochs = 10  # passes over the training split
    c.batch_size = 128  # examples per training step
    c.eval_batch_size = 1000  # examples per evaluation batch (the last one is padded+masked)
    # True: the summary also reports test_accuracy_flip / test_loss_flip, each test image's
    # logits averaged with its mirror image's (test-time augmentation; images only)
    c.eval_flip_average = False  # True: also test with test-time horizontal flips
    # True (with eval_flip_average): the _flip figures average 6 views, weights 1/2 for the
    # flip-averaged image and 1/4 for each flip-averaged copy shifted one pixel up-left and
    # down-right (reflect padding): airbench's test-time augmentation
    c.eval_translate_average = False  # True: add the one-pixel shifts to the test-time flips
    c.steps_per_sync = 0  # steps between host syncs (progress, signals); 0: epoch / 10
    # True: the steps between two host syncs run as one compiled lax.fori_loop (the data in
    # memory); with steps_per_sync = the steps of an epoch, an epoch is one program (GPUs;
    # XLA's CPU backend runs convolutions slower inside loops)
    c.scan_steps = False  # True: one compiled loop per host sync instead of a call per step
    c.num_seeds = 1  # K > 1: train seeds seed .. seed+K-1 together in one vmapped step
    c.num_devices = 1  # data-parallel devices (batch split over them); 0: all devices
    c.compute_dtype = "float32"  # bfloat16: mixed precision (float32 params, state)
    c.compile_cache_dir = ""  # '' -> runtime.compilation_cache_dir(): env vars, ~/.cache; 'off'

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "digits"
    c.dataset.data_dir = ""  # '' -> $CNNJAX_DATA_DIR, system locations, TFDS
    c.dataset.exact_counts = True  # files must hold the official releases' record counts
    c.dataset.val_size = 0  # examples held out of train for validation
    c.dataset.split_seed = 0  # the validation split's seed (fixed across training seeds)
    c.dataset.train_size = 0  # > 0: train on this many examples of the training split
    c.dataset.classes = ()  # keep only these classes, relabelled 0, 1, ... in this order; ()=all
    c.dataset.train_per_class = 0  # > 0: this many training examples of every class
    c.dataset.subset_per_seed = False  # True: each seed its own train_size / per-class subset
    c.dataset.permute_pixels = False  # one fixed pixel permutation (seed split_seed) everywhere
    c.dataset.normalize = "standardize"  # standardize | scale01 | none | imagenet (its RGB stats)
    c.dataset.stratified_val = False  # True: the val_size holdout keeps every class's share
    # name='folder' (cnnjax.data.folder): data_dir/<class>/<image> or data_dir/train/<class>/...
    c.dataset.image_size = 64  # pixels: shorter side resized to it, then the centre square
    c.dataset.color_mode = "auto"  # auto (the mode all images share) | rgb | grayscale
    c.dataset.skip_bad_images = False  # True: skip unusable files (listed in summary.json)
    c.dataset.folder_test_fraction = 0.2  # without test/: stratified share held out as test
    c.dataset.cache_dir = ""  # decoded images; '' -> $CNNJAX_CACHE_DIR or ~/.cache/cnnjax; off
    # name='tfds' (cnnjax.data.tfds): a prepared TensorFlow Datasets set, read by index (its copy
    # in the array_record format); images resized as a folder's (image_size, color_mode)
    c.dataset.tfds_name = ""  # TFDS name[/config][:version], e.g. imagenette/320px-v2, cifar10
    c.dataset.tfds_data_dir = ""  # TFDS data folder; '' -> $TFDS_DATA_DIR, ~/tensorflow_datasets
    c.dataset.tfds_download = False  # True: TFDS downloads and prepares a missing copy (online)
    c.dataset.tfds_train_split = "train"  # a TFDS split (its slices too: 'train[:90%]')
    c.dataset.tfds_test_split = ""  # '' -> 'test' if the set has it (labelled), else 'validation'
    c.dataset.tfds_val_split = ""  # '' none (dataset.val_size holds out of train as usual)
    c.dataset.tfds_label_key = "label"  # the class-label feature (e.g. cifar100's coarse_label)
    # Where the data lives while a run trains (cnnjax.train.stream): memory (on the device, each
    # step gathers its batch there) | stream (read from the host by grain, a folder's images
    # decoded when read) | auto (stream when the decoded splits exceed memory_budget_mb)
    c.dataset.pipeline = "auto"  # memory | stream | auto (stream above memory_budget_mb)
    c.dataset.memory_budget_mb = 4096.0  # MB of decoded images above which auto streams
    c.dataset.stream_threads = 4  # threads that read (and decode) batches
    c.dataset.stream_prefetch = 8  # batches read ahead of the step (at least stream_threads)
    c.dataset.augment = ml_collections.ConfigDict()
    # cnnjax.augment: every field is one Augment field; ranges of 0 turn transforms off.
    c.dataset.augment.crop_padding = 0  # pixels; 4 is the CIFAR recipe
    c.dataset.augment.crop_pad_mode = "zeros"  # zeros | reflect (dcb|abcd|cba, as PyTorch's)
    c.dataset.augment.horizontal_flip = False  # True: mirror each image with probability 1/2
    # True: image i is mirrored in epochs e with (e + b_i) odd, b_i a coin per image and seed
    # drawn once (airbench's alternating flip; exclusive with horizontal_flip; in memory only)
    c.dataset.augment.alternate_flip = False  # True: each image mirrored every other epoch
    c.dataset.augment.rotation_range = 0.0  # degrees
    c.dataset.augment.width_shift_range = 0.0  # fraction of the width (< 1) or pixels (>= 1)
    c.dataset.augment.height_shift_range = 0.0  # fraction of the height (< 1) or pixels
    c.dataset.augment.shear_range = 0.0  # degrees
    c.dataset.augment.zoom_range = 0.0  # zoom factors in [1 - zoom_range, 1 + zoom_range]
    c.dataset.augment.fill_mode = "nearest"  # nearest | constant | reflect | wrap
    c.dataset.augment.cval = 0.0  # fill value (pixels) for fill_mode 'constant'
    c.dataset.augment.brightness = 0.0  # max |delta| on [0, 1] pixel values
    c.dataset.augment.contrast = 0.0  # contrast factors in [1 - contrast, 1 + contrast]
    c.dataset.augment.saturation = 0.0  # saturation factors in [1 -, 1 + saturation] (RGB)
    c.dataset.augment.random_resized_crop = 0.0  # min area fraction of the box (0.08: Inception)

    c.model = "mlp"  # a name from cnnjax.models.list_models()
    # Constructor fields of every registered model, with their defaults: model_args[<name>] is
    # passed to models.create when `model` is <name>, so `--config.model=resnet20` switches
    # models and `--config.model_args.resnet20.conv_impl=im2col` sets any field of any model.
    c.model_args = ml_collections.ConfigDict(
        {name: models.hyperparameters(name) for name in models.list_models()}
    )

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "momentum"  # sgd momentum nesterov adagrad rmsprop adam adamw
    c.optimizer.learning_rate = 0.05  # peak learning rate
    c.optimizer.momentum = 0.9  # momentum / nesterov
    c.optimizer.b1 = 0.9  # adam/adamw first-moment decay
    c.optimizer.b2 = 0.999  # adam/adamw second-moment decay
    c.optimizer.rmsprop_decay = 0.9  # rmsprop: decay of the mean squared gradient (Keras' rho)
    c.optimizer.rmsprop_momentum = 0.0  # rmsprop: momentum of its updates (0: none, Hinton's)
    c.optimizer.eps = 1e-8  # adam/adamw/rmsprop/adagrad: added to the denominator
    c.optimizer.weight_decay = 1e-4  # adamw's decoupled weight decay
    c.optimizer.grad_clip_norm = 0.0  # clip by global norm when > 0
    # sgd/momentum/nesterov: g <- g + sgd_weight_decay * p before the momentum (PyTorch SGD's
    # weight_decay), added after lr_scales, so a parameter's lr factor leaves its decay as is
    c.optimizer.sgd_weight_decay = 0.0  # per-step decay coefficient (sgd family); 0: none
    # Per-parameter rules, matched by fnmatch globs on the parameter's path ('block1/norm1/bias')
    # in the params tree, the first matching rule counting:
    c.optimizer.lr_scales = ()  # ((glob, factor), ...): that parameter's lr x factor
    c.optimizer.stop_after_epochs = ()  # ((glob, epochs), ...): no updates after; 0: frozen
    # Gradient accumulation (optax.MultiSteps): one update per k steps from the mean gradient
    # of k micro-batches of batch_size images (batch norm statistics still move every step).
    c.optimizer.accumulate_steps = 1  # k micro-batches per update; 1: none

    c.schedule = ml_collections.ConfigDict()
    c.schedule.name = "cosine"  # constant step cosine warmup_cosine onecycle
    c.schedule.boundaries_epochs = (0.5, 0.75)  # step: epochs at which lr *= decay_factor
    c.schedule.decay_factor = 0.1  # step: lr multiplier at each boundary
    c.schedule.warmup_epochs = 1.0  # warmup_cosine
    c.schedule.final_lr_fraction = 0.0  # cosine, warmup_cosine: final lr / peak lr
    c.schedule.pct_start = 0.25  # onecycle: fraction of the run spent warming up
    c.schedule.div_factor = 25.0  # onecycle: initial lr = peak / div_factor
    c.schedule.final_div_factor = 1e4  # onecycle: final lr = initial lr / final_div_factor

    # Mixup and CutMix (cnnjax.mixing): one lam per step, each image paired with the image at
    # the mirrored position of its batch, the labels' losses blended by lam.
    c.mixing = ml_collections.ConfigDict()
    c.mixing.mixup_alpha = 0.0  # lam ~ Beta(alpha, alpha); 0: no mixup (0.2 a common choice)
    c.mixing.cutmix_alpha = 0.0  # lam ~ Beta(alpha, alpha) for CutMix's box; 0: no CutMix
    c.mixing.prob = 1.0  # probability that a step mixes its batch
    c.mixing.switch_prob = 0.5  # both alphas > 0: probability of CutMix rather than mixup

    # An exponential moving average of the weights (params and batch-norm statistics), updated
    # after every step: ema = decay ema + (1 - decay) w. When on, validation, early stopping,
    # the test figures and a trained run's model (predict, export, transfer) use the average;
    # the summary adds the raw weights' test_accuracy_no_ema.
    c.ema = ml_collections.ConfigDict()
    c.ema.decay = 0.0  # per step; 0: off (0.999 averages over about the last 1000 steps)

    # Lookahead with a growing average (airbench): every `every` steps the slow weights move
    # towards the weights, slow = a slow + (1 - a) w with a = decay * (t / T) ** power at step
    # t of T, and the weights (params and batch-norm statistics) are reset to the slow ones;
    # after the last step the weights are the slow ones.
    c.lookahead = ml_collections.ConfigDict()
    c.lookahead.every = 0  # steps between syncs; 0: off (airbench: 5)
    c.lookahead.decay = 0.95**5  # a at the last step
    c.lookahead.power = 3.0  # how a grows with the fraction of the run done

    c.loss = ml_collections.ConfigDict()
    c.loss.label_smoothing = 0.0  # target (1 - s) one-hot + s / classes; 0: none
    c.loss.l1 = 0.0  # coefficient of sum |w|
    c.loss.l2 = 0.0  # coefficient of sum w^2 / 2
    c.loss.penalize = "kernels"  # kernels | all

    c.plateau = ml_collections.ConfigDict()
    c.plateau.enabled = False  # reduce the lr when `metric` stops improving
    c.plateau.metric = "val_loss"  # a val_<figure> of the task
    c.plateau.factor = 0.1  # lr scale multiplier on a plateau
    c.plateau.patience = 3  # epochs without improvement before reducing
    c.plateau.rtol = 1e-4  # relative change that counts as improvement
    c.plateau.atol = 0.0  # absolute change that counts as improvement
    c.plateau.cooldown = 0  # epochs to wait after a reduction
    c.plateau.min_scale = 0.0  # the lr scale never falls below this

    c.early_stopping = ml_collections.ConfigDict()
    c.early_stopping.enabled = False  # stop when `metric` stops improving
    c.early_stopping.metric = "val_accuracy"  # a val_<figure> of the task
    c.early_stopping.patience = 5  # epochs without improvement before stopping
    c.early_stopping.min_delta = 0.0  # smallest change that counts as improvement
    c.early_stopping.restore_best = True  # evaluate the best epoch's parameters on test

    # Transfer learning (cnnjax.transfer): start from the latest checkpoint of a finished run
    # of the same architecture (replica r from its replica r mod its num_seeds), with a fresh
    # `head` module, and optionally the first weight layers frozen.
    c.transfer = ml_collections.ConfigDict()
    c.transfer.init_from = ""  # the source run's workdir; '' trains from scratch
    c.transfer.reinit_head = True  # the head starts fresh (new task); False keeps the source's
    c.transfer.freeze_layers = 0  # first k conv/dense layers (forward order) and their norms
    # A torchvision state dict (.pt / .pth, or .npz of its arrays) of config.model's architecture
    # (cnnjax.interop: resnet18-152, vgg11-19 and _bn, alexnet, googlenet); '' off.
    c.transfer.init_from_torch = ""  # a torchvision state dict file to start from; '' off

    # What TensorBoard shows (cnnjax.train.monitoring), in <workdir>/tensorboard/.
    c.tensorboard = ml_collections.ConfigDict()
    c.tensorboard.every_steps = 0  # > 0: also train loss/accuracy every that many steps
    c.tensorboard.hparams = True  # the config's fields against the final figures (HParams tab)
    # A jax.profiler trace of num_steps steps from global step first_step into tensorboard/
    # (TensorBoard's profile plugin, or Perfetto, reads it); nothing when num_steps is 0.
    c.profile = ml_collections.ConfigDict()
    c.profile.first_step = 10  # steps after the start, so compilation is not in the trace
    c.profile.num_steps = 0  # steps traced; 0: no trace

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.keep = 2  # checkpoints kept in <workdir>/checkpoints

    # Per-layer gradient norms and activation statistics (cnnjax.layer_stats) at initialisation
    # and after every epoch, in metrics.jsonl ('layer_stats_init' in epoch 1's record,
    # 'layer_stats' in every record); measured on the first `probe_size` training examples
    # (no augmentation) in a separate compiled function: training is the same with it on or off.
    c.layer_stats = ml_collections.ConfigDict()
    c.layer_stats.enabled = False  # True: record the per-layer statistics every epoch
    c.layer_stats.probe_size = 256  # examples
    return c


PIPELINES = ("auto", "memory", "stream")  # dataset.pipeline

# Fields that may differ between a run and its resumption (they do not change the numbers).
RESUME_INDEPENDENT_FIELDS = (
    "dataset.data_dir",
    "dataset.exact_counts",  # a check only: canonical data reads the same either way
    "dataset.cache_dir",  # where decoded folder images are kept: the same pixels either way
    "dataset.tfds_data_dir",  # where TFDS's copy lies (its name and version are the fields)
    "dataset.tfds_download",  # whether a missing copy may be fetched: the same rows either way
    "steps_per_sync",
    "compile_cache_dir",
    "num_devices",  # the same numbers within fp32 rounding on any number of devices
    "tensorboard.every_steps",  # what is shown, not what is trained
    "tensorboard.hparams",
    "profile.first_step",
    "profile.num_steps",
    "dataset.stream_threads",  # how fast the examples are read, not which
    "dataset.stream_prefetch",
)


class ConfigError(ValueError):
    """A config field has a bad value; the message names the field."""


def get_field(config: ml_collections.ConfigDict, path: str) -> Any:
    """The value of the dotted field `path` ('optimizer.name') of `config`."""
    node = config
    for part in path.split("."):
        if part not in node:
            raise ConfigError(f"config has no field {path!r}")
        node = node[part]
    return node


def is_int(v) -> bool:
    """An integer and not a bool (the checks of config fields, the tasks' too)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_num(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_rules(v, check_value) -> bool:
    """A tuple of (glob string, value) pairs whose values pass `check_value`."""
    pair = lambda r: isinstance(r, (tuple, list)) and len(r) == 2 and isinstance(r[0], str)
    return isinstance(v, (tuple, list)) and all(pair(r) and check_value(r[1]) for r in v)


_CHECKS: list[tuple[str, Callable[[Any], bool], str]] = [
    ("seed", is_int, "an integer"),
    ("epochs", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    ("batch_size", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    ("eval_batch_size", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    ("eval_flip_average", lambda v: isinstance(v, bool), "a bool"),
    ("eval_translate_average", lambda v: isinstance(v, bool), "a bool"),
    ("steps_per_sync", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    ("scan_steps", lambda v: isinstance(v, bool), "a bool"),
    ("num_seeds", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    ("num_devices", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    ("compile_cache_dir", lambda v: isinstance(v, str), "a string"),
    (
        "compute_dtype",
        lambda v: v in ("float32", "bfloat16"),
        # float16's small range needs dynamic loss scaling, which cnnjax does not do
        "float32 or bfloat16 (float16 would need dynamic loss scaling: use bfloat16)",
    ),
    ("dataset.data_dir", lambda v: isinstance(v, str), "a string"),
    ("dataset.exact_counts", lambda v: isinstance(v, bool), "a bool"),
    ("dataset.val_size", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    ("dataset.split_seed", is_int, "an integer"),
    ("dataset.train_size", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    (
        "dataset.classes",
        lambda v: (
            isinstance(v, (tuple, list))
            and all(is_int(c) and c >= 0 for c in v)
            and len(set(v)) == len(v)
            and len(v) != 1
        ),
        "a tuple of distinct class indices >= 0 (at least 2), or () for all classes",
    ),
    ("dataset.train_per_class", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    ("dataset.permute_pixels", lambda v: isinstance(v, bool), "a bool"),
    ("dataset.subset_per_seed", lambda v: isinstance(v, bool), "a bool"),
    ("dataset.stratified_val", lambda v: isinstance(v, bool), "a bool"),
    ("dataset.image_size", lambda v: is_int(v) and v >= 1, "an integer >= 1 (pixels)"),
    (
        "dataset.color_mode",
        lambda v: v in data.COLOR_MODES,
        f"one of {', '.join(data.COLOR_MODES)}",
    ),
    ("dataset.skip_bad_images", lambda v: isinstance(v, bool), "a bool"),
    ("dataset.folder_test_fraction", lambda v: is_num(v) and 0 < v < 1, "a number in (0, 1)"),
    ("dataset.cache_dir", lambda v: isinstance(v, str), "a string ('off': no cache)"),
    ("dataset.tfds_name", lambda v: isinstance(v, str), "a string (a TFDS name, e.g. cifar10)"),
    ("dataset.tfds_data_dir", lambda v: isinstance(v, str), "a string (a folder; '' TFDS's)"),
    ("dataset.tfds_download", lambda v: isinstance(v, bool), "a bool"),
    *(
        (f"dataset.tfds_{role}_split", lambda v: isinstance(v, str), "a string (a TFDS split)")
        for role in ("train", "test", "val")
    ),
    ("dataset.tfds_label_key", lambda v: isinstance(v, str) and v, "a feature name (a string)"),
    (
        "dataset.normalize",
        lambda v: v in pipeline.NORMALIZATIONS,
        f"one of {', '.join(pipeline.NORMALIZATIONS)}",
    ),
    ("dataset.augment.crop_padding", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    ("dataset.augment.horizontal_flip", lambda v: isinstance(v, bool), "a bool"),
    ("dataset.augment.alternate_flip", lambda v: isinstance(v, bool), "a bool"),
    (
        "dataset.augment.crop_pad_mode",
        lambda v: v in augment.CROP_PAD_MODES,
        f"one of {', '.join(augment.CROP_PAD_MODES)}",
    ),
    *(
        (f"dataset.augment.{name}", lambda v: is_num(v) and v >= 0, "a number >= 0")
        for name in (
            "rotation_range",
            "width_shift_range",
            "height_shift_range",
            "shear_range",
            "brightness",
        )
    ),
    *(
        (f"dataset.augment.{name}", lambda v: is_num(v) and 0 <= v < 1, "a number in [0, 1)")
        for name in ("zoom_range", "contrast", "saturation", "random_resized_crop")
    ),
    (
        "dataset.augment.fill_mode",
        lambda v: v in augment.FILL_MODES,
        f"one of {', '.join(augment.FILL_MODES)}",
    ),
    ("dataset.augment.cval", is_num, "a number"),
    ("dataset.pipeline", lambda v: v in PIPELINES, f"one of {', '.join(PIPELINES)}"),
    ("dataset.memory_budget_mb", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("dataset.stream_threads", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    ("dataset.stream_prefetch", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    ("optimizer.learning_rate", lambda v: is_num(v) and v > 0, "a number > 0"),
    ("optimizer.momentum", lambda v: is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("optimizer.b1", lambda v: is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("optimizer.b2", lambda v: is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("optimizer.rmsprop_decay", lambda v: is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("optimizer.rmsprop_momentum", lambda v: is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("optimizer.eps", lambda v: is_num(v) and v > 0, "a number > 0"),
    ("optimizer.weight_decay", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("optimizer.grad_clip_norm", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("optimizer.accumulate_steps", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    ("optimizer.sgd_weight_decay", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    (
        "optimizer.lr_scales",
        lambda v: _is_rules(v, lambda x: is_num(x) and x >= 0),
        "a tuple of (glob, factor >= 0) pairs",
    ),
    (
        "optimizer.stop_after_epochs",
        lambda v: _is_rules(v, lambda x: is_num(x) and x >= 0),
        "a tuple of (glob, epochs >= 0) pairs",
    ),
    ("lookahead.every", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    ("lookahead.decay", lambda v: is_num(v) and 0 <= v <= 1, "a number in [0, 1]"),
    ("lookahead.power", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    (
        "schedule.boundaries_epochs",
        lambda v: isinstance(v, (tuple, list)) and all(is_num(e) and e >= 0 for e in v),
        "a tuple of epochs >= 0",
    ),
    ("schedule.decay_factor", lambda v: is_num(v) and v > 0, "a number > 0"),
    ("schedule.warmup_epochs", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("schedule.final_lr_fraction", lambda v: is_num(v) and 0 <= v <= 1, "a number in [0, 1]"),
    ("schedule.pct_start", lambda v: is_num(v) and 0 < v < 1, "a number in (0, 1)"),
    ("schedule.div_factor", lambda v: is_num(v) and v > 0, "a number > 0"),
    ("schedule.final_div_factor", lambda v: is_num(v) and v > 0, "a number > 0"),
    ("mixing.mixup_alpha", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("mixing.cutmix_alpha", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("mixing.prob", lambda v: is_num(v) and 0 <= v <= 1, "a number in [0, 1]"),
    ("mixing.switch_prob", lambda v: is_num(v) and 0 <= v <= 1, "a number in [0, 1]"),
    ("ema.decay", lambda v: is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("loss.label_smoothing", lambda v: is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("loss.l1", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("loss.l2", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("loss.penalize", lambda v: v in PENALIZE_CHOICES, f"one of {', '.join(PENALIZE_CHOICES)}"),
    ("plateau.enabled", lambda v: isinstance(v, bool), "a bool"),
    ("plateau.metric", lambda v: isinstance(v, str), "a string (the task checks the name)"),
    ("plateau.factor", lambda v: is_num(v) and 0 < v < 1, "a number in (0, 1)"),
    ("plateau.patience", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    ("plateau.rtol", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("plateau.atol", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("plateau.cooldown", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    ("plateau.min_scale", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("early_stopping.enabled", lambda v: isinstance(v, bool), "a bool"),
    ("early_stopping.metric", lambda v: isinstance(v, str), "a string (the task checks it)"),
    ("early_stopping.patience", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    ("early_stopping.min_delta", lambda v: is_num(v) and v >= 0, "a number >= 0"),
    ("early_stopping.restore_best", lambda v: isinstance(v, bool), "a bool"),
    ("transfer.init_from", lambda v: isinstance(v, str), "a string (a run's workdir)"),
    ("transfer.reinit_head", lambda v: isinstance(v, bool), "a bool"),
    ("transfer.freeze_layers", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    ("transfer.init_from_torch", lambda v: isinstance(v, str), "a string (a .pt/.pth/.npz file)"),
    ("tensorboard.every_steps", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    ("tensorboard.hparams", lambda v: isinstance(v, bool), "a bool"),
    ("profile.first_step", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    ("profile.num_steps", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    ("checkpoint.keep", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    ("layer_stats.enabled", lambda v: isinstance(v, bool), "a bool"),
    ("layer_stats.probe_size", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
]


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError (or models.UnknownModelError) for the first bad field of `config`."""
    names = [
        ("dataset.name", data.DATASETS, "dataset"),
        ("optimizer.name", optim.OPTIMIZERS, "optimizer"),
        ("schedule.name", optim.SCHEDULES, "schedule"),
    ]
    for path, valid, what in names:
        value = get_field(config, path)
        if value not in valid:
            raise ConfigError(
                f"{path}: unknown {what} {value!r}; valid {what} names: {', '.join(valid)}"
            )
    models.check_name(get_field(config, "model"))
    for name in config.model_args:
        if name not in models.list_models():
            raise ConfigError(
                f"model_args.{name}: not a model name; valid model names: "
                f"{', '.join(models.list_models())}"
            )
    for path, check, expected in _CHECKS:
        value = get_field(config, path)
        if not check(value):
            raise ConfigError(f"{path} must be {expected}, got {value!r} ({type(value).__name__})")
    overrides = model_overrides(config)
    known = models.hyperparameters(config.model)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigError(
            f"model_args.{config.model}.{unknown[0]}: model {config.model!r} has no such field; "
            f"its fields are: {', '.join(sorted(known))}"
        )
    if config.dataset.name == "folder" and not config.dataset.data_dir:
        raise ConfigError(
            "dataset.data_dir: dataset.name='folder' needs the root of your image folder "
            "(ROOT/<class>/<image> or ROOT/train/<class>/<image>)"
        )
    _validate_tfds(config.dataset)
    if config.dataset.train_size and config.dataset.train_per_class:
        raise ConfigError(
            "dataset.train_size and dataset.train_per_class are exclusive: set one of them to 0"
        )
    if config.dataset.subset_per_seed and not (
        config.dataset.train_size or config.dataset.train_per_class
    ):
        raise ConfigError(
            "dataset.subset_per_seed needs dataset.train_size or dataset.train_per_class > 0 "
            "(a subset to draw per seed)"
        )
    _validate_recipe(config)
    if config.transfer.init_from and not os.path.isfile(
        os.path.join(config.transfer.init_from, "summary.json")
    ):
        raise ConfigError(
            f"transfer.init_from={config.transfer.init_from!r}: not a finished cnnjax run "
            f"(no summary.json there)"
        )
    from cnnjax import interop  # torchvision weights: the model's fields and the file

    interop.validate(config)
    from cnnjax import tasks  # the tasks read this module's fields

    tasks.of(config).validate(config)


def _validate_recipe(config: ml_collections.ConfigDict) -> None:
    """The training-recipe fields that cannot work together."""
    if config.dataset.augment.alternate_flip and config.dataset.augment.horizontal_flip:
        raise ConfigError(
            "dataset.augment.alternate_flip and dataset.augment.horizontal_flip both mirror the "
            "images: set one of them to False"
        )
    check_in_memory(config, config.dataset.pipeline == "stream")
    if config.eval_translate_average and not config.eval_flip_average:
        raise ConfigError(
            "eval_translate_average adds shifted views to the test-time flips: set "
            "eval_flip_average=True too"
        )
    if config.optimizer.sgd_weight_decay and config.optimizer.name not in SGD_FAMILY:
        raise ConfigError(
            f"optimizer.sgd_weight_decay is for {', '.join(SGD_FAMILY)}, not "
            f"{config.optimizer.name!r} (adamw: optimizer.weight_decay; others: loss.l2)"
        )


def check_in_memory(config: ml_collections.ConfigDict, streamed: bool) -> None:
    """ConfigError when a field that needs the data on the device meets the streamed pipeline
    (checked again once dataset.pipeline='auto' has chosen)."""
    if not streamed:
        return
    if config.dataset.augment.get("alternate_flip"):
        raise ConfigError(
            "dataset.augment.alternate_flip needs each image's index, which the streamed "
            "pipeline does not give the step: set dataset.pipeline='memory'"
        )
    if config.get("scan_steps"):
        raise ConfigError(
            "scan_steps loops over steps on the device, but the streamed pipeline feeds each "
            "step from the host: set dataset.pipeline='memory' (or scan_steps=False)"
        )


SGD_FAMILY = ("sgd", "momentum", "nesterov")  # the optimizers optimizer.sgd_weight_decay serves


def _validate_tfds(d: ml_collections.ConfigDict) -> None:
    """The dataset.tfds_* fields that cannot work together (what the set has is checked when it
    is opened, before any compile: cnnjax.data.tfds)."""
    if d.name != "tfds":
        if d.tfds_name:
            raise ConfigError(
                f"dataset.tfds_name={d.tfds_name!r} is read only with dataset.name='tfds' (got "
                f"{d.name!r}): set dataset.name=tfds, or dataset.tfds_name=''"
            )
        return
    if not d.tfds_name.strip():
        raise ConfigError(
            "dataset.tfds_name: dataset.name='tfds' needs a TensorFlow Datasets name, e.g. "
            "'imagenette/320px-v2' or 'cifar10'"
        )
    if not d.tfds_train_split.strip():
        raise ConfigError("dataset.tfds_train_split: the training split's name, e.g. 'train'")
    if d.tfds_val_split:
        if d.val_size:
            raise ConfigError(
                f"dataset.val_size={d.val_size} and dataset.tfds_val_split="
                f"{d.tfds_val_split!r} both choose the validation split: set one of them "
                "(dataset.val_size=0 to validate on the TFDS split)"
            )
        if d.tfds_val_split == d.tfds_test_split:
            raise ConfigError(
                f"dataset.tfds_val_split={d.tfds_val_split!r} is also dataset.tfds_test_split: "
                "validate and test on different splits"
            )
        if d.tfds_val_split == d.tfds_train_split:
            raise ConfigError(
                f"dataset.tfds_val_split={d.tfds_val_split!r} is also dataset.tfds_train_split: "
                "validate on another split (or slices of it: 'train[:90%]', 'train[90%:]')"
            )
    if d.tfds_test_split and d.tfds_test_split == d.tfds_train_split:
        raise ConfigError(
            f"dataset.tfds_test_split={d.tfds_test_split!r} is also dataset.tfds_train_split: "
            "test on another split"
        )


def ema_decay(config: ml_collections.ConfigDict) -> float:
    """The run's weight-average decay: config.ema.decay, 0 (off) for a config.json saved
    before the field existed."""
    return float(config.ema.decay) if "ema" in config else 0.0


def lookahead_every(config: ml_collections.ConfigDict) -> int:
    """Steps between the run's lookahead syncs: config.lookahead.every, 0 (off) for a
    config.json saved before the field existed."""
    return int(config.lookahead.every) if "lookahead" in config else 0


def model_overrides(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The constructor fields the config sets for the selected model (model_args[model])."""
    if config.model not in config.model_args:
        return {}
    return config.model_args[config.model].to_dict()
