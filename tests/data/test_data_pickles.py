"""The restricted unpickler admits numpy arrays and nothing that could run code."""

import builtins
import os
import pickle
import subprocess

import numpy as np
import pytest

from cnnjax.data import DataError, cifar, pickles


class _Exploit:
    """Unpickling this calls `function(*args)`, were its global admitted."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _touch_exploits(marker):
    return [
        _Exploit(os.system, f"touch {marker}"),
        _Exploit(builtins.eval, f"open({str(marker)!r}, 'w')"),
        _Exploit(subprocess.Popen, ["touch", str(marker)]),
    ]


def test_exploit_works_without_restriction(tmp_path, datafiles):
    """Control: plain pickle.load would run the exploit the tests below feed in."""
    marker = tmp_path / "pwned"
    pickle.loads(datafiles.py2_pickle(_Exploit(os.system, f"touch {marker}")), encoding="bytes")
    assert marker.exists()


# Written as Python 2 did (protocol 2), globals carry Python 2 module names
# (pickle's compatibility mapping): builtins -> __builtin__, subprocess -> commands.
@pytest.mark.parametrize(
    "index, rejected", [(0, "posix.system"), (1, "__builtin__.eval"), (2, "commands.Popen")]
)
def test_rejects_code_running_globals(tmp_path, datafiles, index, rejected):
    marker = tmp_path / "pwned"
    data = datafiles.py2_pickle({b"data": _touch_exploits(marker)[index]})
    with pytest.raises(
        DataError,
        match=f"some/file: refusing to unpickle global {rejected}; "
        "expected only numpy array globals",
    ):
        pickles.load_restricted(data, "some/file")
    assert not marker.exists()


def test_rejects_python3_global_names(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps({"data": _touch_exploits(marker)[1]}, protocol=4)
    with pytest.raises(DataError, match="refusing to unpickle global builtins.eval"):
        pickles.load_restricted(data, "f")
    assert not marker.exists()


@pytest.mark.parametrize("archive", [True, False], ids=["archive", "folder"])
def test_malicious_batch_in_release(tmp_path, datafiles, archive):
    marker = tmp_path / "pwned"
    release = cifar.CIFAR10_RELEASES[1]
    files, _, _ = datafiles.release_files(release)
    files["data_batch_2"] = datafiles.py2_pickle({b"data": _Exploit(os.system, f"touch {marker}")})
    path = datafiles.write_release(tmp_path / "root", release, files, archive)
    with pytest.raises(DataError, match="data_batch_2: refusing to unpickle global posix.system"):
        cifar.load_cifar10(path, exact_counts=False)
    assert not marker.exists()


def test_python3_protocol2_bytes_are_rejected():
    """Python 3 writes bytes at protocol 2 via _codecs.encode, which is not admitted."""
    with pytest.raises(DataError, match="refusing to unpickle global _codecs.encode"):
        pickles.load_restricted(pickle.dumps({b"data": b"x"}, protocol=2), "f")


@pytest.mark.parametrize("protocol", [3, 4])
def test_admits_numpy_arrays(protocol):
    """Arrays pickled by the running numpy (numpy._core path) also load."""
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    loaded = pickles.load_restricted(pickle.dumps({b"data": array}, protocol=protocol), "f")
    np.testing.assert_array_equal(loaded[b"data"], array)


def test_admits_python2_layout(datafiles):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    data = datafiles.py2_pickle({b"data": array, b"labels": [1, 2, 3], b"batch_label": b"b"})
    assert b"numpy.core.multiarray\n_reconstruct" in data and b"_codecs" not in data
    loaded = pickles.load_restricted(data, "f")
    np.testing.assert_array_equal(loaded[b"data"], array)
    assert loaded[b"labels"] == [1, 2, 3] and loaded[b"batch_label"] == b"b"


def test_garbage_is_a_data_error():
    with pytest.raises(DataError, match="f: not a readable pickle"):
        pickles.load_restricted(b"\x80\x02}q\x00(", "f")
