"""StackGAN (Zhang et al. 2017) for small images: stage I sketches a class-conditioned image
at half the side, stage II refines it to the full side, conditioned on the same class.

Stage I generator, input (N, 1, 1, Z [+ K]) (noise and the one-hot class), S = image_size:
    ConvTranspose (S/4 x S/4, VALID) to widths[0] -> BN -> ReLU          (N, S/4, S/4, w0)
    ConvTranspose 4x4 / 2 to C -> tanh                                   (N, S/2, S/2, C)
Stage II generator, input stage I's image with K class maps (N, S/2, S/2, C [+ K]):
    Conv 3x3 to widths[1] -> BN -> ReLU                                  (N, S/2, S/2, w1)
    residual block: x + BN(Conv 3x3(ReLU(BN(Conv 3x3 x)))), then ReLU    (the paper's, one)
    ConvTranspose 4x4 / 2 to widths[1] / 2 -> BN -> ReLU                 (N, S, S, w1 / 2)
    Conv 3x3 to C -> tanh                                                (N, S, S, C)
Each stage's discriminator is the DC-GAN discriminator (cnnjax.models.dcgan) at its side,
reading images with the class maps appended. The GAN task (cnnjax.tasks.gan,
cnnjax.train.gan) trains both stages in every step, stage I on the real images averaged
down to S/2. Kernels N(0, 0.02^2) as in DC-GAN.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from cnnjax.layers import Conv2D, ConvTranspose2D
from cnnjax.models.dcgan import DCGAN_INIT, Discriminator, project_noise, sample_stages


def _norm(train: bool, momentum: float, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=momentum, name=name)


class StageOne(nn.Module):
    """Noise (N, 1, 1, Z') -> images (N, S/2, S/2, num_classes) in (-1, 1)."""

    num_classes: int  # output channels
    image_size: int = 28  # S, the final side (divisible by 4)
    width: int = 128
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, z: jax.Array, train: bool) -> jax.Array:
        x = project_noise("StageOne", z, self.width, self.image_size, self.bn_momentum, train)
        self.sow("intermediates", "penultimate", x)
        x = ConvTranspose2D(self.num_classes, (4, 4), strides=2, kernel_init=DCGAN_INIT, name="up")(
            x
        )
        return nn.tanh(x)


class StageTwo(nn.Module):
    """Stage I's images (N, S/2, S/2, C') -> images (N, S, S, num_classes) in (-1, 1)."""

    num_classes: int  # output channels
    width: int = 64
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv = lambda features, name, **kw: Conv2D(
            features, (3, 3), use_bias=False, kernel_init=DCGAN_INIT, name=name, **kw
        )
        norm = lambda name: _norm(train, self.bn_momentum, name)
        x = nn.relu(norm("bn_in")(conv(self.width, "encode")(x)))
        h = nn.relu(norm("res_bn0")(conv(self.width, "res_conv0")(x)))
        x = nn.relu(x + norm("res_bn1")(conv(self.width, "res_conv1")(h)))
        x = ConvTranspose2D(
            self.width // 2, (4, 4), strides=2, use_bias=False, kernel_init=DCGAN_INIT, name="up"
        )(x)
        x = nn.relu(norm("bn_up")(x))
        self.sow("intermediates", "penultimate", x)
        return nn.tanh(Conv2D(self.num_classes, (3, 3), kernel_init=DCGAN_INIT, name="to_image")(x))


class StackGAN(nn.Module):
    """Two (generator, discriminator) stages (see the module docstring); its num_classes is
    the images' channels. Calling it samples unconditionally through both stages."""

    num_classes: int
    image_size: int = 28
    generator_widths: Sequence[int] = (128, 64)  # stage I's projection, stage II's convolutions
    discriminator_widths: Sequence[int] = (64, 128)  # both stages' discriminators
    bn_momentum: float = 0.9

    @nn.nowrap
    def stages(self) -> tuple[tuple[nn.Module, nn.Module, int], ...]:
        """((stage I generator, its discriminator, S / 2), (stage II's, S))."""
        c, m, s = self.num_classes, self.bn_momentum, self.image_size
        w0, w1 = self.generator_widths
        d = lambda: Discriminator(1, self.discriminator_widths, m)
        return ((StageOne(c, s, w0, m), d(), s // 2), (StageTwo(c, w1, m), d(), s))

    @nn.compact
    def __call__(self, z: jax.Array, train: bool) -> jax.Array:
        return sample_stages(self.stages(), z, train)


MODELS = {"stackgan": StackGAN}
