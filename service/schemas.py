"""Request and response models of the REST service (they define the OpenAPI schema)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from tandem.index.limits import MAX_QUERY_CHARS

# Retriever and mode names are the index's data: any name here; the served OpenAPI schema lists the
# index's own names (tandem.service.openapi_names), and the server refuses others with 422.
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Mode = Name
FieldName = Literal["title", "text", "snippet"]
Weight = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
# Python's whitespace (str.isspace), spelled as \uXXXX escapes so that the schema's pattern (ECMA-262)
# and the server's check agree exactly on which queries are blank.
_WHITESPACE = "".join(f"\\u{c:04x}" for c in range(0x3001) if chr(c).isspace())
NOT_BLANK = f"[^{_WHITESPACE}]"


def _not_blank(value: str) -> str:
    if value.isspace():
        raise PydanticCustomError("blank_query", "query is empty (only whitespace)")
    return value


QueryText = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS, json_schema_extra={"pattern": NOT_BLANK}), AfterValidator(_not_blank)]
# JSON types are taken as they are: true is not 1, 0 is not false, "3" is not 3.
STRICT = ConfigDict(extra="forbid", strict=True)


class FusionOverride(BaseModel):
    model_config = STRICT

    method: Literal["rrf", "wsum"] | None = None
    normalization: Literal["minmax", "zscore", "none"] | None = None
    weights: dict[str, Weight] | None = Field(
        None, max_length=8,
        description="retriever -> weight (0-1000), e.g. {'sparse': 0.4, 'dense': 0.6}; merged over the index's default weights (missing = 1)")
    depth: int | None = Field(None, ge=1, le=1000, description="candidates per retriever")
    rrf_k: float | None = Field(None, gt=0, le=10_000, allow_inf_nan=False)
    retrievers: list[Name] | None = Field(None, min_length=1, max_length=16, description="retrievers to fuse (default: all the index has)")


class SearchRequest(BaseModel):
    model_config = STRICT

    query: QueryText = Field(..., description=f"at most {MAX_QUERY_CHARS} characters and 128 tokens (the server's --max-query-chars and --max-query-tokens may lower them)")
    k: int = Field(10, ge=1, le=1000)
    mode: Mode | None = Field(None, description="default: hybrid when the index has several retrievers")
    fusion: FusionOverride | None = None
    explain: bool = Field(False, description="add the matched sparse terms (query weight, document weight, contribution; expansion terms marked) to each of the first 100 hits")
    fields: list[FieldName] = Field(default_factory=lambda: ["title", "snippet"], max_length=3, description="document fields to return with each hit")


class BatchSearchRequest(BaseModel):
    model_config = STRICT

    queries: list[QueryText] = Field(..., min_length=1, max_length=64, description="at most 64 queries (the server's --max-batch may lower it); len(queries) x k <= 10,000")
    k: int = Field(10, ge=1, le=1000)
    mode: Mode | None = None
    fusion: FusionOverride | None = None
    fields: list[FieldName] = Field(default_factory=list, max_length=3)


class ComponentOut(BaseModel):
    rank: int | None
    score: float | None
    contribution: float | None = Field(None, description="this retriever's share of the fused score")


class TermOut(BaseModel):
    token: str
    query_weight: float
    doc_weight: float
    contribution: float
    expansion: bool = Field(description="true when the document text never contains the token literally")
    query_words: list[str] = Field(default_factory=list, description="the query words (as typed) this word piece is part of, e.g. 'statins' for '##ins'; empty for a term the model added")


class HitOut(BaseModel):
    doc_id: str
    rank: int
    score: float
    components: dict[str, ComponentOut]
    title: str | None = None
    text: str | None = None
    snippet: str | None = None
    highlights: list[str] = Field(default_factory=list, description="query words found in the title or snippet")
    explain: list[TermOut] | None = Field(None, description="with explain=true: the matched sparse terms, largest contribution first")


class SearchResponse(BaseModel):
    query: str
    mode: str
    k: int
    hits: list[HitOut]
    timings_ms: dict[str, float]


class BatchSearchResponse(BaseModel):
    results: list[SearchResponse]
    timings_ms: dict[str, float]


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    text: str


class DocumentIn(BaseModel):
    """A document as in a BEIR corpus.jsonl line."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    id: str = Field(..., alias="_id", min_length=1, max_length=512, pattern=r"^[^\s]+$", description="document id (no whitespace; at most 512 characters)")
    title: str = Field("", max_length=100_000)
    text: str = Field("", max_length=10_000_000)


class AddDocumentsRequest(BaseModel):
    model_config = STRICT

    documents: list[DocumentIn] = Field(..., min_length=1, max_length=10_000, description="documents to add; an id already in the index is replaced")


class ChangeOut(BaseModel):
    """What a change to the index did; ``generation`` is the commit that now serves."""

    operation: str
    generation: int
    added: int
    replaced: int
    deleted: int
    num_unknown: int
    num_docs: int
    num_segments: int
    seconds: float
    merged_segments: int = 0  # segments the index's merge policy merged after the change (the server merges after adds in the background: 0) ...
    merges_written: int = 0  # ... into this many


class IndexOut(BaseModel):
    num_docs: int
    generation: int
    num_segments: int
    writable: bool
    modes: list[str]
    retrievers: list[str]
    default_mode: str
    default_fusion: dict[str, Any]
    sizes_bytes: dict[str, int]
    encoders: dict[str, Any]
    manifest: dict[str, Any]


class StatusOut(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    field: str | None
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail
