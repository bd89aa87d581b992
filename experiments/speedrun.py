r"""The CIFAR-10 speedrun over seeds, timed as airbench times itself, optionally side by side
with airbench94 itself (PyTorch, a GPU) on the same copy of CIFAR-10, seeds interleaved.

    python -m experiments.speedrun --seeds=3 --out=experiments/results/speedrun_cpu
    python -m experiments.speedrun --seeds=10 --config.compute_dtype=bfloat16 \
        --config.scan_steps=True --config.steps_per_sync=48 \
        --airbench=../shared/reference/airbench/airbench94.py --out=experiments/results/speedrun
    python -m experiments.speedrun --seeds=3 --airbench_seeds=1 --warmup=false \
        --airbench_device=cpu --airbench=../shared/reference/airbench/airbench94.py \
        --out=experiments/results/speedrun_cpu

Each cnnjax seed is a run of the one training loop (experiments/configs/cifar10_speedrun.py,
--config.<field> overrides) in <workdir>/seed_<s>; a run already finished there is read back,
not trained again (so an interrupted command picks up where it stopped, and a run of a few
seeds can be extended by asking for more). Its time is airbench's
measure: the training epochs plus the final test-time-augmented evaluation (summary.json's
train_seconds + test_seconds; compilation is out of it once the persistent cache holds the
programs, which a warm-up run of 1 epoch fills first, as airbench's warm-up run does).

With --airbench, airbench94.py is imported from its file (unmodified; with
--airbench_device=cpu, its CPU port: the lines naming CUDA, float16 and torchvision swapped for
the CPU, float32 and torch, listed in results.json, the recipe untouched) and its `main(run)` is
called for each seed, in turn with cnnjax's, in a folder holding `cifar10/train.pt` and
`cifar10/test.pt` written from cnnjax's CIFAR-10 reader, so both train on the same images; its
time is the `total_time_seconds` it prints for the run, kept with its accuracy in
<workdir>/airbench94_<device>/seed_<s>.json and likewise read back. The results (per seed, mean
and std, the verdicts of experiments/sweeps/verdicts.py, the machine and versions) go to --out
as results.json and results.md.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from absl import app, flags
from ml_collections import config_flags

from cnnjax import provenance, report, runtime
from cnnjax.train import loop
from experiments.speedrun_runs import (
    CPU_PORT,
    FIGURE,
    airbench_module,
    airbench_record,
    airbench_seed,
    cnnjax_seed,
    write_cifar_pt,
    write_results,
)

_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/configs/cifar10_speedrun.py", "The speedrun config.", lock_config=True
)
flags.DEFINE_integer("seeds", 3, "seeds 0 .. seeds - 1, each a run")
flags.DEFINE_string("workdir", "runs/speedrun", "the runs' folder (seed_<s>, warmup)")
flags.DEFINE_string("out", None, "folder for results.json and results.md", required=True)
flags.DEFINE_string("airbench", "", "airbench94.py to run side by side (needs torch)")
flags.DEFINE_integer(
    "airbench_seeds", None, "airbench94's seeds 0 .. airbench_seeds - 1 (default: --seeds)"
)
flags.register_validator(
    "airbench", lambda path: not path or os.path.isfile(path), "--airbench: no such file"
)
flags.register_multi_flags_validator(
    ["seeds", "airbench_seeds"],
    lambda f: f["airbench_seeds"] is None or 1 <= f["airbench_seeds"] <= f["seeds"],
    "--airbench_seeds: between 1 and --seeds",
)
flags.DEFINE_enum(
    "airbench_device", "cuda", ["cuda", "cpu"], "cpu: airbench94.py's CPU port (float32)"
)
flags.DEFINE_float("target", 0.94, "the test accuracy the speedrun aims at")
flags.DEFINE_bool("warmup", True, "a 1-epoch run first, to fill the compilation cache")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    runtime.configure()
    provenance.code()  # the commit this process runs, read before it trains (cached)
    config = _CONFIG.value
    seeds = list(range(FLAGS.seeds))
    if FLAGS.warmup:
        warm = config.copy_and_resolve_references()
        warm.epochs = 1
        loop.run(warm, os.path.join(FLAGS.workdir, "warmup"), progress=False, overwrite=True)
    rows = {"cnnjax": []}
    airbench, folder, device, records = None, None, FLAGS.airbench_device, {}
    if FLAGS.airbench:
        rows["airbench94"] = []
        count = FLAGS.seeds if FLAGS.airbench_seeds is None else FLAGS.airbench_seeds
        records = {s: airbench_record(FLAGS.workdir, device, s) for s in seeds[:count]}
        if not all(os.path.exists(r) for r in records.values()):  # a seed left to run
            folder = tempfile.mkdtemp(prefix="airbench_data_")
            write_cifar_pt(folder, config.dataset.data_dir or None)
            airbench = airbench_module(os.path.abspath(FLAGS.airbench), device)
            if FLAGS.warmup:
                airbench.main("warmup")  # its own warm-up run (random labels)
    for seed in seeds:  # interleaved: a speed switch of the machine hits both alike
        if seed in records:
            rows["airbench94"].append(airbench_seed(airbench, folder, seed, records[seed]))
        rows["cnnjax"].append(cnnjax_seed(config, FLAGS.workdir, seed))
        print(
            f"seed {seed}: "
            + ", ".join(
                f"{k} {v[-1]['accuracy']:.4f} in {v[-1]['seconds']:.1f} s"
                for k, v in rows.items()
                if v and v[-1]["seed"] == seed
            )
        )
    results = {
        "command": " ".join(["python -m experiments.speedrun", *sys.argv[1:]]),
        "figure": FIGURE,
        "target": FLAGS.target,
        "machine": provenance.collect(),
        "config": report.read_json(os.path.join(FLAGS.workdir, f"seed_{seeds[0]}", "config.json")),
        "rows": rows,
    }
    if FLAGS.airbench:
        import torch

        results["airbench"] = {
            "file": FLAGS.airbench,
            "device": device,
            "torch": torch.__version__,
        }
        if FLAGS.airbench_device == "cpu":
            results["airbench"]["cpu_port"] = [list(pair) for pair in CPU_PORT]
    write_results(FLAGS.out, results)
    if folder is not None:
        shutil.rmtree(folder)  # train.pt and test.pt


if __name__ == "__main__":
    app.run(main)
