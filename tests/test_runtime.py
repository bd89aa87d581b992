"""Default XLA flags only through runtime.configure(), never overriding the user's; the
compilation cache folder resolution."""

import os
import subprocess
import sys

import pytest

from cnnjax import runtime

FLAG = "xla_cpu_experimental_ynn_fusion_type"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _xla_flags_after(code: str, **env: str) -> str:
    """The XLA_FLAGS a fresh `python -c code` ends with, started without XLA_FLAGS (plus env)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", runtime.DEFAULTS_ENV)}
    result = subprocess.run(
        [sys.executable, "-c", f"{code}; import os; print(os.environ.get('XLA_FLAGS'))"],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.strip()


def test_defaults_are_appended_after_the_users_flags():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    added = runtime.set_default_xla_flags(env)
    assert added == {FLAG: "-individual_convolution"}
    assert env["XLA_FLAGS"] == (
        "--xla_force_host_platform_device_count=2 --" + FLAG + "=-individual_convolution"
    )


def test_a_flag_the_user_set_wins():
    env = {"XLA_FLAGS": f"--{FLAG}=-individual_dot"}
    assert runtime.set_default_xla_flags(env) == {}
    assert env["XLA_FLAGS"] == f"--{FLAG}=-individual_dot"


def test_defaults_can_be_turned_off():
    env = {runtime.DEFAULTS_ENV: "0"}
    assert runtime.set_default_xla_flags(env) == {} and "XLA_FLAGS" not in env


def test_a_flag_unknown_to_the_installed_jaxlib_is_never_set(monkeypatch):
    # XLA aborts the process on an unknown flag, so the defaults are checked against jaxlib.
    monkeypatch.setitem(runtime.DEFAULT_XLA_FLAGS, "xla_cpu_no_such_flag_anywhere", "1")
    env = {}
    added = runtime.set_default_xla_flags(env)
    assert "xla_cpu_no_such_flag_anywhere" not in added and FLAG in added
    assert "no_such_flag" not in env["XLA_FLAGS"]


def test_importing_cnnjax_sets_no_xla_flags():
    assert _xla_flags_after("import cnnjax, cnnjax.train, cnnjax.models") == "None"


def test_configure_sets_the_default_and_keeps_the_users_value():
    assert _xla_flags_after("import cnnjax; cnnjax.runtime.configure()") == (
        f"--{FLAG}=-individual_convolution"
    )
    users = f"--{FLAG}=-individual_dot"
    assert _xla_flags_after("import cnnjax; cnnjax.runtime.configure()", XLA_FLAGS=users) == users


def test_the_runners_package_configures_before_any_runner_module():
    assert _xla_flags_after("import experiments") == f"--{FLAG}=-individual_convolution"
    assert _xla_flags_after("import experiments", **{runtime.DEFAULTS_ENV: "0"}) == "None"


def test_compilation_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(runtime.CACHE_ENV, raising=False)
    monkeypatch.delenv(runtime.JAX_CACHE_ENV, raising=False)
    assert runtime.compilation_cache_dir() == os.path.expanduser(runtime.DEFAULT_CACHE_DIR)
    monkeypatch.setenv(runtime.CACHE_ENV, str(tmp_path / "env"))
    assert runtime.compilation_cache_dir() == str(tmp_path / "env")
    assert runtime.compilation_cache_dir(str(tmp_path / "cfg")) == str(tmp_path / "cfg")
    assert runtime.compilation_cache_dir("off") is None
    monkeypatch.setenv(runtime.CACHE_ENV, "off")
    assert runtime.compilation_cache_dir() is None


@pytest.mark.parametrize("ours", [None, "", "off"])
def test_compilation_cache_dir_honours_jaxs_variable(monkeypatch, tmp_path, ours):
    """$JAX_COMPILATION_CACHE_DIR replaces the default folder, not the config field or
    $CNNJAX_COMPILE_CACHE (where '' and 'off' still disable the cache)."""
    monkeypatch.setenv(runtime.JAX_CACHE_ENV, str(tmp_path / "jax"))
    if ours is None:
        monkeypatch.delenv(runtime.CACHE_ENV, raising=False)
        assert runtime.compilation_cache_dir() == str(tmp_path / "jax")
    else:
        monkeypatch.setenv(runtime.CACHE_ENV, ours)
        assert runtime.compilation_cache_dir() is None
    assert runtime.compilation_cache_dir(str(tmp_path / "cfg")) == str(tmp_path / "cfg")
    monkeypatch.setenv(runtime.JAX_CACHE_ENV, "")  # JAX's meaning: unset
    monkeypatch.delenv(runtime.CACHE_ENV, raising=False)
    assert runtime.compilation_cache_dir() == os.path.expanduser(runtime.DEFAULT_CACHE_DIR)
