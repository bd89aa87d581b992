"""A run's provenance: the commit, the library versions and the machine."""

import importlib.metadata
import subprocess

import jax

from cnnjax import provenance


def test_provenance_names_the_commit_versions_and_devices():
    record = provenance.collect()
    head = subprocess.run(
        ["git", "-C", provenance._SOURCE, "rev-parse", "HEAD"], capture_output=True, text=True
    )
    assert record["git_commit"] == (head.stdout.strip() if head.returncode == 0 else None)
    assert record["git_dirty"] in (True, False, None)
    assert record["versions"]["jax"] == jax.__version__
    assert record["versions"]["flax"] == importlib.metadata.version("flax")
    assert set(record["versions"]) == set(provenance.PACKAGES)
    assert record["device_kind"] == jax.devices()[0].device_kind
    assert record["device_count"] == jax.device_count()
    assert record["matmul_precision"] == "default"


def test_training_setup_holds_device_kind_count_and_versions():
    record = provenance.collect()
    label = provenance.training_setup(record)
    assert label.startswith(f"{record['device_kind']} x{record['device_count']}, jax ")
    assert f"flax {record['versions']['flax']}" in label
    other = {**record, "versions": {**record["versions"], "jaxlib": "0.0.1"}}
    assert provenance.training_setup(other) != label
    assert provenance.training_setup({}) == "?"


def test_the_commit_is_read_once_per_process(monkeypatch):
    first = provenance.code()
    monkeypatch.setattr(provenance, "_git", lambda *args: "a different commit")
    assert provenance.code() == first  # a checkout changed under a running sweep
    assert provenance.collect()["git_commit"] == first["git_commit"]


def test_the_cpu_is_named_by_its_model_and_a_cpu_timing_is_keyed_by_it(monkeypatch):
    from cnnjax.layers import conv_timing

    record = provenance.collect()
    assert record["cpu"] == provenance.cpu_model() and record["cpu"]
    assert conv_timing.machine_key().startswith(record["cpu"] + "|")
    try:
        with open("/proc/cpuinfo") as f:
            names = {line.split(":", 1)[1].strip() for line in f if line.startswith("model name")}
    except OSError:
        names = set()
    assert not names or record["cpu"] in names  # the kernel's name where it gives one
    provenance.cpu_model.cache_clear()
    monkeypatch.setattr("builtins.open", lambda *a, **k: (_ for _ in ()).throw(OSError("no")))
    monkeypatch.setattr(provenance.platform, "processor", lambda: "")
    try:
        assert provenance.cpu_model() == provenance.platform.machine()  # no /proc: the arch
    finally:
        provenance.cpu_model.cache_clear()
