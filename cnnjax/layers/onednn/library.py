"""The oneDNN convolution library (`dnnl_conv.cc`): built with the system's C++ compiler against
oneDNN 2.x and the installed jaxlib's XLA FFI headers, kept in a cache folder, loaded with ctypes
and registered with XLA's CPU backend.

    python -m cnnjax.layers.onednn build    # `make install` runs it when oneDNN is installed
    python -m cnnjax.layers.onednn info     # where the library is, oneDNN's version, threads

Needs oneDNN 2.x's headers and library (Debian/Ubuntu: `apt-get install libdnnl-dev`) and g++
(or $CXX). The build goes to `library_path()`: $CNNJAX_CACHE_DIR (else $XDG_CACHE_HOME/cnnjax,
else ~/.cache/cnnjax) / onednn / <key> / libdnnl_conv.so, where <key> hashes the source, the
compiler command and jaxlib's version, so a new jaxlib (whose FFI headers may differ) gets its
own build and an old build is never loaded into it.

$CNNJAX_ONEDNN=off (or 0) makes the library unavailable: conv2d's 'auto' then never uses it and
impl='onednn' refuses. $CNNJAX_ONEDNN=explicit keeps it for impl='onednn' only ('auto' stays
pure JAX; the test suite runs so, apart from the tests of 'auto''s timing).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("dnnl_conv.cc")
LIBRARY_NAME = "libdnnl_conv.so"
ENV = "CNNJAX_ONEDNN"  # 'off' or '0': never load the library; 'explicit': impl='onednn' only
CXX_FLAGS = ("-O3", "-shared", "-fPIC", "-std=c++17", "-fopenmp", "-w")
TARGETS = {  # XLA FFI target name -> the handler's symbol in dnnl_conv.cc
    "cnnjax_dnnl_conv_forward": "DnnlConvForward",
    "cnnjax_dnnl_conv_backward_data": "DnnlConvBackwardData",
    "cnnjax_dnnl_conv_backward_weights": "DnnlConvBackwardWeights",
}


class OneDNNUnavailable(RuntimeError):
    """The oneDNN convolution library cannot be built or loaded (or $CNNJAX_ONEDNN=off)."""


def disabled() -> bool:
    """Whether $CNNJAX_ONEDNN turns the library off ('off', '0', 'false', 'no')."""
    return os.environ.get(ENV, "").strip().lower() in ("off", "0", "false", "no")


def cache_root() -> Path:
    """$CNNJAX_CACHE_DIR, else $XDG_CACHE_HOME/cnnjax, else ~/.cache/cnnjax."""
    base = os.environ.get("CNNJAX_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cnnjax"
    )
    return Path(base)


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CXX") or "g++")


def _include_dir() -> str:
    import jax

    return jax.ffi.include_dir()


def _command(output: Path) -> list[str]:
    """The compile command: SOURCE -> output, against jaxlib's FFI headers and -ldnnl."""
    return [
        *_compiler(),
        *CXX_FLAGS,
        "-isystem",
        _include_dir(),
        os.fspath(SOURCE),
        "-o",
        os.fspath(output),
        "-ldnnl",
    ]


def build_key() -> str:
    """16 hex digits of sha256(source, compiler command, jaxlib version)."""
    return _build_key(os.environ.get("CXX") or "g++")


@functools.cache
def _build_key(compiler: str) -> str:
    """build_key() for $CXX = compiler; computed once per compiler (conv2d asks on every trace
    whether the library is available, and the source and jaxlib do not change in a process)."""
    import jaxlib

    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(" ".join(_command(Path(LIBRARY_NAME))).encode())
    h.update(jaxlib.__version__.encode())
    return h.hexdigest()[:16]


def library_path() -> Path:
    """Where the library of this source, compiler and jaxlib is built: see the module doc."""
    return cache_root() / "onednn" / build_key() / LIBRARY_NAME


