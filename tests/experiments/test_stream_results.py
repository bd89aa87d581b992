"""The streaming pipeline's committed acceptance files give their figures and verdict."""

import subprocess
import sys

from cli_runs import ROOT


def test_the_acceptance_figures_are_computed_from_the_committed_files():
    done = subprocess.run(
        [sys.executable, "-m", "experiments.stream_results"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "train_stream / train_memory" in out and "input / train_stream" in out
    assert "resnet20 memory: test_accuracy" in out and "resnet20 stream: test_accuracy" in out
    assert "similar within ±0.01:" in out
    assert out.count("peak resident") == 3
