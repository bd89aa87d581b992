"""Unconditional and conditional DC-GANs and the two-stage StackGAN on MNIST and
Fashion-MNIST (cnnjax.tasks.gan), their samples scored by a LeNet-5 trained first on each
dataset; real test images and a chance guess are baseline rows computed by the aggregation."""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import tasks
from cnnjax.report import pictures
from cnnjax.tasks.gan import real_image_figures
from cnnjax.train import gan as gan_lib
from cnnjax.train.trained import load_trained
from experiments.configs import gan
from experiments.sweeps.grid import Baseline, Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "A DC-GAN (transposed convolutions with batch norm against strided convolutions with leaky "
    "ReLU) learns to generate images that a classifier recognises (Radford et al. 2016); "
    "conditioning both networks on the class makes the samples class-controllable and scores "
    "higher (Mirza & Osindero 2014); stacking a second stage that refines a low-resolution "
    "sketch improves the samples further (StackGAN, Zhang et al. 2017)."
)

DATASETS = ("mnist", "fashion_mnist")
VARIANTS = {  # run prefix -> (config variants, method label)
    "dcgan": ((), "unconditional DC-GAN"),
    "cgan": (("conditional",), "conditional DC-GAN"),
    "stackgan": (("stackgan",), "conditional StackGAN"),
}
SHOWN = 10  # samples per picture row (the conditional GANs: one per class 0..9)

NOTES = """
Every GAN row's samples come from the same noise at every evaluation, scored by the
dataset's classifier (its accuracy on real test images is the class-accuracy cell of the real
row). On MNIST the unconditional DC-GAN reaches an inception score of
{{mean test_inception_score dcgan_mnist}} against {{mean test_inception_score real_mnist}} for
real test images; conditioned on the class it reaches {{mean test_inception_score cgan_mnist}}
and the two-stage StackGAN {{mean test_inception_score stackgan_mnist}}; with two seeds a row,
the verdicts say which of these gaps the seeds settle. {{pct test_class_accuracy cgan_mnist}}
of the conditional DC-GAN's samples are classified as the class asked for (chance:
{{pct test_class_accuracy chance_mnist}}). The params column counts both networks of every
stage, the MACs column the generators' work per sample. The val_inception_score curves come
from each run's metrics.jsonl, one point per epoch.
"""


def _name(prefix: str, dataset: str) -> str:
    return f"{prefix}_{dataset}"


def real_test_figures(config) -> dict[str, float]:
    """Real test images scored by the run's classifier (test_class_accuracy: its accuracy)."""
    return {f"test_{k}": v for k, v in real_image_figures(config, config.eval_batch_size).items()}


def chance_figures(config) -> dict[str, float]:
    """A sample of a class drawn at random is of the asked class with probability 1 / K."""
    num_classes = tasks.of(config).splits(config).num_classes
    return {"test_class_accuracy": 1.0 / num_classes}


def comparisons(datasets) -> tuple[Comparison, ...]:
    out = []
    for d in datasets:
        out += [
            Comparison(
                f"conditioning raises the inception score on {d}",
                _name("cgan", d),
                _name("dcgan", d),
                "test_inception_score",
            ),
            Comparison(
                f"conditional samples are of the class asked for, above chance, on {d}",
                _name("cgan", d),
                _name("chance", d),
                "test_class_accuracy",
            ),
            Comparison(
                f"StackGAN scores higher than the one-stage conditional DC-GAN on {d}",
                _name("stackgan", d),
                _name("cgan", d),
                "test_inception_score",
            ),
            Comparison(
                f"real test images score higher than unconditional samples on {d}",
                _name("real", d),
                _name("dcgan", d),
                "test_inception_score",
            ),
        ]
    return tuple(out)


def get_sweep(quick: bool) -> Sweep:
    datasets = ("digits",) if quick else DATASETS
    extra = ("quick",) if quick else ()

    def base(*variants):
        return lambda: gan.get_config(",".join((*variants, *extra)) or None)

    runs, baselines = [], []
    for d in datasets:
        judge = _name("classifier", d)
        overrides = {} if quick else {"dataset.name": d}
        runs.append(
            Run(
                judge,
                overrides,
                {},
                base=lambda: gan.classifier_config(",".join(extra) or None),
                in_table=False,
                num_seeds=1,
            )
        )
        for prefix, (variants, method) in VARIANTS.items():
            runs.append(
                Run(
                    _name(prefix, d),
                    overrides,
                    {"dataset": d, "samples": method},
                    base=base(*variants),
                    uses={"gan.classifier": judge},
                )
            )
        like = _name("dcgan", d)
        baselines += [
            Baseline(
                _name("real", d),
                like,
                {"dataset": d, "samples": "real test images"},
                real_test_figures,
            ),
            Baseline(
                _name("chance", d),
                like,
                {"dataset": d, "samples": "chance (a class guessed at random)"},
                chance_figures,
            ),
        ]
    return Sweep(
        name="gan",
        claim=CLAIM,
        notes="" if quick else NOTES,
        comparisons=comparisons(datasets),
        base=base(),
        runs=tuple(runs),
        baselines=tuple(baselines),
        num_seeds=2,
        figures=(
            "test_inception_score",
            "test_confidence",
            "test_coverage",
            "test_class_accuracy",
            "final_train_d_loss",
            "final_train_g_loss",
        ),
        curves=("val_inception_score", "train_d_loss", "train_g_loss"),
        plots=functools.partial(plots, datasets=datasets),
    )


def plots(sweep, workdir, results_dir, summaries, datasets) -> list[str]:
    """samples_<dataset>.png: per GAN, a row of samples from fixed noise (its first seed;
    the conditional ones asked for the classes 0, 1, ..., 9)."""
    del sweep, summaries
    files = []
    for d in datasets:
        tiles, labels = [], []
        for prefix, (_, method) in VARIANTS.items():
            trained = load_trained(os.path.join(workdir, _name(prefix, d)))
            config = trained.config
            k = tasks.of(config).conditioning(config)
            z = jax.random.normal(
                jax.random.PRNGKey(config.gan.eval_seed), (SHOWN, config.gan.latent)
            )
            y = jnp.arange(SHOWN) % k if k else None
            apply_fns = [g.apply for g, _, _ in trained.model.stages()]
            images = gan_lib.sample(apply_fns, trained.variables["generators"], z, y, k)
            tiles += [(np.asarray(x) + 1) / 2 for x in images]
            labels.append(method)
        name = f"samples_{d}.png"
        pictures.save_grid(
            os.path.join(results_dir, name),
            tiles,
            columns=SHOWN,
            title=f"{d}: samples from fixed noise after the last epoch (seed 0)",
            row_labels=labels,
        )
        files.append(name)
    return files
