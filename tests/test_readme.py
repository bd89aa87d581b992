"""The README's code runs as printed: its library quickstart, and the files its map names."""

import glob
import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def test_the_library_quickstart_runs_and_trains_a_step():
    [code, *_] = re.findall(r"```python\n(.*?)```", _section("Library quickstart"), re.S)
    scope = {}
    exec(compile(code, "README.md: Library quickstart", "exec"), scope)
    assert int(scope["state"].step) == 1 and np.isfinite(float(scope["metrics"]["loss_sum"]))
    assert "C1" in scope["feats"]["intermediates"]


def test_every_path_the_map_names_exists():
    block = re.search(r"```\n(.*?)```", _section("What cnnjax is"), re.S).group(1)
    tables = _section("What cnnjax is")
    paths = re.findall(r"^(\S+\.py|\S+/)\s", block, re.M)
    paths += re.findall(r"`((?:cnnjax|experiments|tests)/[\w/.<>]+)`", tables)
    assert len(paths) > 20
    for path in paths:
        if "<" not in path:
            assert glob.glob(os.path.join(ROOT, path)), path
