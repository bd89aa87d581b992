r"""The streaming pipeline's acceptance figures, computed from the committed files in
experiments/results/stream/ (their commands: that folder's README.md):
`python -m experiments.stream_results`.

Prints, from the files alone:
- speed: each bench_cpu_*.json's median images/s per contender and its same-round ratios;
- accuracy: ResNet-20's per-seed test accuracy in memory and streamed from the PNG folder, the
  difference of means with its 95% Welch interval, and the verdict of the claim "streaming
  trains as well" (similar within MARGIN) by the sweeps' rule (experiments.sweeps.verdicts);
- memory: each ResNet-18 224x224 run's pipeline, decoded data size and peak resident memory.
"""

from __future__ import annotations

import glob
import json
import os
import re
import statistics

from absl import flags

from experiments import cli
from experiments.sweeps import verdicts

FOLDER = os.path.join("experiments", "results", "stream")
MARGIN = 0.01  # accuracy (1 point): the largest difference that counts as training as well

FLAGS = flags.FLAGS
flags.DEFINE_string("folder", FOLDER, "The results folder.")


def _json(*parts):
    with open(os.path.join(FLAGS.folder, *parts)) as f:
        return json.load(f)


def speed() -> None:
    for path in sorted(glob.glob(os.path.join(FLAGS.folder, "bench_cpu_*.json"))):
        bench = json.load(open(path))
        print(f"{os.path.basename(path)}: {bench['model']} on {bench['source']}")
        for key, rates in bench["images_per_second"].items():
            print(f"  {key:>13}: median {statistics.median(rates):,.0f} images/s")
        for key, value in bench["ratios"].items():
            print(f"  {key}: {value:.3f}")


def accuracy() -> None:
    per_seed = lambda name: _json("cifar10_resnet20", name, "summary.json")["per_seed"]
    seeds = {name: [s["test_accuracy"] for s in per_seed(name)] for name in ("memory", "stream")}
    for name, values in seeds.items():
        shown = ", ".join(f"{v:.4f}" for v in values)
        print(f"resnet20 {name}: test_accuracy {statistics.mean(values):.4f} ± "
              f"{statistics.stdev(values):.4f} ({shown})")  # fmt: skip
    diff, low, high, p = verdicts.welch(seeds["stream"], seeds["memory"])
    word = verdicts.verdict_word("similar", low, high, MARGIN)
    print(f"  stream - memory: {diff:+.4f} [{low:+.4f}, {high:+.4f}], p = {p:.2f}; "
          f"similar within ±{MARGIN}: {word}")  # fmt: skip


def memory() -> None:
    for run in sorted(glob.glob(os.path.join(FLAGS.folder, "resnet18_224", "*"))):
        summary = json.load(open(os.path.join(run, "summary.json")))
        timing = open(os.path.join(run, "time.txt")).read()
        peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing)[1])
        print(f"resnet18_224/{os.path.basename(run)}: {summary['pipeline']}, "
              f"{summary['num_train']} training images, decoded {summary['decoded_mb']:.0f} MB, "
              f"peak resident {peak_kb / 1024:.0f} MB, "
              f"test_accuracy {summary['test_accuracy']:.4f}")  # fmt: skip


def main(argv):
    del argv
    speed()
    accuracy()
    memory()


if __name__ == "__main__":
    cli.run(main)
