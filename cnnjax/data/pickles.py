"""A restricted unpickler for the CIFAR python releases.

Those files are pickles (protocol 2, written by Python 2) of dicts holding
bytes, ints, lists and one numpy uint8 array. Unpickling an untrusted file can
run arbitrary code through the globals it names, so only the globals a numpy
array needs are admitted; any other global raises DataError before it is
looked up, so nothing it names is ever called.
"""

import io
import pickle

import numpy as np

from cnnjax.data.errors import DataError

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

# (module, name) -> object: everything a pickled numpy array refers to, under
# the module paths of numpy 1 (in the real files) and numpy 2.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles Python-2 strings as bytes and admits only ALLOWED_GLOBALS."""

    def __init__(self, file, where: str):
        super().__init__(file, encoding="bytes")
        self._where = where

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            allowed = ", ".join(f"{m}.{n}" for m, n in ALLOWED_GLOBALS)
            raise DataError(
                f"{self._where}: refusing to unpickle global {module}.{name}; "
                f"expected only numpy array globals ({allowed})"
            )
        return ALLOWED_GLOBALS[(module, name)]


def load_restricted(data: bytes, where: str):
    """Unpickles `data` (read from `where`, named in errors) with the restricted unpickler."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), where).load()
    except DataError:
        raise
    except Exception as e:  # A malformed pickle can fail in many ways; all mean bad data.
        raise DataError(f"{where}: not a readable pickle: {type(e).__name__}: {e}") from e
