"""The PyTorch reference of the benchmark: the same architectures and the same training step.

Imported only when PyTorch is installed (`pip install -e .[bench]`). The models mirror cnnjax's
exactly, parameter for parameter (the benchmark asserts equal counts):
  lenet5   conv5x5 (6, padding 2) -> ReLU -> maxpool2 -> conv5x5 (16) -> ReLU -> maxpool2 ->
           dense 120 -> ReLU -> dense 84 -> ReLU -> dense 10            (61,706 parameters)
  resnet20 conv3x3 (16) -> BN -> ReLU, 3 stages x 3 basic blocks at (16, 32, 64), option A
           shortcuts, global average pool, dense 10 (He et al. 2016a)    (269,722 parameters)
The step matches `bench_jax`: gather the batch from uint8 data by the permutation, normalise,
forward, cross-entropy, backward, SGD with momentum.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.bench_jax import LEARNING_RATE, MOMENTUM, epochs_until, recipe_tools
from experiments.bench_timing import timed_windows

TRUNCATED_NORMAL_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


def lecun_normal_(module: nn.Module) -> None:
    """Initialises every conv and linear layer as cnnjax does (Flax's default): weights from a
    normal of variance 1 / fan_in truncated at two standard deviations (the standard
    deviation corrected for the truncation), biases zero. PyTorch's default draws both from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), a third of that variance."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            std = (1 / fan_in) ** 0.5 / TRUNCATED_NORMAL_STD
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            nn.init.zeros_(m.bias)


class LeNet5(nn.Module):
    """cnnjax's lenet5, initialised as cnnjax initialises it (`lecun_normal_`) unless
    `torch_init` (PyTorch's default initialisation)."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        flat: int = 16 * 5 * 5,
        torch_init: bool = False,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2 = nn.Linear(flat, 120), nn.Linear(120, 84)
        self.head = nn.Linear(84, num_classes)
        if not torch_init:
            lecun_normal_(self)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.head(F.relu(self.fc2(x)))


class BasicBlockA(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the option A shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.extra = stride, c_out - c_in

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra))
        return F.relu(out + shortcut)


class CifarResNet(nn.Module):
    def __init__(self, n: int = 3, num_classes: int = 10, widths=(16, 32, 64)):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        blocks, c_in = [], widths[0]
        for stage, width in enumerate(widths):
            for i in range(n):
                blocks.append(BasicBlockA(c_in, width, 2 if stage and not i else 1))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


MODELS = {"lenet5": LeNet5, "resnet20": CifarResNet}


def create(name: str, image_shape, torch_init: bool = False) -> nn.Module:
    """The twin of registered model `name`; `torch_init`: LeNet-5 keeps PyTorch's default
    initialisation instead of cnnjax's."""
    if name == "lenet5":
        h, w, c = image_shape
        flat = 16 * ((h // 2 - 4) // 2) * ((w // 2 - 4) // 2)
        return LeNet5(c, flat=flat, torch_init=torch_init)
    return MODELS[name]()


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def triangular(total: int, div_factor: float, pct_start: float, final_lr_fraction: float):
    """The learning rate's factor after t updates: cnnjax's 'triangular' schedule (linear
    1 / div_factor -> 1 over int(total pct_start) updates, then linear down to
    final_lr_fraction at update `total`)."""
    warmup = max(1, int(total * pct_start))
    rest = max(1, total - warmup)

    def factor(t):
        if t < warmup:
            return 1 / div_factor + (1 - 1 / div_factor) * t / warmup
        return 1 + (final_lr_fraction - 1) * min(t - warmup, rest) / rest

    return factor


class Lookahead:
    """cnnjax.train.steps.Lookahead on a module's floating-point state (parameters and
    batch-norm statistics): after update t, when t is a multiple of `every`,
    slow = a slow + (1 - a) w with a = decay (t / total) ** power, then w = slow; after the
    last update w = slow."""

    def __init__(self, model: nn.Module, every: int, decay: float, power: float, total: int):
        self.model, self.every, self.decay, self.power, self.total = (
            model,
            every,
            decay,
            power,
            total,
        )
        self.slow = {k: v.detach().clone() for k, v in self._weights().items()}

    def _weights(self):
        return {k: v for k, v in self.model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def after(self, t: int) -> None:
        periodic = t % self.every == 0
        if not (periodic or t >= self.total):
            return
        a = self.decay * (t / self.total) ** self.power if periodic else 1.0
        for key, w in self._weights().items():
            self.slow[key].mul_(a).add_(w, alpha=1 - a)
            w.copy_(self.slow[key])


def make_step(
    model: nn.Module,
    images,
    labels,
    mean,
    std,
    batch_size: int,
    lr=LEARNING_RATE,
    total=0,
    tools: dict | None = None,
):
    """step(perm, i): one optimizer step on examples perm[i*B:(i+1)*B]; returns the loss.

    SGD with momentum 0.9 at learning rate `lr`, or with total > 0 steps lr decayed to 0 by a
    cosine over them. With `tools` (bench_jax.speedrun_tools()) and total > 0: Nesterov with
    their momentum and weight decay, the triangular schedule, label smoothing, lookahead."""
    smoothing, lookahead = 0.0, None
    if tools is None:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
        factor = lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total) / total))
    else:
        opt = torch.optim.SGD(
            model.parameters(),
            lr=lr,
            momentum=tools["momentum"],
            nesterov=True,
            weight_decay=tools["weight_decay"],
        )
        factor = triangular(
            total, tools["div_factor"], tools["pct_start"], tools["final_lr_fraction"]
        )
        smoothing = tools["label_smoothing"]
        lookahead = Lookahead(
            model,
            tools["lookahead_every"],
            tools["lookahead_decay"],
            tools["lookahead_power"],
            total,
        )
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, factor) if total else None
    done = [0]

    def step(perm, i):
        idx = perm[i * batch_size : (i + 1) * batch_size]
        x = (images[idx].float() - mean) / std
        loss = F.cross_entropy(model(x), labels[idx], label_smoothing=smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done[0] += 1
        if schedule is not None:
            schedule.step()
        if lookahead is not None:
            lookahead.after(done[0])
        return loss

    return step


def to_torch_data(images_nhwc: np.ndarray, labels: np.ndarray, device: str = "cpu"):
    """uint8 NHWC -> uint8 NCHW tensor, labels -> int64, and per-channel mean/std (1, C, 1, 1),
    all on `device` (the data stays there, as cnnjax keeps it on its device)."""
    images = torch.from_numpy(np.ascontiguousarray(images_nhwc.transpose(0, 3, 1, 2)))
    flat = images_nhwc.reshape(-1, images_nhwc.shape[-1]).astype(np.float64)
    shape = (1, -1, 1, 1)
    mean = torch.tensor(flat.mean(0), dtype=torch.float32).reshape(shape)
    std = torch.tensor(flat.std(0) + 1e-12, dtype=torch.float32).reshape(shape)
    tensors = images, torch.from_numpy(labels.astype(np.int64)), mean, std
    return tuple(t.to(device) for t in tensors)


def synchronize(device: str) -> None:
    """Waits for the device's queued work (CUDA runs asynchronously; the CPU does not)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def prepare_training(
    name: str,
    image_shape,
    images_nhwc: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 128,
    compiled: bool = False,
    warmup_steps: int = 3,
    device: str = "cpu",
) -> tuple[Callable[[int], None], dict[str, Any]]:
    """The PyTorch step on `device`, eager or under torch.compile (default inductor backend),
    warmed up and ready to time: the twin of `bench_jax.prepare_training`.

    Returns (run, info): run(n) takes n steps and blocks until done; info = {'num_params',
    'compile_seconds': the first step's time minus a warm-up step's, the compile cost}.
    """
    torch.manual_seed(0)
    model = create(name, image_shape).train().to(device)
    count = num_params(model)
    forward = torch.compile(model) if compiled else model
    images, targets, mean, std = to_torch_data(images_nhwc, labels, device)
    num_batches = len(targets) // batch_size
    step = make_step(forward, images, targets, mean, std, batch_size)
    perm = torch.randperm(len(targets), generator=torch.Generator().manual_seed(0)).to(device)
    counter = [0]

    def run(n):
        for _ in range(n):
            step(perm, counter[0] % num_batches)
            counter[0] += 1
        synchronize(device)

    first, warmup = timed_windows(lambda: run(1), 1)[0], 0.0
    if warmup_steps:
        warmup = timed_windows(lambda: run(warmup_steps), 1)[0] / warmup_steps
    return run, {"compile_seconds": max(first - warmup, 0.0), "num_params": count}


def time_to_accuracy(
    name: str,
    train_split,
    test_split,
    target: float,
    max_epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int = 0,
    recipe: str = "sgd_cosine",
    torch_init: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """The PyTorch-eager twin of bench_jax.time_to_accuracy (same recipe, initialisation
    distribution unless `torch_init`, and evaluation; `seed` draws the initial weights and
    the epochs' order), on `device`."""
    tools = recipe_tools(recipe)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = create(name, train_split.images.shape[1:], torch_init).train().to(device)
    images, labels, mean, std = to_torch_data(train_split.images, train_split.labels, device)
    test_images, test_labels, _, _ = to_torch_data(test_split.images, test_split.labels, device)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = len(labels) // batch_size
    total = max_epochs * steps_per_epoch
    step = make_step(model, images, labels, mean, std, batch_size, learning_rate, total, tools)

    def train_epoch(epoch):
        perm = torch.randperm(len(labels), generator=generator).to(device)
        for i in range(steps_per_epoch):
            step(perm, i)

    def test_accuracy():
        model.eval()
        with torch.no_grad():
            correct = sum(
                int((model((x.float() - mean) / std).argmax(1) == y).sum())
                for x, y in zip(test_images.split(1000), test_labels.split(1000))
            )
        model.train()
        return correct / len(test_labels)

    return epochs_until(target, max_epochs, train_epoch, test_accuracy, t0)
