"""The run loop in-process: outputs, early stopping, plateau, divergence, workdir safety."""

import glob
import json
import os
import signal
import struct

import jax
import ml_collections
import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from cnnjax import provenance
from cnnjax.config import ConfigError, base_config, validate
from cnnjax.train import early_stopping, errors, loop, trained, workdir
from cnnjax.train.signals import RunInterrupted


def read_events(logdir):
    """(tag, step, value) of every scalar in the TFRecord event files of `logdir`."""
    out = []
    for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
        with open(path, "rb") as f:
            raw = f.read()
        pos = 0
        while pos < len(raw):
            (length,) = struct.unpack("<Q", raw[pos : pos + 8])
            event = event_pb2.Event.FromString(raw[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            out += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    return out


def test_run_writes_every_output(tmp_path, make_config):
    summary = loop.run(make_config(epochs=2), str(tmp_path))
    for name in ("config.json", "metrics.jsonl", "summary.json", "curves.png"):
        assert (tmp_path / name).exists(), name
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    for key in (
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "learning_rate",
        "epoch_seconds",
        "images_per_second",
    ):
        assert all(np.isfinite(r[key]) for r in lines), key
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    for key in (
        "test_accuracy",
        "test_loss",
        "best_val_accuracy",
        "epochs_run",
        "train_seconds",
        "test_seconds",
        "compile_seconds",
        "num_params",
    ):
        assert saved[key] is not None, key
    assert saved["epochs_run"] == 2 and saved["num_params"] == 64 * 32 + 32 + 32 * 10 + 10
    assert saved["num_test"] == 360 and saved["num_val"] == 100
    assert len(saved["channel_mean"]) == 1 and saved["channel_std"][0] > 0
    assert saved["provenance"] == json.loads(json.dumps(provenance.collect()))
    # The per-class report: support-weighted recall is the test accuracy
    per_class, confusion = saved["per_class"], np.array(saved["confusion_matrix"])
    assert per_class["class_names"] == [str(d) for d in range(10)] == saved["class_names"]
    assert confusion.sum() == 360 and per_class["support"] == confusion.sum(1).tolist()
    weighted = np.dot(per_class["recall"], per_class["support"]) / 360
    assert weighted == pytest.approx(saved["test_accuracy"])
    assert (tmp_path / "confusion_matrix.png").exists()
    events = read_events(str(tmp_path / "tensorboard"))
    assert sorted((s, round(v, 5)) for t, s, v in events if t == "val_accuracy") == [
        (r["epoch"], round(r["val_accuracy"], 5)) for r in lines
    ]
    assert os.listdir(tmp_path / "checkpoints")
    # Running again resumes the finished run: same numbers, no more epochs.
    again = loop.run(make_config(epochs=2), str(tmp_path))
    assert again["test_accuracy"] == summary["test_accuracy"] and again["epochs_run"] == 2


def test_a_sigterm_while_a_resumed_run_writes_its_first_reports_saves_and_stops(
    tmp_path, make_config, monkeypatch
):
    # The kill-and-resume CLI test sent SIGTERM once the resumed run rewrote metrics.jsonl, which
    # it did before installing its handler: the process died of the signal (returncode -15).
    config = make_config(epochs=2)
    monkeypatch.setattr(loop, "log_epoch", lambda ctx, rec: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(RunInterrupted, match="SIGINT received: saved a checkpoint"):
        loop.run(config, str(tmp_path), progress=False)  # stops after epoch 1
    monkeypatch.undo()
    write_reports = loop.write_reports

    def write_then_terminate(ctx, loop_record):
        write_reports(ctx, loop_record)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(loop, "write_reports", write_then_terminate)
    with pytest.raises(RunInterrupted, match="SIGTERM received: saved a checkpoint"):
        loop.run(config, str(tmp_path), progress=False)
    monkeypatch.undo()
    assert loop.run(config, str(tmp_path), progress=False)["epochs_run"] == 2


def test_flip_average_adds_the_test_figures_with_test_time_flips(tmp_path, make_config):
    summary = loop.run(make_config(epochs=1, eval_flip_average=True), str(tmp_path))
    assert 0 <= summary["test_accuracy_flip"] <= 1 and summary["test_loss_flip"] > 0
    assert summary["test_loss_flip"] != summary["test_loss"]  # digits are not mirror-symmetric
    plain = loop.run(make_config(epochs=1), str(tmp_path / "plain"))
    assert "test_accuracy_flip" not in plain


def test_early_stopping_stops_and_restores_the_best(tmp_path, make_config):
    # A learning rate this small cannot improve the validation loss by min_delta.
    config = make_config(epochs=6, optimizer__learning_rate=1e-9, schedule__name="constant")
    config.early_stopping.update(enabled=True, metric="val_loss", patience=2, min_delta=1e-3)
    summary = loop.run(config, str(tmp_path))
    assert summary["stopped_early"] and summary["epochs_run"] == 3 and summary["best_epoch"] == 1


def test_plateau_reduces_the_learning_rate(tmp_path, make_config):
    config = make_config(epochs=4, optimizer__learning_rate=1e-9, schedule__name="constant")
    config.plateau.update(enabled=True, patience=1, factor=0.5)
    loop.run(config, str(tmp_path))
    lrs = [json.loads(x)["learning_rate"] for x in (tmp_path / "metrics.jsonl").open()]
    # Epoch 1 sets the best value, every later epoch is a plateau: the scale halves each time,
    # and the recorded rate is the one used during that epoch.
    assert lrs == pytest.approx([1e-9, 1e-9, 0.5e-9, 0.25e-9])


def test_divergence_names_the_step_and_writes_no_checkpoint(tmp_path, make_config):
    config = make_config(epochs=2, loss__l2=1e38)  # the penalty overflows at once
    with pytest.raises(errors.NonFiniteLossError, match="non-finite at step 0 .epoch 1.") as e:
        loop.run(config, str(tmp_path))
    assert "no checkpoint had been written yet" in str(e.value)
    assert not os.listdir(tmp_path / "checkpoints")


def test_workdir_of_another_config_is_refused_unless_overwrite(tmp_path, make_config):
    loop.run(make_config(epochs=1), str(tmp_path))
    with pytest.raises(
        errors.WorkdirConflictError, match=r"optimizer.learning_rate: 0.05 -> 0.1.*--overwrite"
    ):
        loop.run(make_config(epochs=1, optimizer__learning_rate=0.1), str(tmp_path))
    summary = loop.run(
        make_config(epochs=1, optimizer__learning_rate=0.1), str(tmp_path), overwrite=True
    )
    assert summary["epochs_run"] == 1
    assert json.loads((tmp_path / "config.json").read_text())["optimizer"]["learning_rate"] == 0.1


def test_run_outputs_without_a_config_json_are_refused_unless_overwrite(tmp_path, make_config):
    loop.run(make_config(epochs=1), str(tmp_path))
    (tmp_path / "config.json").unlink()  # its checkpoints no longer say which config they are
    with pytest.raises(errors.WorkdirConflictError, match=r"checkpoints.*but no config.json"):
        loop.run(make_config(epochs=2), str(tmp_path))
    summary = loop.run(make_config(epochs=2), str(tmp_path), overwrite=True)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert summary["epochs_run"] == 2 and [r["epoch"] for r in records] == [1, 2]  # from scratch


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("optimizer__learning_rate", -1.0, "optimizer.learning_rate must be a number > 0"),
        ("batch_size", 0, "batch_size must be an integer >= 1"),
        ("epochs", 0, "epochs must be an integer >= 1, got 0"),
        ("compute_dtype", "float16", "compute_dtype must be float32 or bfloat16 .float16 would"),
        ("dataset__name", "imagenet", "valid dataset names: digits, mnist"),
        ("optimizer__name", "lion", "valid optimizer names: sgd, momentum"),
        ("schedule__name", "linear", "valid schedule names: constant, step"),
        ("model", "resnet9000", "valid model names: airbench_net, alexnet, cnn1d, dcgan, dcgan_d"),
        ("model_args__mlp__widths", (4,), "model_args.mlp.widths: model 'mlp' has no such field"),
        ("model_args__resnet9000", {}, "model_args.resnet9000: not a model name"),
        ("model", "fcn", "'fcn' outputs pixel_logits.*set task to one of: segmentation"),
        ("model", "srcnn", "'srcnn' outputs image, but task 'classification'.*: superres"),
    ],
)
def test_bad_config_is_rejected_before_any_work(tmp_path, make_config, field, value, message):
    with pytest.raises(ValueError, match=message):
        loop.run(make_config(**{field: value}), str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_batch_larger_than_the_training_split(tmp_path, make_config):
    with pytest.raises(ConfigError, match="batch_size=5000 exceeds the 1337 training examples"):
        loop.run(make_config(batch_size=5000), str(tmp_path))


def test_wrong_type_names_the_field():
    # ConfigDict's own type safety catches most; validate() catches the rest.
    config = ml_collections.ConfigDict(base_config().to_dict(), type_safe=False)
    config.epochs = "3"
    with pytest.raises(ConfigError, match="epochs must be an integer >= 1, got '3' .str."):
        validate(config)


def test_model_switch_and_fields_of_other_models_do_not_matter_for_resume(tmp_path, make_config):
    config = make_config(epochs=1, model="small_cnn")
    config.model_args.small_cnn.update(widths=(4,), hidden=8)
    summary = loop.run(config, str(tmp_path))
    assert (
        summary["model"] == "small_cnn"
        and summary["num_params"] == 36 + 8 + 144 + 8 + 64 * 8 + 8 + 90
    )
    config.model_args.resnet20.conv_impl = "im2col"  # another model's field: same run
    assert loop.run(config, str(tmp_path))["test_loss"] == summary["test_loss"]
    config.model_args.small_cnn.hidden = 16
    with pytest.raises(errors.WorkdirConflictError, match="model_args.small_cnn.hidden: 8 -> 16"):
        loop.run(config, str(tmp_path))


def test_a_field_added_after_a_run_matches_it_when_it_holds_its_default(tmp_path, make_config):
    summary = loop.run(make_config(epochs=1), str(tmp_path))
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["layer_stats"]  # as written before cnnjax had the field
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert workdir.config_differences(saved, json.loads(make_config(epochs=1).to_json())) == []
    assert loop.run(make_config(epochs=1), str(tmp_path))["test_loss"] == summary["test_loss"]
    enabled = json.loads(make_config(epochs=1, layer_stats__enabled=True).to_json())
    assert workdir.config_differences(saved, enabled) == ["layer_stats.enabled: None -> True"]


def test_accumulating_k_steps_trains_as_one_k_times_larger_batch(tmp_path, make_config):
    """A model without batch norm or dropout: k micro-batches of B images give the mean
    gradient of the batch of k B images, so the runs' weights and figures agree."""
    common = {"epochs": 2, "dataset__train_size": 1024, "schedule__name": "cosine"}
    big = loop.run(make_config(batch_size=128, **common), str(tmp_path / "big"))
    small = make_config(batch_size=64, optimizer__accumulate_steps=2, **common)
    accumulated = loop.run(small, str(tmp_path / "acc"))
    assert accumulated["steps"] == 2 * big["steps"]
    for key in ("test_accuracy", "test_loss", "final_train_loss"):
        assert accumulated[key] == pytest.approx(big[key], rel=1e-4), key
    weights = [
        trained.load_trained(str(tmp_path / name)).variables["params"] for name in ("big", "acc")
    ]
    for a, b in zip(*(jax.tree.leaves(w) for w in weights)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    rates = [
        [json.loads(x)["learning_rate"] for x in (tmp_path / name / "metrics.jsonl").open()]
        for name in ("big", "acc")
    ]
    assert rates[1] == pytest.approx(rates[0])


@pytest.mark.parametrize(
    "higher,value,best,expected",
    [
        (True, 0.5, None, True),
        (True, 0.5, 0.4, True),
        (True, 0.4, 0.5, False),
        (False, 0.4, 0.5, True),
        (True, float("nan"), None, False),  # a correlation of constant outputs: undefined
        (True, float("nan"), 0.1, False),
        (True, 0.1, float("nan"), True),  # a NaN best (epoch 1) gives way to a real value
        (False, 0.1, float("nan"), True),
    ],
)
def test_an_undefined_validation_value_is_never_the_best(higher, value, best, expected):
    assert early_stopping.improved(higher, value, best) is expected
