"""Reads the files of a data release from its .tar(.gz) archive or extracted folder.

Archives are read in one streaming pass without extracting anything to disk:
only the wanted members are kept in memory.
"""

import dataclasses
import gzip
import pathlib
import tarfile
import zlib

from cnnjax.data.errors import DataError, DataNotFoundError

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Members:
    """Contents of the wanted files found in an archive or folder.

    Attributes:
      source: the archive file or the folder read.
      is_archive: whether source is an archive (names are member paths) or a
        folder (names are file names in it).
      contents: archive member path (e.g. 'cifar-10-batches-bin/test_batch.bin')
        or file name within the folder -> its bytes; wanted files that were
        absent are missing.
    """

    source: pathlib.Path
    is_archive: bool
    contents: dict[str, bytes]

    def where(self, name: str) -> str:
        """Names a member for messages: 'archive:member' or 'folder/file'."""
        return f"{self.source}:{name}" if self.is_archive else str(self.source / name)

    def require(self, name: str, hint: str) -> bytes:
        """Returns the member's bytes; if absent, raises naming it and `hint`."""
        if name not in self.contents:
            kind = "archive" if self.is_archive else "folder"
            raise DataNotFoundError(f"{self.where(name)}: missing from the {kind}; {hint}")
        return self.contents[name]


def read_archive(path, wanted: set[str]) -> Members:
    """Reads the wanted member paths from a .tar or .tar.gz archive in one pass.

    Member names are compared after stripping a leading './'. A gzip'd archive
    is decompressed to its end, so a truncated or corrupt one (bad CRC) is an
    error rather than a silently shorter member list.
    """
    path = pathlib.Path(path)
    contents = {}
    try:
        with open(path, "rb") as file:
            is_gzip = file.read(2) == _GZIP_MAGIC
            file.seek(0)
            stream = gzip.GzipFile(fileobj=file) if is_gzip else file
            with tarfile.open(fileobj=stream, mode="r|", bufsize=_CHUNK) as archive:
                for member in archive:
                    name = member.name.removeprefix("./")
                    if member.isfile() and name in wanted:
                        contents[name] = archive.extractfile(member).read()
            while stream.read(_CHUNK):
                pass
    except FileNotFoundError as e:
        raise DataNotFoundError(f"{path}: no such file") from e
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read as a tar archive (corrupt or truncated?): {e}") from e
    return Members(source=path, is_archive=True, contents=contents)


def read_folder(path, wanted: set[str]) -> Members:
    """Reads the wanted file names that exist in a folder."""
    path = pathlib.Path(path)
    contents = {}
    for name in wanted:
        file = path / name
        if file.is_file():
            try:
                contents[name] = file.read_bytes()
            except OSError as e:
                raise DataError(f"{file}: cannot read: {e}") from e
    return Members(source=path, is_archive=False, contents=contents)
