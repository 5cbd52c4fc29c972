"""Where a dataset's files may be: the search roots, the folders a spec names, and the layouts inside a folder.

Search roots without --data-dir: $DIGITLAB_DATA, the user cache dir (where `data fetch` installs and downloads),
then /usr/share/datasets/<debian_dir>/ (Debian's dataset packages, a folder of that one dataset). Under the first
two, a dataset is looked for only in its own folders (spec.folders: `mnist/`, `MNIST/raw/`, `MNIST_Data/`, ...),
never at the top, so the files of one dataset are never taken for another's. With --data-dir DIR the person names
the folder: DIR itself is searched as well as the spec's folders under it.

Inside each folder these shapes are recognised (both `-idx3-ubyte` and `.idx3-ubyte` spellings, gzip or raw):
    F/<the four files>        a plain folder
    F/raw/<the four files>    torchvision's layout (F/MNIST/raw is one of mnist's folders)
    F/train/ + F/test/        MindSpore's tutorial layout (train-* in train/, t10k-* in test/)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from digitlab import paths
from digitlab.data.catalog import ROLES, STEMS, DatasetSpec

EXPECTED = f"{', '.join(STEMS.values())} (.gz or raw), in DIR, DIR/raw or DIR/train + DIR/test"


@dataclass(frozen=True)
class Root:
    """A place to look: `kind` says how it was chosen; `top` whether files right in it count (else only folders)."""

    kind: str  # data-dir | env | cache | debian
    path: Path
    top: bool


def candidates(role: str) -> list[str]:
    """The file names a role may have, in order of preference."""
    stem = STEMS[role]
    dotted = stem.replace("-idx", ".idx")  # train-images.idx3-ubyte, as some unzippers write it
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


def find_in(folder: Path, roles: tuple[str, ...]) -> dict[str, Path]:
    """role -> the first existing candidate file in folder, for the roles present."""
    found = {}
    for role in roles:
        for name in candidates(role):
            path = folder / name
            if path.exists() and not path.is_dir():  # a pipe or a device too: its reader then says what it is
                found[role] = path
                break
    return found


def _shapes(folder: Path) -> Iterator[dict[str, Path]]:
    yield find_in(folder, ROLES)
    yield find_in(folder / "raw", ROLES)
    yield find_in(folder / "train", ROLES[:2]) | find_in(folder / "test", ROLES[2:])


def layouts(root: Path, spec: DatasetSpec, top: bool = True) -> Iterator[dict[str, Path]]:
    """Every place under root where the spec's files may be, as role -> path (possibly incomplete)."""
    folders = ([root] if top else []) + [root / sub for sub in spec.folders]
    for folder in folders:
        yield from _shapes(folder)


def find_files(root: Path, spec: DatasetSpec, top: bool = True) -> tuple[dict[str, Path] | None, str]:
    """The four files under root in any known layout: (files, "") or (None, what was missing)."""
    best: dict[str, Path] = {}
    for found in layouts(root, spec, top):
        if len(found) == 4:
            return found, ""
        if len(found) > len(best):
            best = found
    if best:
        missing = ", ".join(STEMS[r] for r in ROLES if r not in best)
        return None, f"{root}: found {len(best)} of the 4 files; missing {missing}"
    where = "" if top else f" (looked in {', '.join(spec.folders) or 'no folders'} under it)"
    return None, f"{root}: no {spec.name} IDX files{where}"


def search_roots(spec: DatasetSpec) -> list[Root]:
    """Where to look when no --data-dir is given, in order."""
    roots: list[Root] = []
    if os.environ.get("DIGITLAB_DATA"):
        roots.append(Root("env", paths.data_home(), top=False))
    roots.append(Root("cache", paths.cache_dir(), top=False))
    if spec.debian_dir:
        roots.append(Root("debian", Path("/usr/share/datasets") / spec.debian_dir, top=True))
    return roots


def install_dir(spec: DatasetSpec) -> Path:
    """The folder `data fetch` installs into and downloads into: <data home>/<name>/ (one of the spec's folders)."""
    return paths.data_home() / spec.name
