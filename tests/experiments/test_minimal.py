"""experiments/minimal.py, the whole idea in one file, as a reader runs it."""

import re
import subprocess
import sys

from cli_runs import ROOT


def _minimal(*flags):
    return subprocess.run(
        [sys.executable, "-m", "experiments.minimal", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_it_learns_the_digits_and_reports_every_epoch():
    out = _minimal("--epochs=2")
    assert out.returncode == 0, out.stderr[-2000:]
    epochs = re.findall(r"epoch (\d+): train loss ([\d.]+), test accuracy ([\d.]+)", out.stdout)
    assert [int(e) for e, _, _ in epochs] == [1, 2]
    assert float(epochs[1][1]) < float(epochs[0][1]) and float(epochs[1][2]) > 0.9


def test_a_batch_larger_than_the_data_is_a_usage_error():
    out = _minimal("--batch_size=5000", "--epochs=1")
    assert out.returncode != 0 and "--batch_size=5000 exceeds the 1437 images" in out.stderr
