"""Exceptions raised by the data readers."""


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent.

    The message names the file, what was expected and what was found.
    """


class DataNotFoundError(DataError, FileNotFoundError):
    """The data is not where it was looked for.

    The message lists every place looked and how to supply the data.
    """
