r"""The streaming input pipeline against the in-memory one, interleaved on one machine:
`python -m experiments.bench_stream --dataset=cifar10 --model=resnet20`.

Three contenders take turns in windows of steps (experiments.bench_timing), all from one
process and one config, so their ratios are measured seconds apart:

- `input`: the streaming pipeline alone (grain reading, decoding a folder's files, putting each
  batch on the device), no training: the images/s it can feed;
- `train_memory`: training steps of the in-memory pipeline (the split on the device, each step
  gathering its batch there), the reference;
- `train_stream`: the same training steps fed by the streaming pipeline.

It prints images/s per window and the ratios stream / memory and input / stream (the input is
not the bottleneck when the latter is well above 1), and writes them with the run's provenance
to --out (JSON).

Flags:
  --dataset / --folder   a named dataset, or an image folder (dataset.name=folder) to stream
                         from its files (--image_size: the folder's decoded size)
  --model, --batch_size  what trains; --train_size: examples (0: all)
  --threads, --prefetch  the streaming pipeline's dataset.stream_threads / stream_prefetch
  --windows, --steps_per_window   the interleaved timing
  --out                  the JSON written (default: none)
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import sys
import tempfile

import jax
import jax.numpy as jnp
from absl import flags

from cnnjax import config as config_lib
from cnnjax import provenance
from cnnjax.train import setup as setup_lib
from cnnjax.train.loop_state import zero_sums
from experiments import bench_timing, cli

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "cifar10", "A named dataset (ignored with --folder).")
flags.DEFINE_string("folder", "", "An image folder to stream from its files instead.")
flags.DEFINE_integer("image_size", 32, "The folder's decoded image size (pixels).")
flags.DEFINE_string("model", "resnet20", "Model name.")
flags.DEFINE_integer("batch_size", 128, "Images per step.")
flags.DEFINE_integer("train_size", 0, "Training examples (0: all).")
flags.DEFINE_integer("threads", 4, "dataset.stream_threads.")
flags.DEFINE_integer("prefetch", 8, "dataset.stream_prefetch.")
flags.DEFINE_integer("windows", 5, "Timed rounds.")
flags.DEFINE_integer("steps_per_window", 20, "Steps per timed window.")
flags.DEFINE_string("out", "", "JSON file to write the figures to.")


def _config(pipeline: str):
    c = config_lib.base_config()
    c.model, c.batch_size, c.epochs = FLAGS.model, FLAGS.batch_size, 1
    c.dataset.name = "folder" if FLAGS.folder else FLAGS.dataset
    c.dataset.data_dir = FLAGS.folder
    c.dataset.image_size = FLAGS.image_size
    c.dataset.train_size = FLAGS.train_size
    c.dataset.augment.crop_padding = 4  # the CIFAR recipe, on the device in both pipelines
    c.dataset.augment.horizontal_flip = True
    c.dataset.pipeline = pipeline
    c.dataset.stream_threads, c.dataset.stream_prefetch = FLAGS.threads, FLAGS.prefetch
    c.compile_cache_dir = "off"
    config_lib.validate(c)
    return c


class _Trainer:
    """n training steps of a run's compiled step, on and on through its epochs."""

    def __init__(self, pipeline: str, workdir: str):
        self.ctx, self.state = setup_lib.setup(_config(pipeline), workdir, None)
        self.sums = zero_sums(1, None, self.ctx.fns.train_sums)
        self.epoch, self.i = -1, self.ctx.steps_per_epoch  # the first step starts epoch 0

    def _next_batch(self):
        ctx, d = self.ctx, self.ctx.data
        if self.i == ctx.steps_per_epoch:
            self.epoch, self.i = self.epoch + 1, 0
            self.perm = ctx.permutation(self.epoch)
            if d.streamed:
                self.batches = d.train.epoch(self.perm, ctx.steps_per_epoch, ctx.config.batch_size)
        self.i += 1
        if d.streamed:
            return next(self.batches)
        return d.images, d.labels, self.perm, jnp.int32(self.i - 1)

    def steps(self, n: int, train: bool = True):
        for _ in range(n):
            batch = self._next_batch()
            if train:
                self.state, self.sums = self.ctx.train_step(self.state, self.sums, *batch)
        jax.block_until_ready(batch if not train else self.sums)


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as tmp:
        memory = _Trainer("memory", os.path.join(tmp, "memory"))
        streamed = _Trainer("stream", os.path.join(tmp, "stream"))
        reader = _Trainer("stream", os.path.join(tmp, "reader"))
        runs = {
            "input": lambda n: reader.steps(n, train=False),
            "train_memory": memory.steps,
            "train_stream": streamed.steps,
        }
        for run in runs.values():  # warm-up: compiled, threads started, caches filled
            run(2)
        rates = bench_timing.interleaved_rates(
            runs, FLAGS.windows, FLAGS.steps_per_window, FLAGS.batch_size
        )
    ratios = {
        "train_stream / train_memory": bench_timing.paired_ratio(
            rates["train_stream"], rates["train_memory"]
        ),
        "input / train_stream": bench_timing.paired_ratio(rates["input"], rates["train_stream"]),
    }
    source = FLAGS.folder or FLAGS.dataset
    print(f"{FLAGS.model} on {source}, batch {FLAGS.batch_size}, {jax.devices()[0].device_kind}")
    for key, values in rates.items():
        shown = " ".join(f"{v:,.0f}" for v in values)
        print(f"  {key:>13}: median {statistics.median(values):,.0f} images/s  ({shown})")
    for key, value in ratios.items():
        print(f"  {key}: {value:.3f} (median over rounds of same-round ratios)")
    if FLAGS.out:
        result = {
            "command": "python -m experiments.bench_stream "
            + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "model": FLAGS.model,
            "source": source,
            "batch_size": FLAGS.batch_size,
            "threads": FLAGS.threads,
            "images_per_second": rates,
            "ratios": ratios,
            "provenance": provenance.collect(),
        }
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
        with open(FLAGS.out, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    cli.run(main)