def build(force: bool = False) -> Path:
    """Compiles SOURCE to `library_path()` (unless it is there and not `force`); returns it.

    The compiler writes to a temporary file in the same folder, renamed into place when it
    succeeds, so concurrent builds and a killed build never leave a partial library.

    Raises:
      OneDNNUnavailable: the cache folder is not writable, no compiler, or the compile or link
        failed (oneDNN 2.x's headers or library missing: the message holds the compiler's last
        lines).
    """
    path = library_path()
    if path.exists() and not force:
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
    except OSError as e:
        raise OneDNNUnavailable(
            f"cannot write the oneDNN library to {path.parent} ({e}); set $CNNJAX_CACHE_DIR"
        ) from e
    os.close(fd)
    command = _command(Path(tmp))
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError as e:
        os.unlink(tmp)
        raise OneDNNUnavailable(
            f"no C++ compiler {command[0]!r} to build the oneDNN convolutions ({e}); install "
            "g++ or set $CXX"
        ) from e
    if result.returncode != 0:
        os.unlink(tmp)
        tail = "\n".join(result.stderr.strip().splitlines()[-8:])
        raise OneDNNUnavailable(
            f"building {SOURCE.name} failed (needs oneDNN 2.x: apt-get install libdnnl-dev):\n"
            f"$ {shlex.join(command)}\n{tail}"
        )
    os.replace(tmp, path)
    return path


PASSES = ("forward", "backward_data", "backward_weights")


def call_stats() -> dict[str, dict[str, float]]:
    """Per pass (PASSES), the oneDNN calls this process has made and the seconds spent in
    them: {'forward': {'calls': n, 'seconds': s}, ...}."""
    lib = load()
    stats = (ctypes.c_int64 * 2)()
    out = {}
    for i, name in enumerate(PASSES):
        lib.DnnlConvCallStats(i, stats)
        out[name] = {"calls": int(stats[0]), "seconds": stats[1] / 1e9}
    return out


def xla_cpu_threads() -> int:
    """The threads XLA's CPU backend computes with: one per core this process may run on."""
    return len(os.sched_getaffinity(0))


_loaded: ctypes.CDLL | None = None  # the library this process loaded


@functools.cache
def _load_built(path: str) -> ctypes.CDLL:
    global _loaded
    import jax

    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise OneDNNUnavailable(f"cannot load {path}: {e}") from e
    for target, symbol in TARGETS.items():
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)), "cpu")
    lib.DnnlConvSetNumThreads.argtypes = [ctypes.c_int]
    lib.DnnlConvSetNumThreads(xla_cpu_threads())
    _loaded = lib
    return lib


def load(build_if_missing: bool = False) -> ctypes.CDLL:
    """The loaded library, its handlers registered as TARGETS for XLA's CPU backend and its
    OpenMP team size set to `xla_cpu_threads()`; built first when missing and
    `build_if_missing` (about 10 s).

    Raises:
      OneDNNUnavailable: $CNNJAX_ONEDNN=off, not built (and not `build_if_missing`), or the
        build or load failed.
    """
    if disabled():
        raise OneDNNUnavailable(f"oneDNN is turned off (${ENV}={os.environ[ENV]})")
    path = library_path()
    if not path.exists():
        if not build_if_missing:
            raise OneDNNUnavailable(
                f"the oneDNN convolutions are not built ({path}); build them with "
                "`python -m cnnjax.layers.onednn build` (needs g++ and libdnnl-dev)"
            )
        build()
    return _load_built(os.fspath(path))


def available() -> bool:
    """Whether `load()` succeeds: built, loadable, not turned off."""
    try:
        load()
    except OneDNNUnavailable:
        return False
    return True


def used_by_auto() -> bool:
    """Whether conv2d's 'auto' may choose oneDNN: `available()` and $CNNJAX_ONEDNN is not
    'explicit'."""
    return os.environ.get(ENV, "").strip().lower() != "explicit" and available()


class _DnnlVersion(ctypes.Structure):
    _fields_ = [
        ("major", ctypes.c_int),
        ("minor", ctypes.c_int),
        ("patch", ctypes.c_int),
        ("hash", ctypes.c_char_p),
        ("cpu_runtime", ctypes.c_uint),
        ("gpu_runtime", ctypes.c_uint),
    ]


def _version_of(lib: ctypes.CDLL) -> str:
    version_fn = lib.dnnl_version
    version_fn.restype = ctypes.POINTER(_DnnlVersion)
    v = version_fn().contents
    return f"{v.major}.{v.minor}.{v.patch}"


def dnnl_version() -> str:
    """oneDNN's version as 'major.minor.patch', from the loaded libdnnl."""
    return _version_of(load())


def loaded_version() -> str | None:
    """oneDNN's version where this process has loaded the library (a run that may have used
    its convolutions), else None; loads nothing."""
    return None if _loaded is None else _version_of(_loaded)
