"""Data parallelism: 8 virtual CPU devices and 2 processes give the numbers of one device."""

import json
import os
import socket
import subprocess
import sys
import textwrap

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


def _assert_close(a, b):
    for key in FIGURES:
        assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


@pytest.mark.slow
def test_eight_devices_equal_one(tmp_path):
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.argv = ["x"] + {OVERRIDES!r}
        from absl import flags
        from ml_collections import config_flags
        import jax
        from cnnjax.train import loop
        cfg = config_flags.DEFINE_config_file("config", "experiments/configs/digits.py")
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
    _assert_close(out["8"], out["1"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    train = [sys.executable, "-m", "experiments.train", "--noprogress", *OVERRIDES]
    single = subprocess.run(
        train + [f"--workdir={tmp_path}/one"], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    assert single.returncode == 0, single.stderr[-3000:]
    port = _free_port()
    procs = [
        subprocess.Popen(
            train
            + [
                f"--workdir={tmp_path}/two",
                "--config.num_devices=0",
                f"--coordinator_address=localhost:{port}",
                "--num_processes=2",
                f"--process_id={i}",
            ],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    one = json.loads((tmp_path / "one" / "summary.json").read_text())
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert one["num_devices"] == 1 and two["num_devices"] == 2 and two["num_processes"] == 2
    _assert_close(two, one)
