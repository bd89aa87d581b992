"""Data parallelism: 8 virtual CPU devices and 2 processes give the numbers of one device."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A batch-norm CNN, so that equal numbers need batch statistics over the global batch.
OVERRIDES = [
    "--config.epochs=2",
    "--config.batch_size=64",
    "--config.eval_batch_size=120",
    "--config.dataset.val_size=120",
    "--config.model=small_cnn",
    "--config.model_args.small_cnn.widths=(8,16)",
    "--config.model_args.small_cnn.convs_per_stage=1",
    "--config.model_args.small_cnn.hidden=16",
    "--config.compile_cache_dir=off",
]
FIGURES = ("test_loss", "test_accuracy", "final_train_loss", "best_val_accuracy")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return dict(env, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", **extra)


def _assert_close(a, b, figures=FIGURES):
    for key in figures:
        assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


# Every task on its quick config; the figures compared: the task's own.
TASK_RUNS = {
    "classification": ("experiments/configs/digits.py", OVERRIDES, FIGURES),
    "classification_stream": (
        "experiments/configs/digits.py", [*OVERRIDES, "--config.dataset.pipeline=stream"], FIGURES
    ),
    "segmentation": (
        "experiments/configs/segmentation.py:quick",
        ["--config.epochs=2", "--config.compile_cache_dir=off"],
        ("test_loss", "test_mean_iou", "final_train_loss", "best_val_mean_iou"),
    ),
    "superres": (
        "experiments/configs/superres.py:quick,espcn",
        ["--config.epochs=2", "--config.compile_cache_dir=off"],
        ("test_loss", "test_psnr", "test_ssim", "final_train_loss", "best_val_psnr"),
    ),
    "flow": (
        "experiments/configs/flow.py:quick",
        ["--config.epochs=2", "--config.compile_cache_dir=off"],
        ("test_loss", "test_epe", "final_train_loss", "best_val_epe"),
    ),
    "genomic": (
        "experiments/configs/genomic.py:quick",
        ["--config.epochs=2", "--config.compile_cache_dir=off"],
        ("test_loss", "test_r", "test_r_genetic", "final_train_loss", "best_val_r"),
    ),
    "gan": (
        "experiments/configs/gan.py:quick,stackgan",
        ["--config.epochs=2", "--config.compile_cache_dir=off"],
        ("test_loss", "test_inception_score", "test_class_accuracy", "final_train_d_loss",
         "final_train_g_loss", "best_val_inception_score"),
    ),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("task", list(TASK_RUNS))
def test_eight_devices_equal_one(tmp_path, task, request):
    config, overrides, figures = TASK_RUNS[task]
    if task == "gan":  # the finished run that scores its samples
        overrides = [
            *overrides,
            f"--config.gan.classifier={request.getfixturevalue('gan_classifier')}",
        ]
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.argv = ["x"] + {overrides!r}
        from absl import flags
        from ml_collections import config_flags
        import jax
        from cnnjax.train import loop
        cfg = config_flags.DEFINE_config_file("config", "{config}")
        flags.FLAGS(sys.argv)
        assert jax.device_count() == 8, jax.devices()
        out = {{}}
        for n in (1, 8):
            c = cfg.value
            c.num_devices = n
            out[n] = loop.run(c, "{tmp_path}/d" + str(n))
        print("RESULT" + json.dumps(out))
        """
    )
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=8")
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert out["1"]["num_devices"] == 1 and out["8"]["num_devices"] == 8
    assert out["1"]["task"] == task.removesuffix("_stream")
    _assert_close(out["8"], out["1"], figures)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


TRAIN = [sys.executable, "-m", "experiments.train", "--noprogress", *OVERRIDES]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The summary of the run on one process, one device."""
    workdir = tmp_path_factory.mktemp("one")
    single = subprocess.run(
        TRAIN + [f"--workdir={workdir}"], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    assert single.returncode == 0, single.stderr[-3000:]
    return json.loads((workdir / "summary.json").read_text())


def _start_two(workdir, *flags):
    """Processes 0 and 1 of a two-process run of TRAIN in `workdir`."""
    port = _free_port()
    return [
        subprocess.Popen(
            TRAIN
            + [
                f"--workdir={workdir}",
                f"--coordinator_address=localhost:{port}",
                "--num_processes=2",
                f"--process_id={i}",
                *flags,
            ],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]


def _finish(procs) -> list[tuple[int, str]]:
    """(exit status, stderr) of each process, once it has ended."""
    ended = []
    for p in procs:
        _, err = p.communicate(timeout=600)
        ended.append((p.returncode, err))
    return ended


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path, one_process):
    for code, err in _finish(_start_two(tmp_path / "two", "--config.num_devices=0")):
        assert code == 0, err[-3000:]
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert one_process["num_devices"] == 1
    assert two["num_devices"] == 2 and two["num_processes"] == 2
    _assert_close(two, one_process)


@pytest.mark.slow
def test_two_processes_streaming_equal_one_in_memory(tmp_path, one_process):
    flags = ("--config.num_devices=0", "--config.dataset.pipeline=stream")
    for code, err in _finish(_start_two(tmp_path / "two", *flags)):
        assert code == 0, err[-3000:]
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert two["num_processes"] == 2 and two["pipeline"] == "stream"
    assert one_process["pipeline"] == "memory"
    _assert_close(two, one_process)


@pytest.mark.slow
def test_sigterm_to_one_of_two_processes_checkpoints_both_at_one_step(tmp_path, one_process):
    workdir = tmp_path / "two"
    flags = ("--config.num_devices=0", "--config.steps_per_sync=2")
    procs = _start_two(workdir, *flags)
    metrics = workdir / "metrics.jsonl"
    deadline = time.time() + 300
    while not metrics.exists() and time.time() < deadline and procs[1].poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # into the second epoch
    procs[1].send_signal(signal.SIGTERM)  # process 0 is not told
    steps = []
    for code, err in _finish(procs):
        assert code == 128 + signal.SIGTERM, err[-3000:]
        steps += re.findall(r"SIGTERM received: saved a checkpoint at step (\d+)", err)
    assert len(steps) == 2 and steps[0] == steps[1], steps
    for code, err in _finish(_start_two(workdir, *flags)):
        assert code == 0, err[-3000:]
        assert f"resumed from step {steps[0]}" in err
    _assert_close(json.loads((workdir / "summary.json").read_text()), one_process)


def test_two_processes_without_num_devices_are_refused_in_one_line(tmp_path):
    for code, err in _finish(_start_two(tmp_path / "two")):
        assert code == 1 and "Traceback" not in err
        assert err.strip().splitlines()[-1] == (
            "error: num_devices=1 in a run of 2 processes: a multi-process run splits each batch "
            "over the devices of all processes; set --config.num_devices=0 (all 2) or 2"
        )
    assert not (tmp_path / "two" / "checkpoints").exists()
