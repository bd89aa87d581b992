"""DC-GAN (Radford, Metz & Chintala 2016) for small images: a generator of transposed
convolutions with batch norm, a discriminator of strided convolutions with leaky ReLU.

Both keep the registry's contract (NHWC in, `train` argument):

Generator, input z as a 1x1 "image" (N, 1, 1, Z) (noise, or noise and a one-hot class for the
conditional GAN), output (N, S, S, num_classes) in (-1, 1) (tanh), S = image_size:
    ConvTranspose (S/4 x S/4, VALID) to widths[0] -> BN -> ReLU        (N, S/4, S/4, widths[0])
    ConvTranspose 4x4 / 2 to widths[1]  -> BN -> ReLU                  (N, S/2, S/2, widths[1])
    ConvTranspose 4x4 / 2 to num_classes -> tanh                       (N, S, S, num_classes)
Discriminator, input (N, S, S, C) (images, or images with one-hot class maps), output
(N, num_classes) logits (num_classes=1: real against fake):
    Conv 4x4 / 2 (widths[0]) -> leaky ReLU(0.2)                         (no BN on the input layer)
    Conv 4x4 / 2 (widths[1]) -> BN -> leaky ReLU(0.2) -> flatten -> Dense(num_classes)
All kernels N(0, 0.02^2) as in the paper. Sows 'penultimate' (the last hidden features).

`DCGAN` (registered as 'dcgan', output kind 'gan') is the pair the GAN task trains
(cnnjax.tasks.gan): `stages()` gives its one (generator, discriminator, image side); calling
it samples unconditionally, z (N, 1, 1, Z) -> (N, S, S, num_classes).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from cnnjax.layers import Conv2D, ConvTranspose2D

DCGAN_INIT = nn.initializers.normal(0.02)


def project_noise(
    who: str, z: jax.Array, width: int, image_size: int, bn_momentum: float, train: bool
) -> jax.Array:
    """A generator's first layer, called inside its compact `__call__`: noise as a 1x1 image
    (N, 1, 1, Z) -> ConvTranspose (S/4 x S/4, VALID, 'project') -> BN ('bn0') -> ReLU, (N,
    S/4, S/4, width); ValueError naming `who` unless z is (N, 1, 1, Z) and S divides by 4."""
    if z.ndim != 4 or z.shape[1:3] != (1, 1) or image_size % 4:
        raise ValueError(
            f"{who} expects z of shape (N, 1, 1, Z) and image_size divisible by 4, got "
            f"{z.shape} and image_size={image_size}"
        )
    base = image_size // 4
    x = ConvTranspose2D(
        width,
        (base, base),
        padding="VALID",
        use_bias=False,
        kernel_init=DCGAN_INIT,
        name="project",
    )(z)
    x = nn.BatchNorm(use_running_average=not train, momentum=bn_momentum, name="bn0")(x)
    return nn.relu(x)


class Generator(nn.Module):
    """See the module docstring. Input (N, 1, 1, Z), output (N, S, S, num_classes)."""

    num_classes: int  # output channels
    image_size: int = 28  # S, divisible by 4
    widths: Sequence[int] = (128, 64)
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, z: jax.Array, train: bool) -> jax.Array:
        x = project_noise("Generator", z, self.widths[0], self.image_size, self.bn_momentum, train)
        x = ConvTranspose2D(
            self.widths[1], (4, 4), strides=2, use_bias=False, kernel_init=DCGAN_INIT, name="up1"
        )(x)
        x = nn.relu(
            nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, name="bn1")(x)
        )
        self.sow("intermediates", "penultimate", x)
        x = ConvTranspose2D(
            self.num_classes, (4, 4), strides=2, kernel_init=DCGAN_INIT, name="up2"
        )(x)
        return nn.tanh(x)


class Discriminator(nn.Module):
    """See the module docstring. Input (N, S, S, C), output (N, num_classes) logits."""

    num_classes: int = 1
    widths: Sequence[int] = (64, 128)
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        act = lambda y: nn.leaky_relu(y, 0.2)
        x = act(Conv2D(self.widths[0], (4, 4), strides=2, kernel_init=DCGAN_INIT, name="conv0")(x))
        x = Conv2D(
            self.widths[1], (4, 4), strides=2, use_bias=False, kernel_init=DCGAN_INIT, name="conv1"
        )(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, name="bn1")(x)
        x = act(x).reshape((x.shape[0], -1))
        self.sow("intermediates", "penultimate", x)
        return nn.Dense(self.num_classes, kernel_init=DCGAN_INIT, name="head")(x)


class DCGAN(nn.Module):
    """A generator and a discriminator trained together (see the module docstring); its
    num_classes is the images' channels."""

    num_classes: int
    image_size: int = 28
    generator_widths: Sequence[int] = (128, 64)
    discriminator_widths: Sequence[int] = (64, 128)
    bn_momentum: float = 0.9

    @nn.nowrap
    def stages(self) -> tuple[tuple[nn.Module, nn.Module, int], ...]:
        """((generator, discriminator, the side of the images they exchange),)."""
        g = Generator(self.num_classes, self.image_size, self.generator_widths, self.bn_momentum)
        d = Discriminator(1, self.discriminator_widths, self.bn_momentum)
        return ((g, d, self.image_size),)

    @nn.compact
    def __call__(self, z: jax.Array, train: bool) -> jax.Array:
        return sample_stages(self.stages(), z, train)


def sample_stages(stages, z: jax.Array, train: bool) -> jax.Array:
    """Unconditional samples of a GAN's stages: each generator reads the last one's images
    (the first reads z). Called inside a pair's compact `__call__`, so the generators are its
    submodules."""
    x = z
    for g, _, _ in stages:
        x = g(x, train)
    return x


MODELS = {"dcgan_generator": Generator, "dcgan_discriminator": Discriminator, "dcgan": DCGAN}
