"""DC-GAN (experiments/gan.py): unconditional and class-conditional DC-GANs on MNIST and
Fashion-MNIST, scored after every epoch with a LeNet-5 trained on the same data.

`--config=experiments/configs/gan.py:quick` selects scikit-learn's 8x8 digits (no download),
tiny networks and one epoch (seconds)."""

import ml_collections

from experiments.configs import mnist

# What the runner's results test (experiments/results/README.md lists it).
CLAIM = (
    "A DC-GAN (transposed convolutions with batch norm against strided convolutions with leaky "
    "ReLU) learns to generate images that a classifier recognises, their quality rising with "
    "training (Radford et al. 2016); conditioning both networks on the class makes the samples "
    "class-controllable (Mirza & Osindero 2014)."
)


def get_config(variant: str | None = None):
    c = ml_collections.ConfigDict()
    c.results_dir = "experiments/results/gan"  # results.md, results.json, PNGs
    c.workdir = "runs/gan"  # the classifiers' runs and one file per finished GAN training
    c.datasets = ("mnist", "fashion_mnist")  # grey cnnjax.data sets with sides divisible by 4
    c.data_dir = ""  # '' -> $CNNJAX_DATA_DIR, the default places
    c.exact_counts = True  # files must hold the official releases' record counts
    c.variants = ("unconditional", "conditional")  # conditional: both nets see the class
    c.train_size = 10000  # training images per dataset (a fixed subset; 0: all)
    c.data_seed = 0
    c.seeds = 2  # GAN trainings per (dataset, variant)
    c.epochs = 10
    c.batch_size = 64
    c.latent = 64  # Z, noise dimensions
    c.learning_rate = 2e-4  # Adam, both networks (Radford et al. 2016)
    c.b1 = 0.5  # Adam's first-moment decay (ibid.)
    # Half the paper's widths (CPU budget): transposed convolutions dominate the step's cost.
    c.generator = ml_collections.ConfigDict(dict(widths=(64, 32)))
    c.discriminator = ml_collections.ConfigDict(dict(widths=(32, 64)))
    c.score_samples = 2000  # samples scored per epoch by the classifier
    # The judge: the runner's LeNet-5 recipe (experiments/configs/mnist.py) on each dataset.
    c.classifier = mnist.get_config()
    c.classifier.epochs = 4
    if variant == "quick":
        c.update(
            dict(
                results_dir="/tmp/cnnjax_gan_quick",
                workdir="/tmp/cnnjax_gan_quick/runs",
                datasets=("digits",),
                train_size=0,
                seeds=1,
                epochs=1,
                batch_size=32,
                latent=8,
                score_samples=100,
            )
        )
        c.generator.widths = (8, 4)
        c.discriminator.widths = (4, 8)
        c.classifier.update(dict(model="mlp", epochs=2, batch_size=64))
        c.classifier.dataset.val_size = 200
        c.classifier.dataset.augment.crop_padding = 0
    elif variant:
        raise ValueError(f"gan config: unknown variant {variant!r}; valid: 'quick'")
    return c
