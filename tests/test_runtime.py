"""Default XLA flags never override the user's; the compilation cache folder resolution."""

import os

from cnnjax import runtime

FLAG = "xla_cpu_experimental_ynn_fusion_type"


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


def test_import_applied_the_defaults_in_this_process():
    if os.environ.get(runtime.DEFAULTS_ENV) != "0":
        assert f"--{FLAG}=" in os.environ.get("XLA_FLAGS", "")


def test_compilation_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(runtime.CACHE_ENV, raising=False)
    assert runtime.compilation_cache_dir() == os.path.expanduser(runtime.DEFAULT_CACHE_DIR)
    monkeypatch.setenv(runtime.CACHE_ENV, str(tmp_path / "env"))
    assert runtime.compilation_cache_dir() == str(tmp_path / "env")
    assert runtime.compilation_cache_dir(str(tmp_path / "cfg")) == str(tmp_path / "cfg")
    assert runtime.compilation_cache_dir("off") is None
    monkeypatch.setenv(runtime.CACHE_ENV, "off")
    assert runtime.compilation_cache_dir() is None
