"""Process-wide JAX settings chosen for speed: default XLA flags and the compilation cache.

Importing cnnjax sets neither. `configure()` sets the XLA flag defaults: the runners in
experiments/ call it as their package is imported, before any of their modules imports JAX, and a
library user who wants the same speed-up calls it before the first JAX computation, since XLA
reads `XLA_FLAGS` once, when the first backend initialises (importing jax does not initialise a
backend; creating an array does). It appends each flag of `DEFAULT_XLA_FLAGS` whose name
`XLA_FLAGS` does not already mention, so a flag the user set always wins, and only when the
installed jaxlib knows the flag (an unknown flag makes XLA abort the process).
`CNNJAX_XLA_DEFAULTS=0` turns the defaults off.

Why the default: `-individual_convolution` removes the 'individual_convolution' type from the
fusions XLA's CPU backend hands to YNNPACK, so a lone convolution is not run as its own YNNPACK
call; the benchmark (`python -m experiments.benchmark`) measures what that gains. The flag only
affects the CPU backend.

`enable_compilation_cache` turns on JAX's persistent compilation cache (the training loop,
`cnnjax.train.run`, does so from `config.compile_cache_dir`), so a second run of the same program
loads its compiled executables from disk instead of compiling them again.
"""

from __future__ import annotations

import importlib.util
import mmap
import os
import pathlib

# name -> value; each is appended to XLA_FLAGS unless the user's XLA_FLAGS names the flag.
DEFAULT_XLA_FLAGS = {
    "xla_cpu_experimental_ynn_fusion_type": "-individual_convolution",
}

DEFAULTS_ENV = "CNNJAX_XLA_DEFAULTS"  # '0' disables DEFAULT_XLA_FLAGS
CACHE_ENV = "CNNJAX_COMPILE_CACHE"  # compilation cache folder; '' or 'off' disables it
JAX_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"  # JAX's own setting, used when CACHE_ENV is unset
DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "cnnjax", "jax_compilation_cache")

_applied: dict[str, str] = {}  # the defaults configure() appended to XLA_FLAGS


def _jaxlib_knows(flag: str) -> bool:
    """Whether the installed jaxlib's XLA defines `flag` (searched in its shared library,
    without importing jaxlib)."""
    spec = importlib.util.find_spec("jaxlib")
    if spec is None or not spec.submodule_search_locations:
        return False
    needle = flag.encode()
    for folder in spec.submodule_search_locations:
        for lib in sorted(pathlib.Path(folder).glob("libjax_common*.so*")) + sorted(
            pathlib.Path(folder).glob("_jax*.so")
        ):
            with open(lib, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                if m.find(needle) >= 0:
                    return True
    return False


def set_default_xla_flags(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Appends the flags of DEFAULT_XLA_FLAGS that `environ['XLA_FLAGS']` does not mention.

    Returns the flags appended (name -> value). Does nothing when CNNJAX_XLA_DEFAULTS=0. Has an
    effect only before JAX initialises its first backend.
    """
    env = os.environ if environ is None else environ
    if env.get(DEFAULTS_ENV, "1") == "0":
        return {}
    current = env.get("XLA_FLAGS", "")
    added = {
        name: value
        for name, value in DEFAULT_XLA_FLAGS.items()
        if f"--{name}" not in current and _jaxlib_knows(name)
    }
    if added:
        extra = " ".join(f"--{name}={value}" for name, value in added.items())
        env["XLA_FLAGS"] = f"{current} {extra}".strip()
    if environ is None:
        _applied.update(added)
    return added


def configure() -> dict[str, str]:
    """Sets cnnjax's process-wide defaults for speed: DEFAULT_XLA_FLAGS in $XLA_FLAGS.

    Call it before the first JAX computation (it has no effect after JAX initialised a backend).
    A flag that $XLA_FLAGS already names is kept as the user set it, and a flag the installed
    jaxlib does not know is never set. Returns the flags appended (name -> value); calling it
    again appends nothing.
    """
    return set_default_xla_flags()


def applied_xla_flags() -> dict[str, str]:
    """The default flags `configure()` appended to XLA_FLAGS in this process."""
    return dict(_applied)


def compilation_cache_dir(configured: str | None = None) -> str | None:
    """The cache folder: `configured`, else $CNNJAX_COMPILE_CACHE, else JAX's own
    $JAX_COMPILATION_CACHE_DIR (when not empty), else DEFAULT_CACHE_DIR; None when the chosen
    value is '' or 'off'."""
    value = configured if configured is not None else os.environ.get(CACHE_ENV)
    if value is None:
        value = os.environ.get(JAX_CACHE_ENV) or DEFAULT_CACHE_DIR
    if value in ("", "off"):
        return None
    return os.path.abspath(os.path.expanduser(value))


def enable_compilation_cache(cache_dir: str | None = None) -> str | None:
    """Turns on JAX's persistent compilation cache in `compilation_cache_dir(cache_dir)`.

    Every executable is cached, however quick its compile (JAX's default skips those under a
    second, which are most CPU programs). Returns the folder, or None if disabled.
    """
    import jax

    folder = compilation_cache_dir(cache_dir)
    if folder is None:
        return None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:  # a file there, or no permission: name the folder in one line
        raise ValueError(
            f"compilation cache folder {folder}: {e.strerror}; set compile_cache_dir to a "
            "folder, or to 'off'"
        ) from None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
