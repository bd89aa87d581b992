"""The GAN: a generator and a discriminator (one pair per stage: DC-GAN, StackGAN) trained
against each other on a dataset's images, scored by a classifier trained beforehand.

Data: the training images (dataset.train_size of them) in [-1, 1] (2 x scale01 - 1), with
their classes for a conditional GAN (gan.conditional: every network is given the class).
A step draws noise z ~ N(0, I) (B, gan.latent) from the step's key and runs
cnnjax.train.gan.gan_step (per stage a D update, then a G update).

Evaluation scores samples, not images: the validation and test "splits" are gan.val_samples
and gan.test_samples sample identities (cnnjax.tasks.base.identities); sample i of a split
has the noise drawn from fold_in(PRNGKey(gan.eval_seed), identity) and, when conditional,
the class index mod K, so every epoch scores the same noise. Its samples are classified by
the finished classification run in gan.classifier (its latest checkpoint, first seed, its
own normalisation), giving p(y|x) (K,). Additive sums over samples: S = sum_x p(y|x) (K,),
T = sum_x sum_y p log p, the confidence sum_x max_y p, the count n, the hits
sum_x [argmax p = asked class] and the generator's loss sum_x -log sigma(D(G(z))) against
the current last discriminator. Figures, with m = S / n:

    inception_score = exp(T / n - sum_y m log m) = exp(mean_x KL(p(y|x) || m))  (1 to K)
    confidence      = mean_x max_y p(y|x)
    coverage        = exp(-sum_y m log m) / K            (1: every class equally often)
    class_accuracy  = hits / n                           (conditional only; else None)
    loss            = the mean generator loss on the evaluation noise

inception_score is primary (higher is better); train figures: d_loss, g_loss, d_real,
d_fake of the last stage (cnnjax.train.gan). `real_image_figures` scores real test images
with the same classifier: the reference a perfect generator reaches.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnnjax import config as config_lib
from cnnjax import data, pipeline, report
from cnnjax.tasks.base import (
    SPLIT_STRIDE,
    WITHOUT_CLASSES,
    BatchFns,
    Splits,
    Task,
    baseline_figures,
    dataset_info,
    identities,
    register,
)
from cnnjax.train import data_setup
from cnnjax.train import gan as gan_lib

FIGURES = ("loss", "inception_score", "confidence", "coverage", "class_accuracy")


def sample_sums(probs: jax.Array, asked: jax.Array, g_loss: jax.Array, mask: jax.Array):
    """The additive sums (module docstring) of class probabilities (B, K) of samples, the
    class each was asked for (B,) and its generator loss (B,), padding masked out."""
    plogp = jnp.sum(jax.scipy.special.xlogy(probs, probs), -1)  # 0 log 0 = 0
    return {
        "class_sum": jnp.sum(probs * mask[:, None], 0),
        "plogp_sum": jnp.sum(plogp * mask),
        "confidence_sum": jnp.sum(jnp.max(probs, -1) * mask),
        "hits": jnp.sum((jnp.argmax(probs, -1) == asked) * mask),
        "loss_sum": jnp.sum(g_loss * mask),
        "count": jnp.sum(mask),
    }


def sample_figures(total: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """The figures of the summed `sample_sums` (module docstring)."""
    n = total["count"]
    m = total["class_sum"] / n
    entropy = -jnp.sum(jax.scipy.special.xlogy(m, m))
    return {
        "loss": total["loss_sum"] / n,
        "inception_score": jnp.exp(total["plogp_sum"] / n + entropy),
        "confidence": total["confidence_sum"] / n,
        "coverage": jnp.exp(entropy) / m.shape[-1],
        "class_accuracy": total["hits"] / n,
        "count": n,
    }


def classifier_folder(config: ml_collections.ConfigDict) -> str:
    """config.gan.classifier, checked: a finished classification run (ConfigError otherwise)."""
    folder = config.gan.classifier
    where = f"gan.classifier={folder!r}"
    if not folder:
        raise config_lib.ConfigError(
            f"{where}: name the folder of a finished classification run on the same dataset "
            "(its network scores the samples), e.g. one of experiments/configs/mnist.py"
        )
    for name in ("config.json", "summary.json"):
        if not os.path.isfile(os.path.join(folder, name)):
            raise config_lib.ConfigError(f"{where}: no {name} there (not a finished run)")
    task = report.read_json(os.path.join(folder, "config.json")).get("task", "classification")
    if task != "classification":
        raise config_lib.ConfigError(f"{where}: a run of task {task!r}, not a classifier")
    return folder


def load_classifier(config: ml_collections.ConfigDict):
    """images (B, H, W, C) in [-1, 1] -> class probabilities (B, K), the classifier run's
    network with its own normalisation and its variables as constants."""
    from cnnjax.train.trained import load_trained  # (it reads runs of every task)

    judge = load_trained(classifier_folder(config), config.dataset.data_dir or None)

    def probabilities(images):
        pixels = (images + 1.0) * 127.5  # back to 0..255, what its normalizer reads
        logits = judge.model.apply(judge.variables, judge.normalizer(pixels), train=False)
        return jax.nn.softmax(logits.astype(jnp.float32))

    return probabilities


class Gan(Task):
    name = "gan"
    output_kind = "gan"
    figures = FIGURES
    train_figures = ("d_loss", "g_loss", "d_real", "d_fake")
    primary = "inception_score"
    higher_is_better = {
        "loss": False,
        "inception_score": True,
        "confidence": True,
        "coverage": True,
        "class_accuracy": True,
    }
    normalize = ("scale01", "scales images to [-1, 1] from [0, 1]")
    validation_field = "gan.val_samples"
    unsupported = {
        "dataset.val_size": "validates on samples (gan.val_samples), not on held-out images",
        "dataset.augment": "learns the images as they are (augmentation is off here)",
        "dataset.permute_pixels": "generates images whose neighbouring pixels belong together",
        "mixing": "would blend the real images the discriminator learns",
        "eval_flip_average": "scores samples, which have no mirror image",
        "layer_stats.enabled": "probes one network; a GAN has two per stage",
        "loss.label_smoothing": "has no labels to smooth",
        "loss.l1": "trains without a weight penalty",
        "loss.l2": "trains without a weight penalty",
        "ema.decay": "keeps no weight average",
        "lookahead.every": "keeps no slow weights",
        "compute_dtype": "trains in float32",
        "plateau.enabled": "has no validation loss to watch (its scores are not its loss)",
        "early_stopping.enabled": "trains a fixed number of epochs",
        "transfer.init_from": "starts from fresh networks",
        "transfer.freeze_layers": "starts from fresh networks",
        "dataset.subset_per_seed": "trains every seed on the same images",
    }
    assert set(WITHOUT_CLASSES) <= set(unsupported)

    def fields(self) -> ml_collections.ConfigDict:
        f = ml_collections.ConfigDict()
        f.latent = 64  # Z, noise dimensions
        f.conditional = False  # True: every network is given the class (Mirza & Osindero 2014)
        f.classifier = ""  # the folder of a finished classification run on the same dataset
        f.eval_seed = 1  # the evaluation samples' noise: key (eval_seed, sample identity)
        f.val_samples = 2000  # samples scored after every epoch (val_<figure>)
        f.test_samples = 2000  # samples scored at the end (test_<figure>), other noise
        return f

    def checks(self):
        count = lambda v: config_lib.is_int(v) and v >= 0
        return [
            ("latent", lambda v: config_lib.is_int(v) and v >= 1, "an integer >= 1"),
            ("conditional", lambda v: isinstance(v, bool), "True or False"),
            ("classifier", lambda v: isinstance(v, str), "a folder (a string)"),
            ("eval_seed", config_lib.is_int, "an integer"),
            ("val_samples", count, "an integer >= 0"),
            ("test_samples", lambda v: config_lib.is_int(v) and v >= 1, "an integer >= 1"),
        ]

    def validate(self, config: ml_collections.ConfigDict) -> None:
        super().validate(config)
        classifier_folder(config)

    def splits(self, config: ml_collections.ConfigDict) -> Splits:
        ds, train, _, _ = data_setup.data_splits(config)
        h, w, c = train.images.shape[1:]
        if h != w or h % 4:
            raise config_lib.ConfigError(
                f"dataset.name={ds.name!r}: its {h}x{w} images cannot be generated (the GANs "
                "here make square images whose side divides by 4)"
            )
        side = config_lib.model_overrides(config).get("image_size")
        if side != h:
            raise config_lib.ConfigError(
                f"model_args.{config.model}.image_size={side}: {ds.name}'s images are {h}x{w}"
            )
        judged = report.read_json(os.path.join(classifier_folder(config), "summary.json"))
        if judged["image_shape"] != [h, w, c] or judged["num_classes"] != ds.num_classes:
            raise config_lib.ConfigError(
                f"gan.classifier={config.gan.classifier!r}: it classifies images "
                f"{judged['image_shape']} into {judged['num_classes']} classes, but "
                f"{ds.name} has {[h, w, c]} and {ds.num_classes}"
            )
        samples = lambda split, n: data.Split(
            np.zeros((n, 1, 1, 1), np.uint8), identities(split, n, "gan")
        )
        return Splits(
            train,
            samples(1, config.gan.val_samples),
            samples(2, config.gan.test_samples),
            num_classes=ds.num_classes,
            class_names=ds.class_names,
            info={**dataset_info(ds), "classifier": config.gan.classifier},
        )

    def num_outputs(self, config: ml_collections.ConfigDict, splits: Splits) -> int:
        return splits.train.images.shape[-1]  # the images' channels

    def input_shape(self, config: ml_collections.ConfigDict, image_shape) -> tuple[int, ...]:
        return (1, 1, 1, config.gan.latent + self.conditioning(config))

    @staticmethod
    def conditioning(config: ml_collections.ConfigDict) -> int:
        """K, the classes given to the networks (0: unconditional): the classifier's, which
        `splits` checks are the dataset's."""
        if not config.gan.conditional:
            return 0
        return report.read_json(os.path.join(classifier_folder(config), "summary.json"))[
            "num_classes"
        ]

    def init_state(self, config, model, tx, plateau_tx, rng, input_shape, ema: bool):
        k = self.conditioning(config)
        stages = model.stages()
        return gan_lib.init_gan_state(
            stages, tx, plateau_tx, rng, config.gan.latent, model.num_classes, k
        )

    def figure_values(self, config, values):
        out = super().figure_values(config, values)
        return out if config.gan.conditional else {**out, "class_accuracy": None}

    def batch_fns(
        self, config: ml_collections.ConfigDict, normalizer: pipeline.Normalizer, splits: Splits
    ) -> BatchFns:
        latent, k = config.gan.latent, self.conditioning(config)
        eval_key = jax.random.PRNGKey(config.gan.eval_seed)
        probabilities = load_classifier(config)

        def train_batch(key, images, labels):
            z = jax.random.normal(key, (images.shape[0], latent))
            return 2.0 * normalizer(images) - 1.0, (z, labels if k else None)

        def step(state, real, noise):
            z, y = noise
            state, m = gan_lib.gan_step(state, real, z, y, k)
            n = jnp.asarray(real.shape[0], jnp.float32)
            return state, {
                **{f"{name}_sum": v * n for name, v in m.items()},
                "loss_sum": (m["d_loss"] + m["g_loss"]) * n,
                "penalty": jnp.zeros((), jnp.float32),
                "count": n,
                "finite": jnp.isfinite(m["d_loss"] + m["g_loss"]),
            }

        def eval_batch(images, labels):
            draw = lambda i: jax.random.normal(jax.random.fold_in(eval_key, i), (latent,))
            z = jax.vmap(draw)(labels)
            asked = (labels % SPLIT_STRIDE) % splits.num_classes
            return (z, asked), asked

        def predict(state, inputs):
            z, asked = inputs
            y = asked if k else None
            samples = gan_lib.generate(state, z, y, k)
            d = state.discriminators[-1]
            logits = d.apply_fn(d.variables(), gan_lib.with_classes(samples, y, k), train=False)
            g_loss = jax.nn.softplus(-logits[:, 0])  # -log sigma(D(G(z)))
            return probabilities(samples), g_loss

        def eval_sums(outputs, asked, mask):
            probs, g_loss = outputs
            return sample_sums(probs, asked, g_loss, mask)

        return BatchFns(
            train_batch=train_batch,
            eval_batch=eval_batch,
            loss=None,
            eval_sums=eval_sums,
            figures=sample_figures,
            train_sums=tuple(f"{name}_sum" for name in self.train_figures),
            step=step,
            predict=predict,
        )

    def train_record(self, totals: dict[str, float]) -> dict[str, float]:
        return {name: totals[f"{name}_sum"] / totals["count"] for name in self.train_figures}


def real_image_figures(config: ml_collections.ConfigDict, batch_size: int = 500):
    """The figures of real test images (as many as gan.test_samples) scored by the run's
    classifier: each image 'asked for' its own class (class_accuracy: the classifier's
    accuracy); no generator, so no loss."""
    _, _, _, test = data_setup.data_splits(config)
    n = config.gan.test_samples
    test = data.Split(test.images[:n], test.labels[:n])
    probabilities = load_classifier(config)
    normalizer = pipeline.Normalizer.fit(test.images, "scale01")

    def sums(images, labels, mask):
        probs = probabilities(2.0 * normalizer(images) - 1.0)
        return sample_sums(probs, labels, jnp.zeros(labels.shape), mask)

    figures = baseline_figures(test, batch_size, sums, sample_figures)
    return {k: v for k, v in figures.items() if k != "loss"}


GAN = register(Gan())
