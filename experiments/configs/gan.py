"""One GAN trained on the gan task (cnnjax.tasks.gan): a DC-GAN on MNIST, its samples scored
after every epoch by a classifier trained beforehand on the same dataset.

    python -m experiments.train --config=experiments/configs/mnist.py --workdir=runs/judge
    python -m experiments.train --config=experiments/configs/gan.py --workdir=runs/gan \\
        --config.gan.classifier=runs/judge

Variants (comma-separated): `:conditional` gives every network the class (Mirza & Osindero
2014); `:stackgan` the two-stage StackGAN; `:fashion_mnist` that dataset; `:quick`
scikit-learn's 8x8 digits (embedded, no download), tiny networks and one epoch (seconds;
its classifier: `classifier_config("quick")`)."""

from cnnjax import tasks
from cnnjax.config import base_config
from experiments.configs import mnist


def get_config(variant: str | None = None):
    c = base_config()
    c.task = "gan"
    c.gan = tasks.get("gan").fields()  # latent 64, 2000 samples scored per evaluation
    c.dataset.name = "mnist"  # grey square images with sides divisible by 4
    c.dataset.train_size = 10000  # training images (a fixed subset)
    c.dataset.normalize = "scale01"  # the task scales them to [-1, 1]
    c.model = "dcgan"
    # Half the paper's widths (CPU budget): transposed convolutions dominate the step's cost.
    for name in ("dcgan", "stackgan"):
        c.model_args[name].generator_widths = (64, 32)
        c.model_args[name].discriminator_widths = (32, 64)
        c.model_args[name].image_size = 28
    c.epochs = 10
    c.batch_size = 64
    c.eval_batch_size = 500
    c.optimizer.name = "adam"  # both networks (Radford et al. 2016)
    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5  # first-moment decay (ibid.)
    c.schedule.name = "constant"
    for v in variant.split(",") if variant else []:
        if v == "conditional":
            c.gan.conditional = True
        elif v == "stackgan":
            c.model = "stackgan"
            c.gan.conditional = True  # both stages see the class (Zhang et al. 2017)
        elif v == "fashion_mnist":
            c.dataset.name = "fashion_mnist"
        elif v == "quick":
            c.dataset.name = "digits"  # 8x8 digits, embedded
            c.dataset.train_size = 0
            for name in ("dcgan", "stackgan"):
                c.model_args[name].generator_widths = (8, 4)
                c.model_args[name].discriminator_widths = (4, 8)
                c.model_args[name].image_size = 8
            c.gan.latent = 8
            c.gan.val_samples = 128
            c.gan.test_samples = 128
            c.epochs = 1
            c.batch_size = 32
            c.eval_batch_size = 64  # (divisible by 8 devices)
        else:
            raise ValueError(
                f"gan config: unknown variant {v!r}; valid: conditional, stackgan, "
                "fashion_mnist, quick"
            )
    return c


def classifier_config(variant: str | None = None):
    """The judge: the LeNet-5 recipe (experiments/configs/mnist.py), 4 epochs, on the GAN's
    dataset; `quick`: an MLP on digits for two epochs."""
    c = mnist.get_config()
    c.epochs = 4
    for v in variant.split(",") if variant else []:
        if v == "fashion_mnist":
            c.dataset.name = "fashion_mnist"
        elif v == "quick":
            c.update(dict(model="mlp", epochs=2, batch_size=64))
            c.dataset.name = "digits"
            c.dataset.val_size = 200
            c.dataset.augment.crop_padding = 0
        elif v not in ("conditional", "stackgan"):
            raise ValueError(f"gan classifier config: unknown variant {v!r}")
    return c
