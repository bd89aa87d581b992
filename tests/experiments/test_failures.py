"""Failure modes a kill test does not reach, as a user meets them in a real subprocess: a
corrupted checkpoint, a second launch on one workdir, a file as the workdir, a full disk."""

import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from cli_runs import ROOT, assert_bit_identical, metrics_lines, run, start


def _garble(step_dir, rng):
    """Corrupts a checkpoint as a failing disk or a broken copy does: one array file replaced
    by noise of its size, a few bytes flipped in the others."""
    files = sorted(glob.glob(os.path.join(step_dir, "state", "ocdbt.process_0", "d", "*")))
    assert files, step_dir
    for i, path in enumerate(files):
        data = bytearray(open(path, "rb").read())
        if i == 0:
            data = bytearray(rng.randbytes(len(data)))
        else:
            for _ in range(3):
                j = rng.randrange(len(data) // 4, len(data))
                data[j] ^= 0x5A
        open(path, "wb").write(bytes(data))


def _steps(workdir):
    return sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit())


@pytest.mark.slow
def test_a_corrupted_latest_checkpoint_is_moved_aside_and_the_resumed_run_is_bit_identical(
    tmp_path,
):
    reference = tmp_path / "reference"
    assert run(reference).returncode == 0
    resumed = tmp_path / "resumed"
    proc = start(resumed)
    deadline = time.time() + 120
    while metrics_lines(resumed) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    latest = _steps(resumed)[-1]
    _garble(resumed / "checkpoints" / str(latest), random.Random(0))

    result = run(resumed)
    assert result.returncode == 0, result.stderr
    assert f"checkpoint {resumed}/checkpoints/{latest} does not restore" in result.stderr
    assert (resumed / "checkpoints_corrupt" / str(latest) / "state").is_dir()  # kept, aside
    assert_bit_identical(resumed, reference)


@pytest.mark.slow
def test_when_no_checkpoint_restores_one_line_names_the_folder_and_overwrite(tmp_path):
    workdir = tmp_path / "w"
    assert run(workdir, "--config.epochs=2").returncode == 0
    rng = random.Random(1)
    for step in _steps(workdir):
        _garble(workdir / "checkpoints" / str(step), rng)
    result = run(workdir, "--config.epochs=2")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: no checkpoint in {workdir}/checkpoints restores (step ")
    assert "--overwrite" in last and "Traceback" not in result.stderr
    assert not (workdir / "checkpoints_corrupt").exists()  # nothing moved when nothing restores
    assert run(workdir, "--config.epochs=2", "--overwrite").returncode == 0


@pytest.mark.slow
def test_a_second_launch_on_a_running_workdir_exits_naming_the_holder(tmp_path):
    workdir = tmp_path / "w"
    first = start(workdir, "--config.epochs=400")
    deadline = time.time() + 120
    while metrics_lines(workdir) < 1 and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    try:
        second = run(workdir, "--config.epochs=400")
        assert second.returncode == 1
        assert second.stderr.strip().splitlines()[-1] == (
            f"error: {workdir} is in use by another run (pid {first.pid} on "
            f"{os.uname().nodename}, since "
            + (workdir / ".lock").read_text().split(", since ")[1].strip()
            + "); wait for it to end or stop it, or choose another --workdir"
        )
        assert first.poll() is None  # the first run goes on
    finally:
        first.kill()  # SIGKILL: the lock dies with its process
        first.communicate(timeout=60)
    third = run(workdir, "--config.epochs=1")  # gets past the lock to the config check
    assert "holds a run of a different config (epochs: 400 -> 1)" in third.stderr, third.stderr


@pytest.mark.parametrize("name", ["file", "file/below"])
def test_a_file_as_the_workdir_is_one_line(tmp_path, name):
    (tmp_path / "file").write_text("not a folder")
    result = run(tmp_path / name)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    expected = {
        "file": f"error: the workdir {tmp_path}/file is a file, not a folder; choose a folder",
        "file/below": f"error: cannot create the workdir {tmp_path}/file/below: Not a directory",
    }[name]
    assert result.stderr.strip().splitlines()[-1] == expected


@pytest.fixture
def small_disk(tmp_path):
    """A 700 KiB tmpfs (needs root and mount rights; skipped otherwise)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_keeps_the_last_good_checkpoint(small_disk, tmp_path):
    # Checkpoints of 240 KB: the first two fit; then the disk fills while the run writes its
    # third checkpoint or, depending on the sizes of the plots, its reports.
    flags = ["--config.model_args.mlp.hidden_sizes=(400,)", "--config.epochs=20"]
    result = run(small_disk / "w", *flags)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    kept = _steps(small_disk / "w")[-1]
    assert last.startswith("error: the disk is full: no space left on device writing the ")
    assert f"the last good checkpoint (step {kept}) is kept in {small_disk}/w/checkpoints" in last
    assert last.endswith("Free some space there and run the same command again to resume")
    # Moved to a disk with room, the same command resumes from that checkpoint and finishes.
    shutil.copytree(small_disk / "w", tmp_path / "moved")
    resumed = run(tmp_path / "moved", *flags)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from step {kept}" in resumed.stderr


def test_bad_folders_of_the_other_runners_are_one_line(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    python = [sys.executable, "-m"]
    cases = {
        "error: the results_dir {t}/file is a file, not a folder; choose a folder": [
            "experiments.sweep", "--sweep=lenet", "--quick", f"--workdir={tmp_path}/w",
            f"--results_dir={tmp_path}/file",
        ],
        "error: {t}/none/config.json not found: {t}/none is not a cnnjax run folder": [
            "experiments.visualize", f"--workdir={tmp_path}/none",
        ],
    }
    for expected, args in cases.items():
        result = subprocess.run(python + args, cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip().splitlines()[-1] == expected.format(t=tmp_path)
