"""Checking a ``.npy`` file from its header alone: readable, the expected dtype and shape, all data present.

Opening an index memory-maps its arrays; numpy's own errors for a damaged or truncated file
("mmap length is greater than file size", "pickled (object) data") name no file. This check
reads only the header (O(1)) and refuses such a file in one line that names it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import IndexFormatError


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of a ``.npy`` file whose header is valid and whose data is all there (exactly)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _fortran, dtype = read(handle)
            data_start = handle.tell()
    except FileNotFoundError:
        raise IndexFormatError("file missing", str(path)) from None
    except (ValueError, OSError, SyntaxError) as exc:
        raise IndexFormatError(f"not a readable .npy array ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})", str(path)) from None
    if dtype.hasobject:
        raise IndexFormatError("not a numeric .npy array (object dtype)", str(path))
    expected = data_start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = path.stat().st_size
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise IndexFormatError(f"{what}: {actual:,} bytes, its header ({dtype} {shape}) needs {expected:,}", str(path))
    return tuple(int(n) for n in shape), dtype


def check_npy(path: Path, dtype: str | Sequence[str] | None = None, shape: Sequence[int | None] | None = None) -> tuple[int, ...]:
    """Refuse a ``.npy`` file that is damaged, or whose dtype or shape differs from the expected one.

    ``dtype``: a name or a list of accepted names; ``shape``: one entry per dimension, None = any.
    Returns the shape.
    """
    actual_shape, actual_dtype = npy_header(path)
    accepted = [dtype] if isinstance(dtype, str) else list(dtype or [])
    if accepted and actual_dtype.name not in accepted:
        raise IndexFormatError(f"array has dtype {actual_dtype.name}, expected {' or '.join(accepted)}", str(path))
    if shape is not None and (len(actual_shape) != len(shape) or any(e is not None and e != a for e, a in zip(shape, actual_shape))):
        wanted = "(" + ", ".join("*" if e is None else str(e) for e in shape) + ")"
        raise IndexFormatError(f"array has shape {actual_shape}, expected {wanted}", str(path))
    return actual_shape
