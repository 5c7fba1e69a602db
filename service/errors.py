"""The JSON error body every error response of the service carries, and its OpenAPI documentation."""
from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse

from . import schemas

ERROR_DESCRIPTIONS = {
    400: "bad request (for example a Host header the server does not accept: see --allowed-hosts)",
    401: "missing or wrong API key (when the server has one)", 403: "the server is read-only (start it with --writable)", 404: "no such document",
    413: "request body too large", 422: "invalid input; error.field names the field",
    503: "still loading, every search thread is busy (saturated), the index on disk is damaged, or the engine holding it (e.g. a Milvus server) is unreachable",
    504: "the request took longer than the server's time budget (--request-timeout)",
}


def error(status: int, field: str | None, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error response: ``{"error": {"field": ..., "message": ...}}``."""
    return JSONResponse({"error": {"field": field, "message": message}}, status_code=status, headers=dict(headers) if headers else None)


def errors(*codes: int) -> dict:
    """OpenAPI entries for error responses: every error body is an ErrorOut."""
    return {code: {"model": schemas.ErrorOut, "description": ERROR_DESCRIPTIONS[code]} for code in codes}
