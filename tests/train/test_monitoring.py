"""Per-step records, the HParams tab and profiler traces of a run."""

import glob
import json

import numpy as np
import pytest

from cnnjax.tasks import classification
from cnnjax.train import loop, monitoring


def test_step_records_are_the_means_between_syncs():
    before = [
        {"loss_sum": 2.0, "correct": 1.0, "count": 4.0},
        {"loss_sum": 0, "correct": 0, "count": 8.0},
    ]
    now = [
        {"loss_sum": 5.0, "correct": 4.0, "count": 10.0},
        {"loss_sum": 0, "correct": 0, "count": 8.0},
    ]
    figures = classification.CLASSIFICATION.train_record
    records = monitoring.step_records(30, now, before, figures)
    assert records[0] == {"step": 30, "train_loss": 0.5, "train_accuracy": 0.5}
    assert records[1] is None  # a stopped replica trained nothing in between
    assert monitoring.step_records(5, now[:1], None, figures)[0]["train_loss"] == 0.5


def test_a_run_writes_step_scalars_hparams_and_a_trace(tmp_path, make_config):
    from test_loop import read_events  # the TFRecord reader of the loop's tests

    config = make_config(
        epochs=2,
        batch_size=64,
        tensorboard__every_steps=4,
        profile__first_step=3,
        profile__num_steps=2,
    )
    summary = loop.run(config, str(tmp_path))
    epochs = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    events = read_events(str(tmp_path / "tensorboard"))
    steps = sorted((s, v) for t, s, v in events if t == "step/train_loss")
    spe = summary["steps"] // 2  # 20 steps per epoch: records at 4, 8, ..., 40
    assert [s for s, _ in steps] == list(range(4, 2 * spe + 1, 4))
    # equal counts per record: their mean over an epoch is the epoch's training loss
    first_epoch = [v for s, v in steps if s <= spe]
    assert np.mean(first_epoch) == pytest.approx(epochs[0]["train_loss"], rel=1e-5)
    hparams = read_events(str(tmp_path / "tensorboard" / "hparams"))
    assert ("hparam/test_accuracy", 0, pytest.approx(summary["test_accuracy"])) in [
        (t, s, pytest.approx(v)) for t, s, v in hparams
    ]
    assert glob.glob(str(tmp_path / "tensorboard" / "plugins" / "profile" / "*" / "*.xplane.pb"))
