"""The runner as a user runs it: a real subprocess, bad flags, and kill-and-resume."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "tests", "experiments", "tiny_config.py")
TIMING = ("epoch_seconds", "images_per_second", "train_seconds", "compile_seconds")


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


@pytest.mark.parametrize(
    "flag,message",
    [
        (
            "--config.model=resnet9000",
            "unknown model 'resnet9000'; valid model names: alexnet, cnn1d, dcgan_discriminator,",
        ),
        ("--config.optimizer.name=lion", "valid optimizer names: sgd, momentum, nesterov"),
        ("--config.dataset.name=imagenet", "valid dataset names: digits, mnist, fashion_mnist"),
        ("--config.optimizer.learning_rate=-1", "optimizer.learning_rate must be a number > 0"),
        ("--config.batch_size=0", "batch_size must be an integer >= 1"),
        ("--config.epochs=abc", "epochs"),
    ],
)
def test_bad_input_fails_fast_with_a_clear_message(tmp_path, flag, message):
    start = time.perf_counter()
    result = run(tmp_path / "w", flag)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "w" / "checkpoints").exists()
    assert time.perf_counter() - start < 60


def final_params(workdir):
    ckpt = os.path.join(workdir, "checkpoints")
    step = max(int(s) for s in os.listdir(ckpt) if s.isdigit())
    tree = ocp.StandardCheckpointer().restore(os.path.join(ckpt, str(step), "state"))
    return step, {
        jax.tree_util.keystr(k): np.asarray(v)
        for k, v in jax.tree_util.tree_flatten_with_path(tree)[0]
    }


def numbers(workdir):
    summary = json.load(open(os.path.join(workdir, "summary.json")))
    history = [json.loads(x) for x in open(os.path.join(workdir, "metrics.jsonl"))]
    strip = lambda d: {k: v for k, v in d.items() if k not in TIMING}
    return strip(summary), [strip(r) for r in history]


@pytest.mark.slow
def test_killed_and_interrupted_runs_resume_bit_identical(tmp_path):
    reference = tmp_path / "reference"
    result = run(reference)
    assert result.returncode == 0, result.stderr
    assert "test_accuracy" in result.stdout  # the results table

    resumed = tmp_path / "resumed"
    rng = random.Random(0)
    interrupted = 0
    # SIGKILL first during start-up (before any checkpoint), then at random moments after an
    # epoch ends (training, checkpointing, reports); SIGTERM and SIGINT save a checkpoint and
    # exit with 128 + signal.
    plan = [
        (signal.SIGKILL, False),
        (signal.SIGKILL, True),
        (signal.SIGTERM, True),
        (signal.SIGKILL, True),
        (signal.SIGINT, True),
    ]
    for sig, after_an_epoch in plan:
        proc = subprocess.Popen(
            command(resumed), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        metrics = resumed / "metrics.jsonl"
        before = len(metrics.read_text().splitlines()) if metrics.exists() else 0
        deadline = time.time() + 120
        while after_an_epoch and time.time() < deadline and proc.poll() is None:
            now = len(metrics.read_text().splitlines()) if metrics.exists() else 0
            if now > before:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.6) if after_an_epoch else rng.uniform(0.5, 2.0))
        if proc.poll() is not None:
            break  # finished before we could interrupt it
        proc.send_signal(sig)
        interrupted += 1
        _, err = proc.communicate(timeout=120)
        if sig != signal.SIGKILL:
            assert proc.returncode == 128 + sig, err
            assert "saved a checkpoint" in err
    assert interrupted == 5
    result = run(resumed)
    assert result.returncode == 0, result.stderr

    assert numbers(resumed) == numbers(reference)
    step_a, params_a = final_params(reference)
    step_b, params_b = final_params(resumed)
    assert step_a == step_b and params_a.keys() == params_b.keys()
    for key in params_a:
        np.testing.assert_array_equal(params_a[key], params_b[key], err_msg=key)


def test_workdir_of_another_config_is_refused(tmp_path):
    assert run(tmp_path, "--config.epochs=1").returncode == 0
    result = run(tmp_path, "--config.epochs=2", "--config.optimizer.learning_rate=0.01")
    assert result.returncode != 0
    assert "holds a run of a different config" in result.stderr
    assert "epochs: 1 -> 2" in result.stderr and "--overwrite" in result.stderr
    assert run(tmp_path, "--config.epochs=2", "--overwrite").returncode == 0
