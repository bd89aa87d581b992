"""The runner in a real subprocess, as a user runs it, and the numbers a run leaves: shared by
the CLI and failure tests (imported as a plain module: pytest puts this folder on sys.path)."""

import glob
import json
import os
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "tests", "experiments", "tiny_config.py")
TIMING = ("epoch_seconds", "images_per_second", "train_seconds", "compile_seconds", "test_seconds")


def command(workdir, *flags, config=TINY):
    return [
        sys.executable,
        "-m",
        "experiments.train",
        f"--config={config}",
        f"--workdir={workdir}",
        "--noprogress",
        *flags,
    ]


def run(workdir, *flags, config=TINY):
    return subprocess.run(
        command(workdir, *flags, config=config),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def start(workdir, *flags, config=TINY):
    """The runner started in the background (stdout and stderr piped)."""
    return subprocess.Popen(
        command(workdir, *flags, config=config),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def final_params(workdir):
    ckpt = os.path.join(workdir, "checkpoints")
    step = max(int(s) for s in os.listdir(ckpt) if s.isdigit())
    tree = ocp.StandardCheckpointer().restore(os.path.join(ckpt, str(step), "state"))
    return step, {
        jax.tree_util.keystr(k): np.asarray(v)
        for k, v in jax.tree_util.tree_flatten_with_path(tree)[0]
    }


def _metrics_files(workdir) -> list[str]:
    """metrics.jsonl of a run, or of every seed of a multi-seed run (seed_<s>/)."""
    return sorted(
        glob.glob(os.path.join(workdir, "metrics.jsonl"))
        + glob.glob(os.path.join(workdir, "seed_*", "metrics.jsonl"))
    )


def numbers(workdir):
    """summary.json and every metrics.jsonl of a run, without the timing figures."""
    strip = lambda d: {k: v for k, v in d.items() if k not in TIMING}
    summary = json.load(open(os.path.join(workdir, "summary.json")))
    summary = {**strip(summary), "per_seed": [strip(s) for s in summary.get("per_seed", [])]}
    histories = {
        os.path.relpath(path, workdir): [strip(json.loads(x)) for x in open(path)]
        for path in _metrics_files(workdir)
    }
    return summary, histories


def step_records(workdir):
    """Every replica's per-step records (tensorboard.every_steps) in the latest checkpoint."""
    ckpt = os.path.join(workdir, "checkpoints")
    step = max(int(s) for s in os.listdir(ckpt) if s.isdigit())
    loop = json.load(open(os.path.join(ckpt, str(step), "loop", "metadata")))
    return [r.get("steps", []) for r in loop["replicas"]]


def assert_bit_identical(a, b):
    """The runs in workdirs `a` and `b` ended with the same figures, history, per-step
    records and parameters."""
    assert numbers(a) == numbers(b)
    assert step_records(a) == step_records(b)
    step_a, params_a = final_params(a)
    step_b, params_b = final_params(b)
    assert step_a == step_b and params_a.keys() == params_b.keys()
    for key in params_a:
        np.testing.assert_array_equal(params_a[key], params_b[key], err_msg=key)


def metrics_lines(workdir) -> int:
    """Epochs recorded so far (in the first seed's metrics.jsonl of a multi-seed run)."""
    files = _metrics_files(workdir)
    return len(open(files[0]).read().splitlines()) if files else 0
