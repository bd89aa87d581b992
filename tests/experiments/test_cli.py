"""The runner as a user runs it: a real subprocess, bad flags, and kill-and-resume."""

import random
import signal
import time

import pytest
from cli_runs import TINY, assert_bit_identical, metrics_lines, run, start


@pytest.mark.parametrize(
    "flag,message",
    [
        (
            "--config.model=resnet9000",
            "unknown model 'resnet9000'; valid model names: airbench_net, alexnet, cnn1d, dcgan",
        ),
        ("--config.optimizer.name=lion", "valid optimizer names: sgd, momentum, nesterov"),
        ("--config.dataset.name=imagenet", "valid dataset names: digits, mnist, fashion_mnist"),
        ("--config.optimizer.learning_rate=-1", "optimizer.learning_rate must be a number > 0"),
        ("--config.batch_size=0", "batch_size must be an integer >= 1"),
        ("--config.epochs=abc", "epochs"),
        ("--config.nope=1", "error: --config.nope=1: the config has no field 'nope'; its fields: "),
        (
            "--config.model_args.small_cnn.no_such_field=1",
            "model_args.small_cnn has no field 'no_such_field'; its fields: ",
        ),
        (
            "--config.dataset.nope.x=3",
            "error: --config.dataset.nope.x=3: dataset has no field 'nope'; its fields: ",
        ),
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


# Three seeds with reduce-on-plateau and early stopping: every sweep relies on their resume;
# with mixup / CutMix, a weight average (validated and tested on) and per-step records, whose
# state and draws must resume too.
SEEDS_PLATEAU_EARLY_STOPPING = (
    "--config.num_seeds=3",
    "--config.plateau.enabled=True",
    "--config.plateau.patience=1",
    "--config.early_stopping.enabled=True",
    "--config.early_stopping.patience=3",
    "--config.mixing.mixup_alpha=0.2",
    "--config.mixing.cutmix_alpha=1.0",
    "--config.ema.decay=0.9",
    "--config.tensorboard.every_steps=7",
)


# Every task on its quick config (tiny shapes), long enough to be interrupted a few times.
TASK_CONFIGS = {
    task: (
        f"experiments/configs/{task}.py:quick",
        ("--config.epochs=8", "--config.steps_per_sync=2"),
    )
    for task in ("segmentation", "superres", "flow", "genomic", "gan")
}
CASES = {
    "one_seed": (TINY, ()),
    "three": (TINY, SEEDS_PLATEAU_EARLY_STOPPING),
    **TASK_CONFIGS,
    # streamed from a generated image folder (its data_dir set by the test): two seeds
    "stream_folder": (TINY, (
        "--config.dataset.pipeline=stream", "--config.dataset.name=folder",
        "--config.dataset.image_size=8", "--config.dataset.cache_dir=off",
        "--config.num_seeds=2", "--config.epochs=8",
    )),
    "segmentation_three": (
        TASK_CONFIGS["segmentation"][0],
        (*TASK_CONFIGS["segmentation"][1], "--config.num_seeds=3",
         "--config.early_stopping.enabled=True", "--config.early_stopping.metric=val_mean_iou",
         "--config.early_stopping.patience=2"),
    ),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_killed_and_interrupted_runs_resume_bit_identical(tmp_path, case, request):
    config, flags = CASES[case]
    if case == "gan":  # the finished run that scores its samples
        flags = (*flags, f"--config.gan.classifier={request.getfixturevalue('gan_classifier')}")
    if case == "stream_folder":
        flags = (*flags, f"--config.dataset.data_dir={request.getfixturevalue('digits_folder')}")
    reference = tmp_path / "reference"
    result = run(reference, *flags, config=config)
    assert result.returncode == 0, result.stderr
    assert "test_loss" in result.stdout  # the results table

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
        proc = start(resumed, *flags, config=config)
        before = metrics_lines(resumed)
        deadline = time.time() + 120
        while after_an_epoch and time.time() < deadline and proc.poll() is None:
            if metrics_lines(resumed) > before:
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
    result = run(resumed, *flags, config=config)
    assert result.returncode == 0, result.stderr

    assert_bit_identical(resumed, reference)


def test_workdir_of_another_config_is_refused(tmp_path):
    assert run(tmp_path, "--config.epochs=1").returncode == 0
    result = run(tmp_path, "--config.epochs=2", "--config.optimizer.learning_rate=0.01")
    assert result.returncode != 0
    assert "holds a run of a different config" in result.stderr
    assert "epochs: 1 -> 2" in result.stderr and "--overwrite" in result.stderr
    assert run(tmp_path, "--config.epochs=2", "--overwrite").returncode == 0
