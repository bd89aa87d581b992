"""Where a number came from: the code, the libraries and the machine that produced it.

    provenance.collect()  # -> a JSON-serialisable dict, stored in every summary.json

A comparison is only fair between runs of one device kind and one set of library versions
(XLA's fp32 convolutions run on TF32 tensor cores on recent NVIDIA GPUs, say, and not on CPUs);
`training_setup` names the part of a provenance record that must agree.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
from typing import Any

import jax

from cnnjax.layers.onednn import library as onednn_library

PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy")
_SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout, if any


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", _SOURCE, *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.cache
def code() -> dict[str, Any]:
    """The git commit of cnnjax's checkout and whether tracked files differed from it (None
    for both when cnnjax is not run from a git checkout, e.g. installed from a wheel).

    Read once per process, on the first call, which the runners make at start-up (and
    `cnnjax.train.run` before it trains): the code a process runs is the code it imported, so
    a sweep's runs keep the commit it started from while the checkout changes beneath it."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def versions() -> dict[str, str | None]:
    """The installed version of each of PACKAGES (None if not installed)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.cache
def cpu_model() -> str:
    """The host CPU's model name as the kernel reports it (/proc/cpuinfo's 'model name', e.g.
    'AMD EPYC 9R14 96-Core Processor'); elsewhere Python's platform.processor() or, failing
    that, the architecture ('x86_64'). A CPU timing is valid for this name, not for 'x86_64'."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """The devices JAX computes on, the host, and the settings that change its arithmetic."""
    devices = jax.devices()
    return {
        "platform": devices[0].platform,  # cpu, gpu, tpu
        "device_kind": devices[0].device_kind,  # e.g. 'cpu', 'NVIDIA H200'
        "device_count": len(devices),
        "process_count": jax.process_count(),
        "host": platform.node(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "matmul_precision": str(jax.config.jax_default_matmul_precision or "default"),
        # oneDNN's version where conv2d's 'onednn' (or 'auto' choosing it) loaded it, else None
        "onednn": onednn_library.loaded_version(),
    }


def collect() -> dict[str, Any]:
    """code(), versions() and machine() in one record."""
    return {**dict(code()), "versions": versions(), **machine()}


def short_commit(record: dict[str, Any] | None, missing: str = "?") -> str:
    """A record's commit as '3f2a1bc', '3f2a1bc+dirty' (uncommitted changes), or `missing`."""
    commit = (record or {}).get("git_commit")
    if not commit:
        return missing
    return commit[:7] + ("+dirty" if record.get("git_dirty") else "")


def training_setup(record: dict[str, Any]) -> str:
    """The part of a provenance record that a fair comparison holds fixed, as one label:
    device kind, device count and library versions, e.g. 'cpu x1, jax 0.10.2, jaxlib 0.10.2,
    ...'. Records of older runs without provenance give '?'."""
    if not record:
        return "?"
    libs = ", ".join(f"{k} {v}" for k, v in record["versions"].items() if v is not None)
    return (
        f"{record['device_kind']} x{record['device_count']}, {libs}, matmul precision "
        f"{record['matmul_precision']}"
    )
