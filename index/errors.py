"""Errors that Tandem reports to users as one line and exit code 2."""
from __future__ import annotations

from typing import Any


class TandemError(Exception):
    """A user-facing error: bad input, a missing file, an unusable index.

    ``where`` names the file (and line) or the parameter at fault.
    """

    exit_code = 2

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class InputError(TandemError):
    """A corpus, query or qrels file that cannot be read as given."""


class BackendUnavailable(TandemError):
    """The engine an index lives in (e.g. a Milvus server at ``where``) could not be reached or failed a
    request: not the caller's input. The service answers 503 and recovers when the engine is back."""


class IndexFormatError(TandemError):
    """A directory that is not a Tandem index, or one of an unsupported format."""


def first_validation_error(exc: Any) -> tuple[str, str]:
    """The first error of a pydantic ``ValidationError``: its dotted location and its message without the
    "Value error, " pydantic puts before a validator's own ``ValueError`` text."""
    first = exc.errors()[0]
    return ".".join(map(str, first["loc"])), str(first["msg"]).removeprefix("Value error, ")
