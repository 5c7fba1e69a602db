"""``tandem.index``, ``tandem.retrieval``, ``tandem.eval`` and ``tandem.service`` in a source checkout.

The source folders sit beside ``tandem/`` at the repository root (``index/``, ``retrieval/``, ...);
the wheel installs them inside the ``tandem`` package through ``package-dir`` in pyproject.toml.
When ``tandem`` is imported from a checkout (the repository root on ``sys.path``, as under pytest,
or ``PYTHONPATH=<checkout>``), the finder below resolves those four names, and only those, to the
folders beside it; their submodules then resolve through the package's ``__path__`` as usual. An
installed wheel has ``tandem/index/`` inside the package, so nothing is installed there. Nothing in
Tandem imports the folders under their bare names (``import index`` would load a second copy of each
module): tests/test_namespace.py checks that every module is loaded once, as ``tandem.*``.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

SUBPACKAGES = ("index", "retrieval", "eval", "service")


class SourceTreeFinder(importlib.abc.MetaPathFinder):
    """Finds ``tandem.<name>`` in ``<checkout>/<name>/`` for the subpackages kept beside ``tandem/``."""

    def __init__(self, folders: dict[str, Path]):
        self.folders = folders

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        folder = self.folders.get(fullname)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py", submodule_search_locations=[str(folder)])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({sorted(self.folders)})"


def install(package_dir: Path) -> SourceTreeFinder | None:
    """Put a :class:`SourceTreeFinder` first on ``sys.meta_path`` if ``package_dir`` is a checkout's ``tandem/``.

    First, so that the folders beside *this* ``tandem/`` win over any other mapping of the same names
    (an editable install of another checkout). Returns the finder, or None for an installed wheel.
    """
    folders = {f"{__package__}.{name}": package_dir.parent / name for name in SUBPACKAGES
               if not (package_dir / name).is_dir() and (package_dir.parent / name / "__init__.py").is_file()}
    if not folders:
        return None
    for finder in sys.meta_path:
        if isinstance(finder, SourceTreeFinder) and finder.folders == folders:
            return finder
    finder = SourceTreeFinder(folders)
    sys.meta_path.insert(0, finder)
    return finder
