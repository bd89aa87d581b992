"""Exceptions raised by the data readers, and the message of a non-canonical record count."""


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent.

    The message names the file, what was expected and what was found.
    """


class DataNotFoundError(DataError, FileNotFoundError):
    """The data is not where it was looked for.

    The message lists every place looked and how to supply the data.
    """


def count_error(where: str, expected: int, found: int, release: str) -> DataError:
    """The error for a file of a canonical release (e.g. 'CIFAR-10') holding `found` records
    where the release holds `expected`; it says how to accept such a copy deliberately."""
    return DataError(
        f"{where}: expected {expected} records (the canonical {release} release), found {found}: "
        "the file is truncated or not the official release; set dataset.exact_counts=False to "
        "accept a copy of another size"
    )
