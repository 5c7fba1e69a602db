"""Loading an index safely, and ``tandem index info --verify``.

Every failure to load a retriever becomes one :class:`~tandem.index.errors.IndexFormatError` naming the
file (or the manifest, for a missing setting): :func:`load_errors` wraps the backends' ``open`` and
the query encoders' loading, where numpy, FAISS, SQLite and transformers raise their own errors.
:func:`verify_index` re-checks every file's sha256 and runs every check a search would run on
open, plus those that read all of the data, without loading a model or starting the JVM.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tandem.index.commits import open_commit
from tandem.index.errors import IndexFormatError, TandemError
from tandem.index.manifest import FILENAME, ComponentInfo, Manifest, verify_checksums
from tandem.index.segments import IndexSnapshot

from .backends import backend

LOAD_ERRORS = (LookupError, TypeError, ValueError, OSError, RuntimeError)


def component_location(root: Path, manifest: Manifest, component: ComponentInfo) -> Path:
    """Where a component's files are: its shared folder, else its folder in the only segment, else the index."""
    root = Path(root)
    if component.shared_dir:
        return root / component.shared_dir
    if len(manifest.segments) == 1:
        return root / "segments" / manifest.segments[0].name / component.name
    return root


@contextmanager
def load_errors(root: Path, manifest: Manifest, component: ComponentInfo, action: str = "load") -> Iterator[None]:
    """Turn what loading ``component`` raises (a missing setting, an unreadable file) into one IndexFormatError."""
    try:
        yield
    except TandemError:
        raise
    except KeyError as exc:
        missing = exc.args[0] if exc.args else "?"
        raise IndexFormatError(f"component {component.name!r} ({component.backend}) has no setting {missing!r}", str(Path(root) / FILENAME)) from None
    except LOAD_ERRORS as exc:
        where = getattr(exc, "filename", None) or component_location(root, manifest, component)
        detail = (getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
        raise IndexFormatError(f"cannot {action} the {component.name!r} retriever: {detail}", str(where)) from None


def verify_index(root: Path) -> tuple[Manifest, list[str]]:
    """(the commit checked, its problems): each file's sha256 against the manifest, then every open-time
    check and the thorough ones (e.g. decoding all postings) of each component; empty list = intact."""
    root = Path(root)
    manifest, lease = open_commit(root)
    try:
        problems = verify_checksums(root, manifest)
        try:
            snapshot = IndexSnapshot(root, manifest)  # sizes, document stores (count, index id), deletion bitmaps
        except TandemError as exc:
            return manifest, problems + [str(exc)]
        for component in manifest.components:
            try:
                with load_errors(root, manifest, component, "check"):
                    engine = backend(component.backend)
                    engine.check_settings(component, str(root / FILENAME))
                    engine.check(snapshot, component, thorough=True)
            except TandemError as exc:
                problems.append(str(exc))
        return manifest, problems
    finally:
        lease.release()
