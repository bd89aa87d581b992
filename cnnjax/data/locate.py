"""Where the files of each dataset are found on disk.

Roots are searched in this order:
  1. the explicit `data_dir` argument; when given, it is the only root, so
     data missing there is an error rather than silently taken from elsewhere;
  2. the CNNJAX_DATA_DIR environment variable;
  3. ~/.cache/cnnjax, ~/data and /usr/share/datasets (where Debian's
     dataset-fashion-mnist package installs fashion-mnist/*.gz).
Within a root, the dataset's folders (e.g. <root>/cifar10, <root>/cifar-10)
are searched, then the root itself. A folder holds the dataset if it has one
of the dataset's markers: IDX sets: train-images-idx3-ubyte[.gz]; CIFAR sets:
the release archive, the folder it extracts to, or being that extracted
folder. Markers whose names do not say which dataset they belong to (the IDX
files, data_batch_1.bin, train.bin...) are trusted directly in a root only
when it is the explicit data_dir: MNIST and Fashion-MNIST share file names.
"""

import dataclasses
import os
import pathlib

from cnnjax.data import cifar, idx
from cnnjax.data.errors import DataNotFoundError

ENV_VAR = "CNNJAX_DATA_DIR"
DEFAULT_ROOTS = ("~/.cache/cnnjax", "~/data", "/usr/share/datasets")


@dataclasses.dataclass(frozen=True)
class Marker:
    """A path whose existence in a searched folder reveals the dataset.

    Attributes:
      name: the path, relative to the searched folder.
      target: what to hand to the reader, relative to the searched folder.
      specific: the name identifies the dataset (e.g. a release archive), so
        it is trusted in any root.
    """

    name: str
    target: str
    specific: bool


@dataclasses.dataclass(frozen=True)
class Spec:
    """How to find one dataset: folder names under a root, markers, and help text."""

    folders: tuple[str, ...]
    markers: tuple[Marker, ...]
    supply: str


def _idx_spec(folders: tuple[str, ...], extra_help: str = "") -> Spec:
    files = ", ".join(f"{folders[0]}/{name}.gz" for name in idx.FILE_NAMES)
    return Spec(
        folders=folders,
        markers=tuple(Marker(idx.FILE_NAMES[0] + ext, ".", False) for ext in (".gz", "")),
        supply=f"{files} (gzip'd or not){extra_help}",
    )


def _cifar_spec(folders: tuple[str, ...], releases: tuple[cifar.Release, ...]) -> Spec:
    markers = tuple(
        marker
        for release in releases
        for marker in (
            Marker(release.folder, release.folder, True),
            Marker(release.archive, release.archive, True),
            Marker(release.train[0], ".", False),
        )
    )
    return Spec(
        folders=folders,
        markers=markers,
        supply=f"{folders[0]}/{releases[0].archive} (or {releases[1].archive}, or either "
        f"extracted), from {cifar.DOWNLOAD_URL}",
    )


SPECS = {
    "mnist": _idx_spec(("mnist", "MNIST")),
    "fashion_mnist": _idx_spec(
        ("fashion_mnist", "fashion-mnist", "fashionmnist"),
        "; on Debian, `apt-get install dataset-fashion-mnist` installs them",
    ),
    "cifar10": _cifar_spec(("cifar10", "cifar-10"), cifar.CIFAR10_RELEASES),
    "cifar100": _cifar_spec(("cifar100", "cifar-100"), cifar.CIFAR100_RELEASES),
}
SPECS["cifar100_coarse"] = SPECS["cifar100"]


def _roots(data_dir: str | os.PathLike | None) -> list[tuple[pathlib.Path, str]]:
    """(root, where the root came from), in search order."""
    if data_dir is not None:
        return [(pathlib.Path(data_dir).expanduser(), "data_dir")]
    roots = []
    if os.environ.get(ENV_VAR):
        roots.append((pathlib.Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"))
    return roots + [(pathlib.Path(root).expanduser(), "default") for root in DEFAULT_ROOTS]


def find(name: str, data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Returns the path to hand to `name`'s reader (a folder or an archive).

    Raises:
      DataNotFoundError: listing every folder searched and how to supply the data.
    """
    spec = SPECS[name]
    searched = []
    for root, origin in _roots(data_dir):
        folders = [(root / folder, True) for folder in spec.folders] + [
            (root, origin == "data_dir")
        ]
        for folder, trust_generic in folders:
            searched.append(f"  {folder} ({origin})")
            for marker in spec.markers:
                if (marker.specific or trust_generic) and (folder / marker.name).exists():
                    return folder / marker.target if marker.target != "." else folder
    markers = " or ".join(marker.name for marker in spec.markers)
    raise DataNotFoundError(
        f"{name}: no data found. Looked for {markers} in:\n"
        + "\n".join(searched)
        + f"\nTo supply it, pass --data_dir=DIR or set {ENV_VAR}=DIR, "
        f"where DIR holds {spec.supply}."
    )
